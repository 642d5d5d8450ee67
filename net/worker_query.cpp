// The per-query path of a worker: client query -> cache or upstream attempt -> validated answer -> client.
#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>

#include "net/canary.hpp"
#include "net/dns_build.hpp"
#include "net/doh_client.hpp"
#include "net/dot_client.hpp"
#include "net/tcp_client.hpp"
#include "net/tcp_exchange.hpp"
#include "net/worker.hpp"

namespace roamd::net {

namespace {

using steady = std::chrono::steady_clock;
using udp = boost::asio::ip::udp;

/// A UDP client's port, network byte order (sin_port and sin6_port sit at the same offset).
uint16_t source_port(const client_ref& c) {
  uint16_t port;
  std::memcpy(&port, reinterpret_cast<const uint8_t*>(&c.addr) + offsetof(sockaddr_in, sin_port), sizeof port);
  return port;
}

} // namespace

dns_cache::key worker::cache_key(const dns::query_info& q, const routing_table& table) {
  return dns_cache::key{q.qname, q.qtype, q.qclass, (q.edns_flags & dns::edns_do) != 0,
                        (q.flags & dns::flag_cd) != 0, static_cast<uint32_t>(table.generation())};
}

bool worker::answer_self_check(const uint8_t* msg, size_t size, const client_ref& c) {
  dns::query_info q;
  std::string_view label;
  if (size < dns::header_size || (dns::flags_of(msg) & dns::flag_qr) || dns::opcode_of(dns::flags_of(msg)) != 0 ||
      dns::parse_query(msg, size, q) != dns::parse_error::none || q.qclass != dns::class_in ||
      !may_be_canary(q.qname) || match_canary(q.qname, label) != canary_match::leaf)
    return false;
  uint8_t buf[dns::header_size + dns::max_name_wire + 4 + 16 + 11];
  size_t n = build_canary_reply(msg, size, q, canary_match::leaf, label, buf, sizeof(buf));
  if (n == 0)
    return false;
  reply(c, buf, n);
  return true;
}

void worker::handle_query(uint8_t* msg, size_t size, client_ref client) {
  // The self-check's canary queries (net/self_check) are roamd's own: answered, never counted or observed. One
  // compare per query when it runs (the source port of a UDP client), none otherwise.
  if (self_check_port_ != 0 && client.kind == client_ref::udp && source_port(client) == self_check_port_ &&
      answer_self_check(msg, size, client))
    return;
  query_start_ = steady::now();
  if (client.kind == client_ref::tcp)
    ++stats_.queries_tcp;
  else
    ++stats_.queries_udp;
  bool redirected = listeners_[client.listener]->intercept;
  if (redirected)
    ++stats_.intercepted;
  if (size < dns::header_size) {
    count_drop(drop_reason::too_short);
    return;
  }
  uint16_t flags = dns::flags_of(msg);
  if (flags & dns::flag_qr) {
    count_drop(drop_reason::not_a_query);
    if (client.kind == client_ref::tcp && client.conn)
      client.conn->dropped();
    return;
  }
  if (observe_queries_)
    observe_query(client, msg, size);
  dns::query_info q;
  auto err = dns::parse_query(msg, size, q);
  if (dns::opcode_of(flags) != 0) {
    reply_error(msg, size, q, q.question_end != 0, static_cast<uint16_t>(dns::rcode::notimp), client);
    return;
  }
  if (err != dns::parse_error::none) {
    reply_error(msg, size, q, q.question_end != 0, static_cast<uint16_t>(dns::rcode::formerr), client);
    return;
  }
  if (q.has_edns && q.edns_version != 0) {
    reply_error(msg, size, q, true, dns::ext_rcode_badvers, client);
    return;
  }
  if (may_be_canary(q.qname) && q.qclass == dns::class_in) {  // before cache and routes: answered here, always
    std::string_view label;
    canary_match m = match_canary(q.qname, label);
    if (m != canary_match::none) {
      answer_canary(msg, size, q, m, label, client);
      return;
    }
  }
  if (!table_) {
    reply_error(msg, size, q, true, static_cast<uint16_t>(dns::rcode::servfail), client);
    return;
  }
  if (cache_->capacity() != 0) {
    uint8_t* out = scratch_.data();
    size_t n = cache_->lookup(cache_key(q, *table_), q.id, now_ms(), out, scratch_.size() - 64);
    if (n != 0 && n >= q.question_end) {
      ++stats_.cache_hits;
      std::memcpy(out + dns::header_size, msg + dns::header_size, q.question_end - dns::header_size);  // client's case
      if (q.has_edns)
        n = dns::append_opt(out, n, std::min<size_t>(scratch_.size(), dns::max_message), dns::own_udp_size,
                            (q.edns_flags & dns::edns_do) != 0);
      if (n != 0) {
        if (client.kind == client_ref::udp)
          n = dns::fit_to_udp_client(out, n, q.question_end, q);
        completed(client, &q, out, n, answer_source::cache, nullptr);
        reply(client, out, n);
        return;
      }
    }
    ++stats_.cache_misses;
  }
  if (busy_ >= opts_.max_inflight) {
    count_drop(drop_reason::overload);
    reply_error(msg, size, q, true, static_cast<uint16_t>(dns::rcode::servfail), client);
    return;
  }
  const route* rt = &table_->lookup(q.qname);
  if (rt->resolvers.empty()) {
    reply_error(msg, size, q, true, static_cast<uint16_t>(dns::rcode::servfail), client);
    return;
  }
  // An internal name the client (a local proxy, a VPN's resolv.conf) meant for a particular server goes there,
  // through that server's link; everything else takes its route (the cloud, with the identity).
  chosen_servers::list chosen;
  if (redirected && !rt->domain.empty() && !rt->tag_identity)
    if (auto to = original_of(client)) {
      chosen = chosen_.get(*table_, *to);
      if (chosen)
        ++stats_.original_kept;
    }
  // Where a loop can close (an intercepted query, or one for a local proxy), the loop guard counts the question in
  // flight, and what roamd sends for it carries roamd's loop mark. One that came round again (a mark back, see
  // loop_guard, or the question in flight `limit` times) is not sent round once more: a local proxy's is sent by
  // the default route (the proxy forwards to roamd, so asking it is pointless), an intercepted one (two agents
  // redirecting each other's queries: whatever roamd sends is redirected back), or one that loops by the default
  // route too, is answered SERVFAIL.
  uint64_t loop_key = 0;
  bool to_proxy = rt->to_loopback && !chosen;
  if (loops_ && (redirected || rt->to_loopback)) {
    uint32_t turns = 0;
    loop_key = loops_->enter(q, turns);
    bool marked = q.has_edns && (dns::has_loop_mark(msg, q, loops_->mark(false)) ||
                                 (!redirected && dns::has_loop_mark(msg, q, loops_->mark(true))));
    if (loop_key != 0 && marked)
      turns = std::max(turns, loops_->limit());
    if (loops_->limit() != 0 && turns >= loops_->limit()) {
      ++stats_.loops_broken;
      if (redirected || loop_key == 0 || rt == &table_->fallback() || table_->fallback().resolvers.empty()) {
        reply_error(msg, size, q, true, static_cast<uint16_t>(dns::rcode::servfail), client);
        loops_->leave(loop_key);
        return;
      }
      rt = &table_->fallback();
      to_proxy = rt->to_loopback;
    }
  }
  uint32_t s = alloc_slot();
  pending& p = slots_[s];
  p.client = std::move(client);
  p.received_at = query_start_;
  p.client_id = q.id;
  p.q = q;
  p.table = table_;
  p.rt = rt;
  p.chosen = std::move(chosen);
  p.loop_key = loop_key;
  p.up.reset();
  p.attempt = 0;
  p.via_tcp = false;
  p.fallback = false;
  const dns::identity_option* identity = table_->identity_for(*rt);
  p.wire.resize(size + 64);
  bool tagged = false;
  size_t n = dns::build_upstream_query(msg, size, q, 0, identity, dns::own_udp_size, p.wire.data(), p.wire.size(),
                                       tagged, loop_key != 0 ? &loops_->mark(to_proxy) : nullptr);
  if (n == 0) {
    reply_error(msg, size, q, true, static_cast<uint16_t>(dns::rcode::servfail), p.client);
    free_slot(s);
    return;
  }
  p.wire.resize(n);
  if (identity && !tagged)
    ++stats_.untagged_cloud;
  send_attempt(s);
}

std::optional<udp::endpoint> worker::original_of(const client_ref& c) {
  if (!find_original_ || c.addr_len == 0)
    return std::nullopt;
  udp::endpoint local, peer;
  const auto& l = listener_addr_[c.listener];
  std::memcpy(local.data(), &l.first, l.second);
  local.resize(l.second);
  std::memcpy(peer.data(), &c.addr, c.addr_len);
  peer.resize(c.addr_len);
  return find_original_(c.kind == client_ref::tcp, local, peer);
}

void worker::answer_canary(const uint8_t* msg, size_t size, const dns::query_info& q, canary_match m,
                           std::string_view label, const client_ref& c) {
  uint8_t buf[dns::header_size + dns::max_name_wire + 4 + 16 + 11];
  size_t n = build_canary_reply(msg, size, q, m, label, buf, sizeof(buf));
  if (n == 0) {  // not reached: the buffer holds the largest question, a record and an OPT
    reply_error(msg, size, q, true, static_cast<uint16_t>(dns::rcode::servfail), c);
    return;
  }
  ++stats_.local_answers;
  completed(c, &q, buf, n, answer_source::local, nullptr);
  reply(c, buf, n);
}

uint32_t worker::alloc_slot() {
  uint32_t s;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
  } else {
    s = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[s].busy = true;
  ++busy_;
  return s;
}

void worker::free_slot(uint32_t s) {
  pending& p = slots_[s];
  stop_waiting(s);
  p.busy = false;
  ++p.gen;
  p.client.conn.reset();
  p.table.reset();
  p.rt = nullptr;
  p.chosen.reset();
  if (p.loop_key != 0) {
    loops_->leave(p.loop_key);
    p.loop_key = 0;
  }
  p.up.reset();
  p.fallback = false;
  p.first_up.reset();
  p.fallback_done = fallback_result::not_run;
  p.first_answer.clear();
  if (p.first_answer.capacity() > 4096)
    std::vector<uint8_t>().swap(p.first_answer);  // a large (TCP) answer is not kept around in every slot
  p.on_probe = nullptr;
  --busy_;
  free_.push_back(s);
}

void worker::stop_waiting(uint32_t s, bool timed_out) {
  pending& p = slots_[s];
  if (!p.waiting)
    return;
  if (p.on_dot) {
    p.on_dot = false;
    wait_unlink(s);
    uint64_t tag = (uint64_t{s} << 32) | p.gen;
    if (p.up->https)
      doh_[p.up->id]->forget(tag, timed_out);
    else
      dot_[p.up->id]->forget(dns::id_of(p.wire.data()), tag, timed_out);
    return;
  }
  by_key_.erase(p.key);
  wait_unlink(s);
  size_t sock = p.key >> 16;
  if (sock < sources_.size() && sources_[sock]) {
    auto& src = *sources_[sock];
    if (src.waiting > 0 && --src.waiting == 0 && src.retired)
      release_source(sock);
  }
}

void worker::wait_link(uint32_t s) {
  pending& p = slots_[s];
  p.waiting = true;
  p.prev = wait_tail_;
  p.next = npos;
  if (wait_tail_ != npos)
    slots_[wait_tail_].next = s;
  else
    wait_head_ = s;
  wait_tail_ = s;
}

void worker::wait_unlink(uint32_t s) {
  pending& p = slots_[s];
  if (!p.waiting)
    return;
  p.waiting = false;
  if (p.prev != npos)
    slots_[p.prev].next = p.next;
  else
    wait_head_ = p.next;
  if (p.next != npos)
    slots_[p.next].prev = p.prev;
  else
    wait_tail_ = p.prev;
  p.prev = p.next = npos;
}

void worker::send_attempt(uint32_t s) {
  pending& p = slots_[s];
  if (p.client.kind != client_ref::probe) {
    // Resolvers marked up first, in configured order, then the ones marked down: never refuse to try.
    const auto& rs = p.fallback ? *p.fallback_list : p.chosen ? *p.chosen : p.rt->resolvers;
    const upstream* order[16];
    size_t n = 0;
    for (int pass = 0; pass < 2; ++pass)
      for (auto& r : rs)
        if (n < 16 && r->up.load(std::memory_order_relaxed) == (pass == 0))
          order[n++] = r.get();
    const upstream* chosen = order[p.attempt % n];
    // A retry never repeats the resolver that just failed while another exists: the order can change between two
    // attempts (that resolver marked down meanwhile moves to the back, and the next index would land on it again).
    if (p.attempt > 0 && n > 1 && p.up && chosen == p.up.get())
      chosen = order[(p.attempt + 1) % n];
    for (auto& r : rs)
      if (r.get() == chosen)
        p.up = r;
  }
  if (p.up->tls) {
    send_encrypted(s);
    return;
  }
  auto& counters = counters_for(*p.up);
  source_set& set = p.up->interface.empty() ? *sets_[p.up->endpoint.address().is_v6() ? 1 : 0] : bound_set(*p.up);
  if ((set.active.empty() || set.recheck) && !prepare_set(set)) {
    ++counters.send_errors;
    fail_attempt(s, false);
    return;
  }
  const auto& active = set.active;
  size_t sock = 0;
  uint16_t id = 0;
  uint32_t key = 0;
  for (int tries = 0; tries < 16; ++tries) {
    sock = active[rng_.below(static_cast<uint32_t>(active.size()))];
    id = rng_.next16();
    key = (static_cast<uint32_t>(sock) << 16) | id;
    if (by_key_.find(key) == by_key_.end())
      break;
  }
  if (!by_key_.emplace(key, s).second) {
    ++counters.send_errors;
    fail_attempt(s, false);
    return;
  }
  dns::set_id(p.wire.data(), id);
  // Queued, not sent: every query of this loop round leaves its socket in one sendmmsg() (see flush()).
  auto& src = *sources_[sock];
  const auto& ep = p.up->endpoint;
  uint64_t tag = (uint64_t{s} << 32) | p.gen;
  std::memcpy(src.out.push(ep.data(), static_cast<socklen_t>(ep.size()), p.wire.size(), tag), p.wire.data(),
              p.wire.size());
  ++src.waiting;
  schedule_flush();
  ++counters.sent;
  p.key = key;
  p.sent_at = steady::now();
  set.last_used = p.sent_at;
  p.deadline = p.sent_at + std::chrono::milliseconds(opts_.timeout_ms);
  wait_link(s);
  arm_timeouts();
}

void worker::fail_attempt(uint32_t s, bool timed_out) {
  pending& p = slots_[s];
  if (timed_out && p.up)
    ++counters_for(*p.up).timeouts;
  stop_waiting(s, timed_out);
  if (p.client.kind == client_ref::probe) {
    complete_probe(s, false, 0);
    return;
  }
  if (++p.attempt >= opts_.attempts) {
    give_up(s);
    return;
  }
  send_attempt(s);
}

void worker::give_up(uint32_t s) {
  pending& p = slots_[s];
  if (p.fallback) {
    finish_with_first_answer(s);  // no fallback resolver answered: the client gets the NXDOMAIN it had
    return;
  }
  dns::set_id(p.wire.data(), p.client_id);
  reply_error(p.wire.data(), p.wire.size(), p.q, true, static_cast<uint16_t>(dns::rcode::servfail), p.client, &p);
  free_slot(s);
}

void worker::arm_timeouts() {
  if (timeout_armed_ || wait_head_ == npos)
    return;
  timeout_armed_ = true;
  timeout_timer_.expires_at(slots_[wait_head_].deadline);
  timeout_timer_.async_wait([this](const boost::system::error_code& ec) {
    timeout_armed_ = false;
    if (!ec && !stopping_)
      on_timeouts();
  });
}

void worker::on_timeouts() {
  auto now = steady::now();
  while (wait_head_ != npos && slots_[wait_head_].deadline <= now)
    fail_attempt(wait_head_, true);
  schedule_flush();
  arm_timeouts();
}

} // namespace roamd::net
