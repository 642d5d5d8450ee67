// The answer side of a worker: upstream datagrams and TCP fallbacks are validated, cached and relayed; probes and
// counters for the control plane.
#include <cstring>

#include <boost/asio/post.hpp>

#include "net/dns_build.hpp"
#include "net/tcp_client.hpp"
#include "net/tcp_exchange.hpp"
#include "net/worker.hpp"

namespace roamd::net {

namespace {

using steady = std::chrono::steady_clock;

bool cacheable_rcode(uint16_t flags) {
  auto rc = static_cast<dns::rcode>(dns::rcode_of(flags));
  return !(flags & dns::flag_tc) && (rc == dns::rcode::noerror || rc == dns::rcode::nxdomain);
}

} // namespace

upstream_counters& worker::counters_for(const upstream& u) {
  if (u.id >= up_stats_.size())
    up_stats_.resize(u.id + 1);
  auto& c = up_stats_[u.id];
  c.id = u.id;
  return c;
}

bool worker::answers_question(const pending& p, const uint8_t* msg, size_t size) const {
  dns::wire_name name;
  uint16_t qtype = 0, qclass = 0;
  return dns::get16(msg + 4) == 1 && dns::read_question(msg, size, name, qtype, qclass) != 0 && name == p.q.qname
         && qtype == p.q.qtype && qclass == p.q.qclass;
}

bool worker::accept_answer(pending& p, const uint8_t* msg, size_t size, bool tcp) {
  uint16_t flags = dns::flags_of(msg);
  bool want_ttls = cache_->capacity() != 0 && p.client.kind != client_ref::probe && cacheable_rcode(flags);
  auto& counters = counters_for(*p.up);
  if (dns::parse_response(msg, size, resp_, want_ttls) != dns::parse_error::none) {
    count_drop(drop_reason::answer_malformed);
    ++counters.bad_answers;
    return false;
  }
  bool same_question = resp_.qdcount == 1 && resp_.qname == p.q.qname && resp_.qtype == p.q.qtype
                       && resp_.qclass == p.q.qclass;
  if (!(flags & dns::flag_qr) || !same_question || (tcp && resp_.id != dns::id_of(p.wire.data()))) {
    count_drop(drop_reason::answer_mismatch);
    ++counters.bad_answers;
    return false;
  }
  return true;
}

void worker::on_answer(size_t sock, uint8_t* msg, size_t size, const sockaddr_storage& from, socklen_t from_len) {
  if (size < dns::header_size) {
    count_drop(drop_reason::answer_malformed);
    return;
  }
  auto it = by_key_.find((static_cast<uint32_t>(sock) << 16) | dns::id_of(msg));
  if (it == by_key_.end()) {
    count_drop(drop_reason::answer_unmatched);
    return;
  }
  uint32_t s = it->second;
  pending& p = slots_[s];
  const auto& ep = p.up->endpoint;
  if (!same_address(reinterpret_cast<const sockaddr*>(&from), from_len, ep.data(),
                    static_cast<socklen_t>(ep.size()))) {
    count_drop(drop_reason::answer_wrong_source);
    return;  // the query stays pending: a forged answer must not cancel the real one
  }
  auto& counters = counters_for(*p.up);
  uint16_t flags = dns::flags_of(msg);
  bool same_question = (flags & dns::flag_qr) && answers_question(p, msg, size);
  if ((flags & dns::flag_qr) && !same_question && dns::get16(msg + 4) == 0 && dns::rcode_of(flags) != 0) {
    // Right address, port and ID but no question: a FORMERR/NOTIMP/REFUSED/SERVFAIL from a resolver that
    // rejected the query. Fail over now instead of waiting out the timeout.
    ++counters.bad_answers;
    fail_attempt(s, false);
    return;
  }
  if (same_question && (flags & dns::flag_tc)) {
    // A truncated answer may be cut anywhere after the question: only the header and question are checked.
    stop_waiting(s);
    ++counters.answered;
    ++counters.tcp_fallbacks;
    start_tcp_fallback(s);
    return;
  }
  if (!accept_answer(p, msg, size, false))
    return;
  stop_waiting(s);
  answered(s, msg, size);
}

void worker::answered(uint32_t s, uint8_t* msg, size_t size) {
  pending& p = slots_[s];
  auto& counters = counters_for(*p.up);
  auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - p.sent_at).count();
  ++counters.answered;
  counters.rtt_sum_us += static_cast<uint64_t>(rtt);
  ++counters.rtt_count;
  if (dns::rcode_of(dns::flags_of(msg)) == static_cast<uint8_t>(dns::rcode::servfail))
    ++counters.servfail;
  if (p.client.kind == client_ref::probe) {
    complete_probe(s, true, static_cast<uint64_t>(rtt));
    return;
  }
  deliver(s, msg, size);
}

