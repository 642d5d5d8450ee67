// The upstream socket pool of a worker: random source ports, rotated while in use (see source_socket).
#include <cerrno>
#include <cstring>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include "net/worker.hpp"

namespace roamd::net {

namespace {

using udp = boost::asio::ip::udp;

} // namespace

bool worker::open_source(bool v6) {
  boost::system::error_code ec;
  auto s = std::make_unique<source_socket>(source_socket{udp::socket{ctx_}, false, false, 0, 0, {}});
  s->v6 = v6;
  s->sock.open(v6 ? udp::v6() : udp::v4(), ec);
  if (!ec && v6)
    s->sock.set_option(boost::asio::ip::v6_only{true}, ec);
  if (!ec)
    s->sock.bind(udp::endpoint{v6 ? udp::v6() : udp::v4(), 0}, ec);  // the kernel picks a random port
  if (!ec)
    s->sock.non_blocking(true, ec);
  if (ec) {
    errno = ec.value();
    return false;
  }
  s->gen = ++source_gen_;
  size_t i;
  if (!free_sources_.empty()) {
    i = free_sources_.back();
    free_sources_.pop_back();
    sources_[i] = std::move(s);
  } else {
    i = sources_.size();
    if (i > 0xFFFF)
      return false;  // socket indexes share the pending-query key with the 16-bit DNS ID
    sources_.push_back(std::move(s));
  }
  (v6 ? active_v6_ : active_v4_).push_back(i);
  if (ctx_.get_executor().running_in_this_thread())
    arm_source(i);
  return true;
}

void worker::retire_source(size_t i) {
  sources_[i]->retired = true;
  if (sources_[i]->waiting == 0)
    release_source(i);
}

void worker::release_source(size_t i) {
  // Closed from a fresh handler: the socket's own receive loop may be on the stack right now.
  uint32_t gen = sources_[i]->gen;
  boost::asio::post(ctx_, [this, i, gen] {
    auto& s = sources_[i];
    if (!s || s->gen != gen || s->waiting != 0)
      return;
    if (!s->out.empty())
      s->out.flush(s->sock.native_handle());
    s.reset();
    free_sources_.push_back(i);
  });
}

void worker::arm_rotation() {
  size_t active = std::max<size_t>(1, active_v4_.size());
  if (opts_.port_rotation_ms == 0)
    return;
  rotate_timer_.expires_after(std::chrono::milliseconds(std::max<size_t>(1, opts_.port_rotation_ms / active)));
  rotate_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_)
      return;
    rotate_sources();
    arm_rotation();
  });
}

void worker::rotate_sources() {
  for (bool v6 : {false, true}) {
    auto& active = v6 ? active_v6_ : active_v4_;
    if (active.empty())
      continue;
    size_t oldest = active.front();
    if (!open_source(v6))
      continue;  // keep the old one rather than none (EMFILE and friends)
    active.erase(active.begin());
    retire_source(oldest);
  }
}

void worker::send_failed(uint64_t tag) {
  uint32_t slot = static_cast<uint32_t>(tag >> 32);
  uint32_t gen = static_cast<uint32_t>(tag);
  if (slot >= slots_.size())
    return;
  pending& p = slots_[slot];
  if (!p.busy || p.gen != gen || !p.waiting_udp)
    return;
  if (p.up)
    ++counters_for(*p.up).send_errors;
  fail_attempt(slot, false);
}

} // namespace roamd::net
