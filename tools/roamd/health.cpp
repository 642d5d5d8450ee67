#include "tools/roamd/health.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "net/endpoint.hpp"

namespace roamd {

namespace {

constexpr uint32_t wedged_after = 2;  // failed rounds in a row

} // namespace

void notify_systemd(const std::string& state) {
  int r = ::sd_notify(0, state.c_str());
  if (r < 0)
    spdlog::warn("roamd: telling systemd \"{}\" failed: {}", state.substr(0, state.find('\n')), std::strerror(-r));
}

data_plane_watch::data_plane_watch(boost::asio::io_context& ctx, net::dataplane& dp, boost::asio::ip::udp::endpoint target,
                                   std::function<void(const std::string&)> on_wedged)
  : ctx_(ctx), dp_(dp), target_(target), on_wedged_(std::move(on_wedged)), timer_(ctx) {
  uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = true;
    interval_ = std::clamp(std::chrono::milliseconds(usec / 4000), std::chrono::milliseconds(100), interval_);
  }
}

std::string data_plane_watch::start() {
  std::string err;
  check_ = net::self_check::make(ctx_, dp_, target_, interval_, err);
  if (!check_)
    return err;
  round();
  return {};
}

void data_plane_watch::round() {
  check_->run([this](net::self_check_result r) { on_result(r); });
}

void data_plane_watch::on_result(const net::self_check_result& r) {
  if (r.ok) {
    if (failures_ > 0)
      spdlog::info("roamd: self-check: the data plane answers again ({})", r.detail);
    failures_ = 0;
    if (watchdog_)
      notify_systemd("WATCHDOG=1");
  } else if (!wedged_) {
    ++failures_;
    spdlog::warn("roamd: self-check failed ({} in a row): {}", failures_, r.detail);
    if (failures_ >= wedged_after) {
      wedged_ = true;  // no more pings: systemd's watchdog is the backstop if giving the settings back hangs too
      on_wedged_(r.detail);
      return;
    }
  }
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec)
      round();
  });
}

} // namespace roamd
