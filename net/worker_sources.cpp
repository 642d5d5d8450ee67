// The upstream socket pool of a worker: random source ports, rotated while in use (see source_socket), in sets per
// address family and link (see source_set).
#include <cerrno>
#include <cstring>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "net/link_binding.hpp"
#include "net/worker.hpp"

namespace roamd::net {

namespace {

using udp = boost::asio::ip::udp;
using steady = std::chrono::steady_clock;

// A link whose sockets cannot be opened (no such interface yet) is tried again at most this often, so that a
// stream of queries for it does not turn into a stream of failing system calls.
constexpr auto reopen_backoff = std::chrono::milliseconds(200);

} // namespace

bool worker::open_source(source_set& set) {
  boost::system::error_code ec;
  auto s = std::make_unique<source_socket>(source_socket{udp::socket{ctx_}, &set, false, 0, 0, {}});
  s->sock.open(set.v6 ? udp::v6() : udp::v4(), ec);
  if (!ec && set.v6)
    s->sock.set_option(boost::asio::ip::v6_only{true}, ec);
  if (!ec)
    apply_mark(s->sock.native_handle());
  if (!ec && !set.interface.empty()) {
    if (int err = bind_to_link(s->sock.native_handle(), set.v6, set.interface, set.ifindex))
      ec.assign(err, boost::system::system_category());
  }
  if (!ec)
    s->sock.bind(udp::endpoint{set.v6 ? udp::v6() : udp::v4(), 0}, ec);  // the kernel picks a random port
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
    if (i > 0xFFFF) {
      errno = EMFILE;
      return false;  // socket indexes share the pending-query key with the 16-bit DNS ID
    }
    sources_.push_back(std::move(s));
  }
  set.active.push_back(i);
  if (ctx_.get_executor().running_in_this_thread())
    arm_source(i);
  return true;
}

void worker::apply_mark(int fd) {
  int err = set_socket_mark(fd, opts_.socket_mark);
  if (err == 0 || !mark_ok_.exchange(false))
    return;
  // The socket is still used: queries work, only interception (if engaged) would catch them.
  spdlog::warn("roamd: worker {}: cannot set socket mark {:#x} on upstream sockets: {}; interception is unavailable",
               index_, opts_.socket_mark, std::strerror(err));
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

worker::source_set& worker::bound_set(const upstream& u) {
  if (u.id < set_of_upstream_.size() && set_of_upstream_[u.id])
    return *set_of_upstream_[u.id];
  const auto& addr = u.endpoint.address();
  bool v6 = addr.is_v6();
  source_set* set = sets_[v6 ? 1 : 0].get();
  // A loopback resolver is never bound to another link: its queries would go nowhere.
  if (!addr.is_loopback() && !(v6 && addr.to_v6().is_v4_mapped() && addr.to_v6().to_v4().is_loopback())) {
    set = nullptr;
    for (auto& s : sets_)
      if (s->v6 == v6 && s->interface == u.interface)
        set = s.get();
    if (!set) {
      sets_.push_back(std::make_unique<source_set>());
      set = sets_.back().get();
      set->interface = u.interface;
      set->v6 = v6;
    }
  }
  if (u.id >= set_of_upstream_.size())
    set_of_upstream_.resize(u.id + 1, nullptr);
  set_of_upstream_[u.id] = set;
  return *set;
}

void worker::drop_set(source_set& set) {
  auto active = std::move(set.active);
  set.active.clear();
  for (size_t i : active)
    retire_source(i);
}

bool worker::prepare_set(source_set& set) {
  if (set.recheck) {
    set.recheck = false;
    if (!set.active.empty() && link_index(set.interface) != set.ifindex)
      drop_set(set);  // the link was recreated (or is gone): its sockets are bound to a stale index
  }
  if (!set.active.empty())
    return true;
  auto now = steady::now();
  if (now < set.retry_at)
    return false;
  int err = 0;
  set.ifindex = set.interface.empty() ? 0 : link_index(set.interface);
  if (!set.interface.empty() && set.ifindex == 0)
    err = ENODEV;
  for (uint32_t i = 0; err == 0 && i < opts_.source_ports; ++i)
    if (!open_source(set))
      err = errno;
  if (set.active.empty()) {
    set.retry_at = now + reopen_backoff;
    if (!set.failing) {
      set.failing = true;
      spdlog::warn("roamd: worker {}: cannot open an upstream {} socket{}{}: {}; queries through it fail over until "
                   "it works",
                   index_, set.v6 ? "IPv6" : "IPv4", set.interface.empty() ? "" : " bound to link ", set.interface,
                   std::strerror(err));
    }
    return false;
  }
  if (set.failing) {
    set.failing = false;
    spdlog::info("roamd: worker {}: upstream {} sockets{}{} open again", index_, set.v6 ? "IPv6" : "IPv4",
                 set.interface.empty() ? "" : " bound to link ", set.interface);
  }
  return true;
}

void worker::arm_rotation() {
  if (opts_.port_rotation_ms == 0)
    return;
  size_t active = std::max<size_t>(1, opts_.source_ports);
  rotate_timer_.expires_after(std::chrono::milliseconds(std::max<size_t>(1, opts_.port_rotation_ms / active)));
  rotate_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_)
      return;
    rotate_sources();
    arm_rotation();
  });
}

void worker::rotate_sources() {
  auto idle_before = steady::now() - std::chrono::milliseconds(opts_.port_rotation_ms);
  for (auto& set : sets_) {
    if (set->active.empty())
      continue;
    if (!set->interface.empty()) {
      // A bound set nobody used for a whole period is closed (reopened on the next use, on fresh ports); one whose
      // link was recreated is rebuilt on its next use.
      if (set->last_used < idle_before || link_index(set->interface) != set->ifindex) {
        drop_set(*set);
        continue;
      }
    }
    size_t oldest = set->active.front();
    if (!open_source(*set))
      continue;  // keep the old one rather than none (EMFILE and friends)
    set->active.erase(set->active.begin());
    retire_source(oldest);
  }
}

void worker::send_failed(const udp_send_failure& f, size_t sock) {
  if ((f.error == ENODEV || f.error == ENXIO) && sock < sources_.size() && sources_[sock]) {
    source_set& set = *sources_[sock]->set;
    if (!set.interface.empty() && !sources_[sock]->retired)
      drop_set(set);  // bound to a link that is gone: the next send reopens the set on the link's new index
  }
  uint32_t slot = static_cast<uint32_t>(f.tag >> 32);
  uint32_t gen = static_cast<uint32_t>(f.tag);
  if (slot >= slots_.size())
    return;
  pending& p = slots_[slot];
  if (!p.busy || p.gen != gen || !p.waiting)
    return;
  if (p.up)
    ++counters_for(*p.up).send_errors;
  fail_attempt(slot, false);
}

} // namespace roamd::net