void worker::deliver(uint32_t s, uint8_t* msg, size_t size) {
  pending& p = slots_[s];
  auto rc = static_cast<dns::rcode>(dns::rcode_of(dns::flags_of(msg)));
  if (!p.fallback) {
    if (rc == dns::rcode::nxdomain) {
      const auto& fb = p.table->fallback_for(*p.rt, p.q.qname);
      if (!fb.empty()) {
        p.fallback_list = &fb;
        start_nxdomain_fallback(s, msg, size);
        return;
      }
    }
  } else if (rc != dns::rcode::noerror) {
    finish_with_first_answer(s);  // the fallback does not know the name either (or failed): keep the first answer
    return;
  } else {
    ++stats_.fallback_used;
    p.fallback_done = fallback_result::used;
  }
  finish(s, msg, size, resp_);
}

void worker::start_nxdomain_fallback(uint32_t s, const uint8_t* msg, size_t size) {
  pending& p = slots_[s];
  p.first_answer.assign(msg, msg + size);
  if (p.table->identity_for(*p.rt) != nullptr) {
    // The first query carried the device identity; the local resolvers must not see it. (Untagged routes never
    // send one: a client's own 0x6942 option was removed from the first query already.)
    dns::query_info sent;
    bool tagged = false;
    size_t n = 0;
    if (dns::parse_query(p.wire.data(), p.wire.size(), sent) == dns::parse_error::none)
      n = dns::build_upstream_query(p.wire.data(), p.wire.size(), sent, 0, nullptr, dns::own_udp_size,
                                    scratch_.data(), scratch_.size(), tagged);
    if (n == 0) {
      finish_with_first_answer(s);
      return;
    }
    p.wire.assign(scratch_.data(), scratch_.data() + n);
  }
  p.fallback = true;
  p.attempt = 0;
  p.first_up = std::move(p.up);
  ++stats_.fallback_sent;
  send_attempt(s);
}

void worker::finish_with_first_answer(uint32_t s) {
  pending& p = slots_[s];
  auto& a = p.first_answer;
  bool want_ttls = cache_->capacity() != 0;
  if (dns::parse_response(a.data(), a.size(), resp_, want_ttls) != dns::parse_error::none) {
    p.fallback = false;  // not reached (the answer was validated when it arrived); SERVFAIL rather than loop
    give_up(s);
    return;
  }
  if (p.fallback) {
    // The client gets the first resolvers' NXDOMAIN: observers see it from them, not from the fallback resolver.
    stop_waiting(s);  // while `up` is still the fallback one (its DoT/DoH client may be holding the query)
    p.up = std::move(p.first_up);
    p.fallback_done = fallback_result::kept;
  }
  finish(s, a.data(), a.size(), resp_);
}

