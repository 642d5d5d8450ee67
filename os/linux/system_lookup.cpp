#include "os/system_lookup.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace roamd::os {

namespace {

lookup_result resolve(const std::string& name) {
  lookup_result out;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    out.error = gai_strerror(rc);
    return out;
  }
  for (auto* p = res; p; p = p->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(p->ai_addr);
    if (p->ai_family == AF_INET && inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text))
      out.addresses.emplace_back(text);
  }
  freeaddrinfo(res);
  out.ok = !out.addresses.empty();
  if (!out.ok)
    out.error = "no IPv4 address";
  return out;
}

/// Delivers exactly one of the lookup's result and the timeout.
struct once {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  std::function<void(lookup_result)> callback;

  bool claim() {
    std::lock_guard<std::mutex> lock{mtx};
    if (done)
      return false;
    done = true;
    cv.notify_all();
    return true;
  }
};

} // namespace

void system_lookup(const std::string& name, std::chrono::milliseconds timeout, std::function<void(lookup_result)> done) {
  auto shared = std::make_shared<once>();
  shared->callback = std::move(done);
  std::thread{[shared, name] {
    auto r = resolve(name);
    if (shared->claim())
      shared->callback(std::move(r));
  }}.detach();
  std::thread{[shared, timeout] {
    std::unique_lock<std::mutex> lock{shared->mtx};
    if (shared->cv.wait_for(lock, timeout, [&] { return shared->done; }))
      return;
    lock.unlock();
    if (shared->claim()) {
      lookup_result r;
      r.error = "timed out after " + std::to_string(timeout.count()) + " ms";
      shared->callback(std::move(r));
    }
  }}.detach();
}

} // namespace roamd::os
