#pragma once

#include <string>
#include <type_traits>

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/sec.hpp>
#include <google/protobuf/message.h>

/// Lets every generated protobuf message travel in CAF messages: found by argument-dependent lookup, it serialises
/// a message as its protobuf bytes (a corrupt payload fails with invalid_argument instead of crashing). Include it
/// wherever protobuf types appear in actor interfaces.
namespace roamd::proto {

template <class Inspector, class T>
typename std::enable_if<std::is_base_of<google::protobuf::Message, T>::value,
                        typename Inspector::result_type>::type
inspect(Inspector& f, T& x) {
  std::string bytes;
  if constexpr (Inspector::reads_state)
    x.SerializeToString(&bytes);
  auto load = caf::meta::load_callback([&]() -> caf::error {
    if (!x.ParseFromString(bytes))
      return caf::make_error(caf::sec::invalid_argument);
    return caf::none;
  });
  return f(caf::meta::type_name(T::descriptor()->full_name().c_str()), bytes, load);
}

} // namespace roamd::proto
