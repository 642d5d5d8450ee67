#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/self_check.hpp"

namespace roamd::net {
class dataplane;
}

/// The agent's health toward systemd: the notify protocol (READY=1 once the takeover is decided, STOPPING=1, status
/// lines) and a watchdog fed only while the data plane passes its self-check (net/self_check). A data plane that
/// fails two rounds in a row is wedged: `on_wedged` is called once, and the agent gives the system its DNS back and
/// exits for systemd to restart it. When the whole process hangs, the pings stop and systemd's own watchdog
/// (WatchdogSec=) kills it; the unit's ExecStopPost= then restores.
namespace roamd {

/// sd_notify(3) of `state` ("READY=1\nSTATUS=..."), when NOTIFY_SOCKET is set; a no-op otherwise.
void notify_systemd(const std::string& state);

class data_plane_watch {
public:
  /// Rounds run on `ctx`. Their cadence is 500 ms (a quarter of the systemd watchdog's period when that is
  /// shorter), each bounded by the same time.
  data_plane_watch(boost::asio::io_context& ctx, net::dataplane& dp, boost::asio::ip::udp::endpoint target,
                   std::function<void(const std::string& why)> on_wedged);

  /// Starts the rounds; "" or why the self-check cannot run (roamd then runs without it and says so).
  std::string start();

  /// Whether systemd asked for watchdog pings (WATCHDOG_USEC), and how often the rounds run.
  bool watchdog() const {
    return watchdog_;
  }
  std::chrono::milliseconds interval() const {
    return interval_;
  }

private:
  void round();
  void on_result(const net::self_check_result& r);

  boost::asio::io_context& ctx_;
  net::dataplane& dp_;
  boost::asio::ip::udp::endpoint target_;
  std::function<void(const std::string&)> on_wedged_;
  std::shared_ptr<net::self_check> check_;
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds interval_{500};
  bool watchdog_ = false;
  uint32_t failures_ = 0;
  bool wedged_ = false;
};

} // namespace roamd
