// The encrypted side of a worker: attempts to DoT and DoH upstreams go to a dot_client or doh_client per upstream,
// whose answers and failures come back here and join the same path as UDP answers (validation, failover, probes).
#include "net/doh_client.hpp"
#include "net/dot_client.hpp"
#include "net/worker.hpp"

namespace roamd::net {

namespace {

/// The settings DoT and DoH share: timeouts, the socket mark, and the resolver's link like its UDP sockets and the
/// TCP fallback (never for a loopback address: `link` is "" then).
template <class Options>
Options encrypted_options(const dataplane_options& d, const std::string& link) {
  Options o;
  o.timeout = std::chrono::milliseconds(d.timeout_ms);
  o.idle_timeout = std::chrono::milliseconds(d.dot_idle_timeout_ms);
  o.mark = d.socket_mark;
  o.link = link;
  return o;
}

/// The client at `id` in `clients`, made by `make(tls)` on first use; null without a TLS context.
template <class Client, class Make>
Client* client_for(std::vector<std::unique_ptr<Client>>& clients, uint32_t id, dot_tls_source* source, Make make) {
  if (id >= clients.size())
    clients.resize(id + 1);
  if (!clients[id]) {
    auto tls = source ? source->get() : nullptr;
    if (!tls)
      return nullptr;
    clients[id] = make(std::move(tls));
  }
  return clients[id].get();
}

} // namespace

dot_client* worker::dot_for(const std::shared_ptr<upstream>& u) {
  return client_for(dot_, u->id, tls_.get(), [&](std::shared_ptr<dot_tls> tls) {
    auto o = encrypted_options<dot_options>(opts_, u->interface.empty() ? u->interface : bound_set(*u).interface);
    return std::make_unique<dot_client>(ctx_, std::move(tls), u, std::move(o), rng_,
                                        [this](uint64_t tag, uint8_t* msg, size_t size) {
      on_encrypted_answer(tag, msg, size, false);
    });
  });
}

doh_client* worker::doh_for(const std::shared_ptr<upstream>& u) {
  return client_for(doh_, u->id, tls_.get(), [&](std::shared_ptr<dot_tls> tls) {
    auto o = encrypted_options<doh_options>(opts_, u->interface.empty() ? u->interface : bound_set(*u).interface);
    return std::make_unique<doh_client>(ctx_, std::move(tls), u, std::move(o), rng_,
                                        [this](uint64_t tag, uint8_t* msg, size_t size, doh_client::failure why) {
      on_encrypted_answer(tag, msg, size, why == doh_client::failure::bad_answer);
    });
  });
}

void worker::send_encrypted(uint32_t s) {
  pending& p = slots_[s];
  auto& counters = counters_for(*p.up);
  uint64_t tag = (uint64_t{s} << 32) | p.gen;
  bool sent = false;
  if (p.up->https) {
    doh_client* c = doh_for(p.up);
    sent = c && c->send(p.wire.data(), p.wire.size(), tag);
  } else {
    dot_client* c = dot_for(p.up);
    sent = c && c->send(p.wire.data(), p.wire.size(), tag);
  }
  if (!sent) {
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

void worker::on_encrypted_answer(uint64_t tag, uint8_t* msg, size_t size, bool bad_answer) {
  auto s = static_cast<uint32_t>(tag >> 32);
  if (stopping_ || s >= slots_.size())
    return;
  pending& p = slots_[s];
  if (!p.busy || p.gen != static_cast<uint32_t>(tag) || !p.on_dot)
    return;
  p.on_dot = false;  // the client has let go of it already
  wait_unlink(s);
  if (!msg) {
    // Connect, handshake, verification or the connection ending count as send errors; an HTTP answer that is not
    // a DNS message (DoH) as a bad answer.
    auto& counters = counters_for(*p.up);
    ++(bad_answer ? counters.bad_answers : counters.send_errors);
    fail_attempt(s, false);
  } else if (!accept_answer(p, msg, size, true)) {
    fail_attempt(s, false);
  } else {
    answered(s, msg, size);
  }
  schedule_flush();
}

} // namespace roamd::net
