#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

/// The data plane's self-check, for the systemd watchdog and roamd's own give-back when its data plane wedges: one
/// round asks every worker to run a posted task and sends a fresh canary query (<16 hex digits>.canary.roamd.arpa,
/// answered by roamd itself, never forwarded) to a listen address from an ephemeral socket; it passes when every
/// worker ran its task and the answer carries the canary's address, within the timeout.
namespace roamd::net {

class dataplane;

struct self_check_result {
  bool ok = false;
  std::string detail;  // "answered in 0.2 ms", "worker 1 did not run a posted task within 1000 ms", ...
};

class self_check : public std::enable_shared_from_this<self_check> {
public:
  /// Rounds run on `ctx` (its thread calls `done`); `target` is a listen endpoint clients reach (not a wildcard).
  /// The rounds' queries leave one socket bound for the process's life, whose port the data plane is told: it
  /// answers their canary names without counting them or showing them to observers (the query log, dnstap).
  /// Null with `error` set when that socket cannot be opened.
  static std::shared_ptr<self_check> make(boost::asio::io_context& ctx, dataplane& dp, boost::asio::ip::udp::endpoint target,
                                          std::chrono::milliseconds timeout, std::string& error);

  /// Starts one round; `done` is called once, on `ctx`'s thread. One round at a time.
  virtual void run(std::function<void(self_check_result)> done) = 0;

  virtual ~self_check() = default;
};

} // namespace roamd::net
