// The DNS-over-TLS side of a worker: attempts to DoT upstreams go to a dot_client per upstream, whose answers and
// failures come back here and join the same path as UDP answers (validation, failover, probes).
#include "net/dot_client.hpp"
#include "net/worker.hpp"

namespace roamd::net {

dot_client* worker::dot_for(const std::shared_ptr<upstream>& u) {
  if (u->id >= dot_.size())
    dot_.resize(u->id + 1);
  auto& c = dot_[u->id];
  if (!c) {
    auto tls = tls_ ? tls_->get() : nullptr;
    if (!tls)
      return nullptr;
    dot_options o;
    o.timeout = std::chrono::milliseconds(opts_.timeout_ms);
    o.idle_timeout = std::chrono::milliseconds(opts_.dot_idle_timeout_ms);
    o.mark = opts_.socket_mark;
    // Bound to the resolver's link like its UDP sockets and the TCP fallback (never for a loopback address).
    o.link = u->interface.empty() ? u->interface : bound_set(*u).interface;
    c = std::make_unique<dot_client>(ctx_, std::move(tls), u, std::move(o), rng_,
                                     [this](uint64_t tag, uint8_t* msg, size_t size) { on_dot_answer(tag, msg, size); });
  }
  return c.get();
}

void worker::send_dot(uint32_t s) {
  pending& p = slots_[s];
  auto& counters = counters_for(*p.up);
  uint64_t tag = (uint64_t{s} << 32) | p.gen;
  dot_client* c = dot_for(p.up);
  if (!c || !c->send(p.wire.data(), p.wire.size(), tag)) {
    ++counters.send_errors;
    fail_attempt(s, false);
    return;
  }
  ++counters.sent;
  p.on_dot = true;
  p.sent_at = std::chrono::steady_clock::now();
  p.deadline = p.sent_at + std::chrono::milliseconds(opts_.timeout_ms);
  wait_link(s);
  arm_timeouts();
}

void worker::on_dot_answer(uint64_t tag, uint8_t* msg, size_t size) {
  auto s = static_cast<uint32_t>(tag >> 32);
  if (stopping_ || s >= slots_.size())
    return;
  pending& p = slots_[s];
  if (!p.busy || p.gen != static_cast<uint32_t>(tag) || !p.on_dot)
    return;
  p.on_dot = false;  // the client has let go of it already
  wait_unlink(s);
  if (!msg) {
    ++counters_for(*p.up).send_errors;  // connect, handshake, verification, or the connection ended
    fail_attempt(s, false);
  } else if (!accept_answer(p, msg, size, true)) {
    fail_attempt(s, false);
  } else {
    answered(s, msg, size);
  }
  schedule_flush();
}

} // namespace roamd::net
