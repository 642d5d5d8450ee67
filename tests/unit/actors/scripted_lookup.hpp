#pragma once

// A canary lookup the test answers: the enforcer's system_lookup, scripted.

#include <functional>
#include <string>
#include <vector>

#include "net/canary.hpp"
#include "os/system_lookup.hpp"

namespace roamd::test {

/// The canary lookups the enforcer started, answered by the test.
struct scripted_lookup {
  std::vector<std::string> names;
  std::vector<std::function<void(os::lookup_result)>> done;

  os::system_lookup_fn fn() {
    return [this](const std::string& name, std::chrono::milliseconds, std::function<void(os::lookup_result)> cb) {
      names.push_back(name);
      done.push_back(std::move(cb));
    };
  }

  /// Answers the latest lookup as roamd would (the right canary address) or as something else would.
  void answer(bool like_roamd) {
    os::lookup_result r;
    auto label = names.back().substr(0, names.back().find('.'));
    auto a = *net::canary_address(label);
    r.ok = true;
    r.addresses.push_back(like_roamd ? std::to_string(a[0]) + "." + std::to_string(a[1]) + "." +
                                         std::to_string(a[2]) + "." + std::to_string(a[3])
                                     : "192.0.2.200");
    done.back()(r);
  }
};

} // namespace roamd::test
