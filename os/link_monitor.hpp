#pragma once

#include <functional>
#include <memory>
#include <string>

#include "proto/control.pb.h"

namespace roamd::os {

/// Watches the kernel's links, addresses and routes. After the initial dump, and after every burst of kernel events
/// (all messages read in one go), it hands over the whole picture as one `AdapterSnapshot`; it re-dumps by itself
/// where the kernel loses or omits events (ENOBUFS, routes removed with their link).
class link_monitor {
public:
  using snapshot_fn = std::function<void(proto::AdapterSnapshot)>;

  virtual ~link_monitor() = default;

  /// Starts watching; `on_snapshot` runs on the monitor's own thread. Returns "" or what failed.
  virtual std::string start(snapshot_fn on_snapshot) = 0;

  /// Stops and joins; no callback runs after it returns. Idempotent.
  virtual void stop() = 0;
};

/// The rtnetlink implementation (Boost.Asio on a thread of its own).
std::unique_ptr<link_monitor> make_netlink_link_monitor();

} // namespace roamd::os
