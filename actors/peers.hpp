#pragma once

#include <array>
#include <map>
#include <mutex>
#include <string>

#include <caf/actor_cast.hpp>
#include <caf/fwd.hpp>
#include <caf/intrusive_ptr.hpp>
#include <caf/send.hpp>

#include "actors/proto_inspect.hpp"
#include "proto/control.pb.h"
#include "proto/network.pb.h"

namespace roamd::actors {

/// The agent's actors as each other's peers. The supervisor (the conflict arbiter) restarts a crashed actor under
/// a new handle, so nobody keeps a handle to another actor: they look the current one up here when they send.
/// Also remembers every route set sent to the router, so that a restarted router gets them again. Thread-safe:
/// the data plane's stats sink reads it from its own threads.
class peers {
public:
  enum class role { arbiter, router, enforcer, adapters, upstream_io, cloud, network, count };

  static const char* name(role r) {
    static constexpr std::array<const char*, static_cast<size_t>(role::count)> names{
      "conflict_arbiter", "query_router", "dns_enforcer", "adapter_monitor", "upstream_io", "cloud_registrar",
      "network_state"};
    return names[static_cast<size_t>(r)];
  }

  /// The current handle of `r` as the typed handle `Handle` (null when none).
  template <class Handle>
  Handle get(role r) const {
    std::lock_guard<std::mutex> lock{mu_};
    return caf::actor_cast<Handle>(handles_[static_cast<size_t>(r)]);
  }

  template <class Handle>
  void set(role r, const Handle& h) {
    std::lock_guard<std::mutex> lock{mu_};
    handles_[static_cast<size_t>(r)] = caf::actor_cast<caf::strong_actor_ptr>(h);
  }

  void clear(role r) {
    std::lock_guard<std::mutex> lock{mu_};
    handles_[static_cast<size_t>(r)] = nullptr;
  }

  void clear_all() {
    std::lock_guard<std::mutex> lock{mu_};
    for (auto& h : handles_)
      h = nullptr;
  }

  /// Sends `update` to the current router and remembers it for a replay; the network-state actor hears of it too
  /// (the network's own resolvers, which it probes, may have changed).
  void send_routes(const proto::RouteUpdate& update) {
    caf::strong_actor_ptr router;
    caf::strong_actor_ptr network;
    {
      std::lock_guard<std::mutex> lock{mu_};
      if (update.routes_size() == 0 && update.device_id().empty())  // an empty set withdraws the source's
        routes_.erase(update.source());
      else
        routes_[update.source()] = update;
      router = handles_[static_cast<size_t>(role::router)];
      network = handles_[static_cast<size_t>(role::network)];
    }
    if (router)
      caf::anon_send(caf::actor_cast<caf::actor>(router), update);
    if (network && update.source() != "cloud")
      caf::anon_send(caf::actor_cast<caf::actor>(network), update);
  }

  /// Sends the default route's mode (fail-open, fail-closed, normal) to the current router and remembers it.
  void send_reachability(const proto::CloudReachability& reach) {
    caf::strong_actor_ptr router;
    {
      std::lock_guard<std::mutex> lock{mu_};
      reach_ = reach;
      router = handles_[static_cast<size_t>(role::router)];
    }
    if (router)
      caf::anon_send(caf::actor_cast<caf::actor>(router), reach);
  }

  /// The last mode sent (for a restarted router).
  proto::CloudReachability reachability() const {
    std::lock_guard<std::mutex> lock{mu_};
    return reach_;
  }

  /// Every remembered route set (for a restarted router).
  std::map<std::string, proto::RouteUpdate> routes() const {
    std::lock_guard<std::mutex> lock{mu_};
    return routes_;
  }

private:
  mutable std::mutex mu_;
  std::array<caf::strong_actor_ptr, static_cast<size_t>(role::count)> handles_;
  std::map<std::string, proto::RouteUpdate> routes_;
  proto::CloudReachability reach_;
};

} // namespace roamd::actors
