#include "net/worker.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <netinet/in.h>
#include <sys/socket.h>

#include "net/dns_build.hpp"
#include "net/doh_client.hpp"
#include "net/dot_client.hpp"
#include "net/endpoint.hpp"
#include "net/listen_owner.hpp"
#include "net/tcp_client.hpp"
#include "net/tcp_exchange.hpp"

namespace roamd::net {

namespace {

using udp = boost::asio::ip::udp;
using tcp = boost::asio::ip::tcp;
using steady = std::chrono::steady_clock;

constexpr size_t client_batch_count = 32;
constexpr size_t client_slot_size = 4096;   // larger queries are dropped as oversized
constexpr size_t answer_batch_count = 16;
constexpr size_t answer_slot_size = 65536;  // any UDP answer fits
constexpr size_t scratch_size = 65536 + 64;

void set_reuse_port(int fd) {
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
}

void try_rcvbuf(int fd, int bytes) {
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

} // namespace

worker::worker(uint32_t index, const dataplane_options& opts, std::shared_ptr<dns_cache> cache,
               std::shared_ptr<upstream_registry> registry, dataplane::stats_sink sink, std::shared_ptr<dot_tls_source> tls,
               std::shared_ptr<loop_guard> loops)
    : index_(index),
      opts_(opts),
      cache_(std::move(cache)),
      registry_(std::move(registry)),
      sink_(std::move(sink)),
      tls_(std::move(tls)),
      client_batch_(client_batch_count, client_slot_size),
      answer_batch_(answer_batch_count, answer_slot_size),
      scratch_(scratch_size),
      loops_(std::move(loops)),
      chosen_(registry_),
      timeout_timer_(ctx_),
      stats_timer_(ctx_),
      rotate_timer_(ctx_) {
  slots_.reserve(opts_.max_inflight);  // never reallocates: references into slots_ stay valid
  uint32_t workers = opts_.workers ? opts_.workers : 1;
  tcp_limit_ = std::max<uint32_t>(1, opts_.tcp_max_connections / workers);
  stats_.worker = index_;
  for (auto& o : opts_.observers)
    observe_queries_ = observe_queries_ || o->wants_queries();
  if (opts_.original_destination && !opts_.intercept_listen.empty())
    find_original_ = opts_.original_destination();
}

worker::~worker() = default;

std::string worker::open(const std::vector<udp::endpoint>& listen, const std::vector<udp::endpoint>& intercept) {
  boost::system::error_code ec;
  std::vector<std::pair<udp::endpoint, bool>> all;
  for (auto& ep : listen)
    all.emplace_back(ep, false);
  for (auto& ep : intercept)
    all.emplace_back(ep, true);
  for (auto& [ep, redirected] : all) {
    auto l = std::unique_ptr<listener>(new listener{udp::socket{ctx_}, tcp::acceptor{ctx_}, {}, redirected});
    listen_owner_scope owner;  // see listen_owner.hpp: no other process can join these sockets
    listen_private_ = listen_private_ && owner.took();
    l->udp.open(ep.protocol(), ec);
    if (!ec && ep.address().is_v6())
      l->udp.set_option(boost::asio::ip::v6_only{true}, ec);
    if (!ec) {
      set_reuse_port(l->udp.native_handle());
      l->udp.bind(ep, ec);
    }
    // No IPv6 on this machine (::1 missing): then there is no IPv6 DNS to intercept either.
    if (ec && redirected && ep.address().is_v6() &&
        (ec == boost::asio::error::address_family_not_supported || ec.value() == EADDRNOTAVAIL))
      continue;
    if (ec)
      return "cannot listen on UDP " + to_string(ep) + (redirected ? " (interception)" : "") + ": " + ec.message();
    l->udp.non_blocking(true, ec);
    try_rcvbuf(l->udp.native_handle(), 4 << 20);
    tcp::endpoint tep{ep.address(), l->udp.local_endpoint().port()};
    l->tcp.open(tep.protocol(), ec);
    if (!ec && ep.address().is_v6())
      l->tcp.set_option(boost::asio::ip::v6_only{true}, ec);
    if (!ec) {
      l->tcp.set_option(tcp::acceptor::reuse_address{true}, ec);
      set_reuse_port(l->tcp.native_handle());
      l->tcp.bind(tep, ec);
    }
    if (!ec)
      l->tcp.listen(1024, ec);
    if (ec)
      return "cannot listen on TCP " + to_string(ep) + (redirected ? " (interception)" : "") + ": " + ec.message();
    auto local = l->udp.local_endpoint();
    std::pair<sockaddr_storage, socklen_t> addr{};
    std::memcpy(&addr.first, local.data(), local.size());
    addr.second = static_cast<socklen_t>(local.size());
    listener_addr_.push_back(addr);
    listeners_.push_back(std::move(l));
  }
  for (bool v6 : {false, true}) {
    sets_.push_back(std::make_unique<source_set>());
    sets_.back()->v6 = v6;
  }
  for (uint32_t i = 0; i < opts_.source_ports; ++i)
    if (!open_source(*sets_[0]))
      return "cannot open an upstream socket: " + std::string(std::strerror(errno));
  for (uint32_t i = 0; i < opts_.source_ports; ++i)
    if (!open_source(*sets_[1]))
      break;  // no IPv6 on this host: IPv6 upstreams count send errors (prepare_set tries again later)
  return {};
}

std::vector<udp::endpoint> worker::bound() const {
  std::vector<udp::endpoint> out;
  for (auto& l : listeners_)
    if (!l->intercept)
      out.push_back(l->udp.local_endpoint());
  return out;
}

std::vector<udp::endpoint> worker::bound_intercept() const {
  std::vector<udp::endpoint> out;
  for (auto& l : listeners_)
    if (l->intercept)
      out.push_back(l->udp.local_endpoint());
  return out;
}

void worker::run() {
  for (size_t i = 0; i < listeners_.size(); ++i) {
    arm_listener(i);
    arm_accept(i);
  }
  for (size_t i = 0; i < sources_.size(); ++i)
    if (sources_[i])
      arm_source(i);
  arm_stats();
  arm_rotation();
  ctx_.run();
}

void worker::stop() {
  boost::asio::post(ctx_, [this] {
    stopping_ = true;
    ctx_.stop();
  });
}

void worker::post_self_check_port(uint16_t port) {
  boost::asio::post(ctx_, [this, port] { self_check_port_ = htons(port); });
}

void worker::post_routing(std::shared_ptr<const routing_table> table) {
  boost::asio::post(ctx_, [this, table = std::move(table)]() mutable {
    table_ = std::move(table);
    // New routes often follow a link change (a VPN reconnect): links are looked up again before their next use.
    for (auto& set : sets_)
      if (!set->interface.empty()) {
        set->recheck = true;
        set->retry_at = {};
      }
  });
}

void worker::arm_listener(size_t i) {
  listeners_[i]->udp.async_wait(udp::socket::wait_read, [this, i](const boost::system::error_code& ec) {
    if (!ec && !stopping_)
      on_listener_readable(i);
  });
}

void worker::arm_source(size_t i) {
  uint32_t gen = sources_[i]->gen;
  sources_[i]->sock.async_wait(udp::socket::wait_read, [this, i, gen](const boost::system::error_code& ec) {
    if (!ec && !stopping_ && sources_[i] && sources_[i]->gen == gen)
      on_source_readable(i);
  });
}

// Asio registers sockets edge-triggered: re-arm the wait only after a short (draining) receive; after a full batch,
// come back through post() so other sockets get their turn and no datagram is left behind without a new edge.
void worker::on_listener_readable(size_t i) {
  int fd = listeners_[i]->udp.native_handle();
  size_t n = client_batch_.receive(fd);
  for (size_t k = 0; k < n; ++k) {
    if (client_batch_.truncated(k)) {
      count_drop(drop_reason::oversized);
      continue;
    }
    client_ref c;
    c.kind = client_ref::udp;
    c.listener = static_cast<uint16_t>(i);
    std::memcpy(&c.addr, &client_batch_.from(k), client_batch_.from_len(k));
    c.addr_len = client_batch_.from_len(k);
    handle_query(client_batch_.data(k), client_batch_.size(k), std::move(c));
  }
  schedule_flush();
  if (n == client_batch_.count())
    boost::asio::post(ctx_, [this, i] {
      if (!stopping_)
        on_listener_readable(i);
    });
  else
    arm_listener(i);
}

void worker::on_source_readable(size_t i) {
  int fd = sources_[i]->sock.native_handle();
  size_t n = answer_batch_.receive(fd);
  for (size_t k = 0; k < n; ++k) {
    if (answer_batch_.truncated(k)) {
      count_drop(drop_reason::answer_malformed);
      continue;
    }
    on_answer(i, answer_batch_.data(k), answer_batch_.size(k), answer_batch_.from(k), answer_batch_.from_len(k));
  }
  schedule_flush();
  uint32_t gen = sources_[i]->gen;
  if (n == answer_batch_.count())
    boost::asio::post(ctx_, [this, i, gen] {
      if (!stopping_ && sources_[i] && sources_[i]->gen == gen)
        on_source_readable(i);
    });
  else
    arm_source(i);
}

void worker::reply(const client_ref& c, const uint8_t* msg, size_t size) {
  switch (c.kind) {
    case client_ref::udp:
      std::memcpy(listeners_[c.listener]->out.push(c.addr, c.addr_len, size), msg, size);
      break;
    case client_ref::tcp:
      if (c.conn)
        c.conn->send(msg, size);
      break;
    case client_ref::probe:
      break;
  }
}

void worker::reply_error(const uint8_t* msg, size_t size, const dns::query_info& q, bool with_question,
                         uint16_t rcode, const client_ref& c, const pending* p) {
  uint8_t buf[dns::header_size + dns::max_name_wire + 4 + 11];
  size_t n = dns::build_error_reply(msg, size, q, with_question, rcode, buf, sizeof(buf));
  if (n == 0)
    return;
  completed(c, with_question ? &q : nullptr, buf, n, answer_source::error, p);
  switch (rcode & 0x0F) {
    case static_cast<uint16_t>(dns::rcode::formerr):
      ++stats_.formerr_sent;
      break;
    case static_cast<uint16_t>(dns::rcode::notimp):
      ++stats_.notimp_sent;
      break;
    case static_cast<uint16_t>(dns::rcode::servfail):
      ++stats_.servfail_sent;
      break;
    default:
      break;
  }
  reply(c, buf, n);
}

void worker::flush() {
  failures_.clear();
  for (size_t i = 0; i < sources_.size(); ++i) {
    auto& s = sources_[i];
    if (!s || s->out.empty())
      continue;
    failed_sends_.clear();
    s->out.flush(s->sock.native_handle(), &failed_sends_);
    for (const auto& f : failed_sends_)
      failures_.emplace_back(f, i);
  }
  for (auto& l : listeners_)
    if (!l->out.empty())
      stats_.drops[static_cast<size_t>(drop_reason::send_failed)] += l->out.flush(l->udp.native_handle());
  // Upstream queries that could not leave fail their attempt now (the next resolver is tried at once); their
  // replacements are queued and sent by the flush this schedules.
  auto failed = std::move(failures_);
  for (const auto& [f, sock] : failed)
    send_failed(f, sock);
  bool any = !failed.empty();
  failures_ = std::move(failed);
  if (any)
    schedule_flush();  // retries and SERVFAILs those failures produced
}

void worker::schedule_flush() {
  if (flush_pending_)
    return;
  bool queued = false;
  for (auto& l : listeners_)
    queued = queued || !l->out.empty();
  for (auto& src : sources_)
    queued = queued || (src && !src->out.empty());
  if (!queued)
    return;
  flush_pending_ = true;
  boost::asio::post(ctx_, [this] {
    flush_pending_ = false;
    if (!stopping_)
      flush();
  });
}

void worker::completed(const client_ref& c, const dns::query_info* q, const uint8_t* msg, size_t size,
                       answer_source src, const pending* p) {
  if (c.kind == client_ref::probe)
    return;
  ++stats_.answers;  // every reply to a client, errors made here included
  auto started = p ? p->received_at : query_start_;
  auto now = steady::now();
  auto us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - started).count());
  stats_.latency.add(us);
  if (p) {
    stats_.upstream_latency.add(us);
    if (src == answer_source::upstream && p->rt)
      ++stats_.route_answers[p->rt->domain.empty() ? std::string{"."} : p->rt->domain];
  }
  if (opts_.observers.empty())
    return;
  query_event e;
  e.kind = query_event::response;
  e.source = src;
  describe_client(c, e);
  e.message = msg;
  e.size = size;
  e.question = q;
  e.response_time = std::chrono::system_clock::now();
  e.query_time = e.response_time - std::chrono::duration_cast<std::chrono::system_clock::duration>(now - started);
  if (p && src == answer_source::upstream) {
    if (p->rt)
      e.route = p->rt->domain;
    e.resolver = p->up.get();
    e.fallback = p->fallback_done;
  }
  for (auto& o : opts_.observers)
    o->observe(e);
}

