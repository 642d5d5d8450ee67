#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace roamd::os {

/// The outcome of resolving a name the way every program on the machine does.
struct lookup_result {
  bool ok = false;
  std::vector<std::string> addresses;  // textual, in the order getaddrinfo gave them
  std::string error;                   // gai_strerror text, or "timed out after N ms"
};

/// Resolves `name` (IPv4) with getaddrinfo through the system's resolver configuration (nsswitch, resolv.conf) on
/// a thread of its own and calls `done` once, from that thread or, after `timeout`, from a timer thread (a stuck
/// getaddrinfo cannot be cancelled; its late result is dropped).
using system_lookup_fn =
  std::function<void(const std::string& name, std::chrono::milliseconds timeout, std::function<void(lookup_result)> done)>;

/// The real one.
void system_lookup(const std::string& name, std::chrono::milliseconds timeout, std::function<void(lookup_result)> done);

} // namespace roamd::os