void worker::finish(uint32_t s, uint8_t* msg, size_t size, const dns::response_info& r) {
  pending& p = slots_[s];
  if (cache_->capacity() != 0)
    cache_->insert(cache_key(p.q, *p.table), msg, size, r, now_ms());
  dns::set_id(msg, p.client_id);
  if (!p.q.has_edns)
    size = dns::strip_trailing_opt(msg, size, r);
  if (p.client.kind == client_ref::udp)
    size = dns::fit_to_udp_client(msg, size, r.question_end, p.q);
  completed(p.client, &p.q, msg, size, answer_source::upstream, &p);
  reply(p.client, msg, size);
  free_slot(s);
}

void worker::start_tcp_fallback(uint32_t s) {
  pending& p = slots_[s];
  p.via_tcp = true;
  uint32_t gen = p.gen;
  boost::asio::ip::tcp::endpoint ep{p.up->endpoint.address(), p.up->endpoint.port()};
  // Bound to the resolver's link like its UDP sockets (never for a loopback address).
  const std::string& link = p.up->interface.empty() ? p.up->interface : bound_set(*p.up).interface;
  auto ex = std::make_shared<tcp_exchange>(ctx_, ep, p.wire, std::chrono::milliseconds(opts_.timeout_ms * 2), link,
                                           opts_.socket_mark);
  ex->start([this, s, gen](bool ok, std::vector<uint8_t>& answer) { on_tcp_answer(s, gen, ok, answer); });
}

void worker::on_tcp_answer(uint32_t s, uint32_t gen, bool ok, std::vector<uint8_t>& answer) {
  if (stopping_)
    return;
  pending& p = slots_[s];
  if (!p.busy || p.gen != gen || !p.via_tcp)
    return;
  p.via_tcp = false;
  if (!ok || !accept_answer(p, answer.data(), answer.size(), true)) {
    fail_attempt(s, !ok);
    schedule_flush();
    return;
  }
  deliver(s, answer.data(), answer.size());
  schedule_flush();
}

void worker::complete_probe(uint32_t s, bool ok, uint64_t rtt_us) {
  pending& p = slots_[s];
  auto done = std::move(p.on_probe);
  uint32_t id = p.up ? p.up->id : 0;
  free_slot(s);
  if (done)
    done(id, ok, rtt_us);
}

void worker::post_probe(uint32_t upstream_id, dataplane::probe_callback done) {
  boost::asio::post(ctx_, [this, upstream_id, done = std::move(done)]() mutable {
    auto up = registry_->find(upstream_id);
    if (!up || stopping_ || busy_ >= opts_.max_inflight) {
      done(upstream_id, false, 0);
      return;
    }
    uint32_t s = alloc_slot();
    pending& p = slots_[s];
    p.client = client_ref{};
    p.client.kind = client_ref::probe;
    p.on_probe = std::move(done);
    p.up = std::move(up);
    p.rt = nullptr;
    p.attempt = 0;
    p.via_tcp = false;
    p.on_dot = false;
    p.fallback = false;
    // ". IN NS", no recursion wanted: any well-formed answer, even REFUSED, proves the resolver is alive.
    static const uint8_t probe_query[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, dns::type_ns, 0, dns::class_in};
    p.wire.assign(std::begin(probe_query), std::end(probe_query));
    p.q = dns::query_info{};
    p.q.qname.bytes[0] = 0;
    p.q.qname.size = 1;
    p.q.qtype = dns::type_ns;
    p.q.qclass = dns::class_in;
    p.q.question_end = sizeof(probe_query);
    send_attempt(s);
  });
}

void worker::arm_stats() {
  stats_timer_.expires_after(std::chrono::milliseconds(opts_.stats_interval_ms));
  stats_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_)
      return;
    publish_stats();
    arm_stats();
  });
}

void worker::publish_stats() {
  for (auto& c : up_stats_)
    if (!c.empty()) {
      stats_.upstreams.push_back(c);
      uint32_t id = c.id;
      c = upstream_counters{};
      c.id = id;
    }
  if (stats_.empty())
    return;
  worker_stats out = std::move(stats_);
  stats_ = worker_stats{};
  stats_.worker = index_;
  if (sink_)
    sink_(std::move(out));
}

} // namespace roamd::net