void worker::observe_query(const client_ref& c, const uint8_t* msg, size_t size) {
  query_event e;
  e.kind = query_event::query;
  describe_client(c, e);
  e.message = msg;
  e.size = size;
  e.query_time = std::chrono::system_clock::now();
  for (auto& o : opts_.observers)
    if (o->wants_queries())
      o->observe(e);
}

void worker::describe_client(const client_ref& c, query_event& e) const {
  e.tcp = c.kind == client_ref::tcp;
  e.worker = index_;
  e.client = reinterpret_cast<const sockaddr*>(&c.addr);
  e.client_len = c.addr_len;
  if (c.listener < listener_addr_.size()) {
    e.server = reinterpret_cast<const sockaddr*>(&listener_addr_[c.listener].first);
    e.server_len = listener_addr_[c.listener].second;
  }
}

uint64_t worker::now_ms() const {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(steady::now().time_since_epoch()).count());
}

} // namespace roamd::net

namespace roamd::net {

void worker::arm_accept(size_t i) {
  listeners_[i]->tcp.async_accept([this, i](const boost::system::error_code& ec, tcp::socket sock) {
    if (stopping_ || ec == boost::asio::error::operation_aborted)
      return;
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning on a failing accept.
      auto retry = std::make_shared<boost::asio::steady_timer>(ctx_, std::chrono::milliseconds(50));
      retry->async_wait([this, i, retry](const boost::system::error_code& e) {
        if (!e && !stopping_)
          arm_accept(i);
      });
      return;
    }
    if (tcp_clients_ >= tcp_limit_ && !evict_idle_tcp()) {
      count_drop(drop_reason::tcp_limit);
      boost::system::error_code ignored;
      sock.close(ignored);
    } else {
      ++tcp_clients_;
      auto client = std::make_shared<tcp_client>(*this, std::move(sock), static_cast<uint16_t>(i));
      if (tcp_list_.size() >= 2 * size_t{tcp_limit_})
        prune_tcp_list();
      tcp_list_.push_back(client);
      client->start();
    }
    arm_accept(i);
  });
}

void worker::prune_tcp_list() {
  tcp_list_.erase(std::remove_if(tcp_list_.begin(), tcp_list_.end(),
                                 [](const std::weak_ptr<tcp_client>& w) {
                                   auto c = w.lock();
                                   return !c || c->closed();
                                 }),
                  tcp_list_.end());
}

bool worker::evict_idle_tcp() {
  // Idle clients must not lock others out (RFC 7766 section 6.2.3 lets a server close them when short of
  // resources): the least recently active idle one makes room.
  prune_tcp_list();
  std::shared_ptr<tcp_client> victim;
  for (auto& w : tcp_list_) {
    auto c = w.lock();
    if (c && c->idle() && (!victim || c->last_active() < victim->last_active()))
      victim = c;
  }
  if (!victim)
    return false;
  victim->evict();
  return true;
}

void worker::tcp_closed() {
  if (tcp_clients_ > 0)
    --tcp_clients_;
}

} // namespace roamd::net
