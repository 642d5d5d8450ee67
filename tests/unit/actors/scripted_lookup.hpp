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
    answer_at(names.size() - 1, like_roamd);
  }

  /// Answers every lookup not answered yet, oldest first.
  void answer_all(bool like_roamd) {
    while (answered < names.size())
      answer_at(answered, like_roamd);
  }

  size_t answered = 0;

  void answer_at(size_t i, bool like_roamd) {
    if (i + 1 > answered)
      answered = i + 1;
    os::lookup_result r;
    auto label = names[i].substr(0, names[i].find('.'));
    auto a = *net::canary_address(label);
    r.ok = true;
    r.addresses.push_back(like_roamd ? std::to_string(a[0]) + "." + std::to_string(a[1]) + "." +
                                         std::to_string(a[2]) + "." + std::to_string(a[3])
                                     : "192.0.2.200");
    done[i](r);
  }
};

} // namespace roamd::test
