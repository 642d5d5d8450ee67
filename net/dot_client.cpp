// DNS over TLS to an upstream (the TLS session itself: net/tls_upstream.hpp).
#include "net/dot_client.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "net/dns_wire.hpp"
#include "net/tls_upstream.hpp"

namespace roamd::net {

using steady = std::chrono::steady_clock;

/// One TLS connection (see tls_connection).
struct dot_client::connection : tls_connection<connection> {
  connection(dot_client& o, uint8_t i) : tls_connection(o.ctx_, *o.tls_), owner(&o), index(i) {
    in.resize(16384 + 2);
  }

  dot_client* owner;
  uint8_t index;
  std::vector<uint8_t> in;
  size_t in_len = 0;
  uint32_t inflight = 0;

  bool idle() const {
    return inflight == 0;
  }
  void start();
  void flush();
  void read();
};

namespace {

// The most a TLS record adds to its plaintext under any suite OpenSSL may negotiate (header, explicit IV, MAC or
// tag, padding, TLS 1.3's content type), with room to spare.
constexpr size_t record_overhead = 128;
// The most plaintext one TLS record carries: a longer frame is split over records anyway, so it goes through the
// stream (SSL_write in partial-write mode returns after one record).
constexpr size_t max_record = 16384;

} // namespace

// One TLS record per query (RFC 7858 allows any split, but some servers read one query per record and leave the
// rest of a record unread until more bytes come: NSD 4.6 answers the first query of a record and stalls). The
// records of a batch still leave in one socket write: all but the last query are sealed straight into the session's
// output buffer (OpenSSL's BIO pair under Asio's stream), and the write of the last one sends them all. A batch is
// what that buffer can take; the rest waits for the next flush (when this write completes).
void dot_client::connection::flush() {
  if (!can_write())
    return;
  SSL* ssl = stream.native_handle();
  // Mid-handshake (a renegotiation: refused, but asked for) a write may need to read first: the stream does that.
  size_t room = SSL_is_init_finished(ssl) ? BIO_ctrl_get_write_guarantee(SSL_get_wbio(ssl)) : 0;
  size_t off = 0;
  for (;;) {
    size_t len = 2 + size_t{dns::get16(out.data() + off)};
    bool last = off + len >= out.size();
    if (last || len + record_overhead > room || len > max_record)
      break;  // this one goes through the stream (which waits for room), and sends the sealed ones with it
    ERR_clear_error();
    int n = SSL_write(ssl, out.data() + off, static_cast<int>(len));
    if (n != static_cast<int>(len)) {  // cannot happen with the room checked; the queries fail over if it does
      ERR_clear_error();
      return owner->end(*this, false, "sealing a query into the TLS session failed", false);
    }
    room -= len + record_overhead;
    off += len;
  }
  size_t len = 2 + size_t{dns::get16(out.data() + off)};
  writing.assign(out.begin() + static_cast<std::ptrdiff_t>(off), out.begin() + static_cast<std::ptrdiff_t>(off + len));
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(off + len));
  write_writing();
}

void dot_client::connection::start() {
  const dot_options& o = owner->opts_;
  tls_connect(stream, timer, *owner->to_, {o.timeout, o.link, o.mark, {}},
              [self = shared_from_this()](const std::string& why) {
    if (!self->owner)
      return;
    if (!why.empty())
      return self->owner->end(*self, true, why);
    self->owner->connected(*self);
  });
}

void dot_client::connection::read() {
  stream.async_read_some(boost::asio::buffer(in.data() + in_len, in.size() - in_len),
                         [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
    auto& c = *self;
    if (!c.owner)
      return;
    if (ec)
      return c.owner->end(c, false, read_failure(ec));
    c.in_len += n;
    c.last_read = steady::now();
    size_t off = 0;
    while (c.in_len - off >= 2) {
      size_t len = dns::get16(c.in.data() + off);
      if (c.in_len - off < 2 + len)
        break;
      c.owner->on_frame(c, c.in.data() + off + 2, len);
      if (!c.owner)
        return;
      off += 2 + len;
    }
    if (off != 0) {
      std::memmove(c.in.data(), c.in.data() + off, c.in_len - off);
      c.in_len -= off;
    }
    if (c.in_len >= 2 && 2 + size_t{dns::get16(c.in.data())} > c.in.size())
      c.in.resize(2 + size_t{dns::get16(c.in.data())});  // a large answer: room for its whole frame
    if (c.inflight == 0)
      c.arm_idle();
    c.read();
  });
}

dot_client::dot_client(boost::asio::io_context& ctx, std::shared_ptr<dot_tls> tls, std::shared_ptr<const upstream> to,
                       dot_options opts, random_source& rng, answer_handler on_answer)
    : ctx_(ctx), tls_(std::move(tls)), to_(std::move(to)), opts_(std::move(opts)), rng_(rng),
      on_answer_(std::move(on_answer)), backoff_(opts_.backoff, opts_.max_backoff) {
  opts_.max_connections = std::clamp<uint32_t>(opts_.max_connections, 1, 255);
  opts_.max_inflight = std::clamp<uint32_t>(opts_.max_inflight, 1, 16384);
  conns_.resize(opts_.max_connections);
  uint32_t size = 64;
  while (size < 2 * opts_.max_connections * opts_.max_inflight && size < 65536)
    size *= 2;
  table_.resize(size);
  mask_ = size - 1;
}

dot_client::~dot_client() {
  close();
}

void dot_client::close() {
  for (auto& c : conns_)
    if (c)
      end(*c, false, {}, true);
}

dot_client::connection* dot_client::pick_connection() {
  // The first connection with room takes the query: one connection carries the load until it is full.
  for (auto& c : conns_)
    if (c && c->inflight < opts_.max_inflight)
      return c.get();
  if (backoff_.waiting())
    return nullptr;
  for (size_t i = 0; i < conns_.size(); ++i)
    if (!conns_[i]) {
      conns_[i] = std::make_shared<connection>(*this, static_cast<uint8_t>(i));
      ++connects_;
      conns_[i]->start();
      return conns_[i].get();
    }
  return nullptr;
}

bool dot_client::send(uint8_t* wire, size_t size, uint64_t tag) {
  if (size < dns::header_size || size > 65535)
    return false;
  connection* c = pick_connection();
  if (!c)
    return false;
  entry* e = nullptr;
  uint16_t id = 0;
  for (int tries = 0; tries < 32 && !e; ++tries) {
    id = rng_.next16();
    if (!table_[id & mask_].used)
      e = &table_[id & mask_];
  }
  if (!e)
    return false;
  *e = entry{tag, id, c->index, true};
  dns::put16(wire, id);
  size_t at = c->out.size();
  c->out.resize(at + 2 + size);
  dns::put16(c->out.data() + at, static_cast<uint16_t>(size));
  std::memcpy(c->out.data() + at + 2, wire, size);
  ++c->inflight;
  c->schedule_flush();
  return true;
}

void dot_client::forget(uint16_t id, uint64_t tag, bool timed_out) {
  entry& e = table_[id & mask_];
  if (!e.used || e.id != id || e.tag != tag)
    return;
  e.used = false;
  auto c = conns_[e.conn];  // the connection of a used entry is always the current one at its index
  if (!c)
    return;
  --c->inflight;
  if (timed_out && c->ready && steady::now() - c->last_read >= opts_.timeout) {
    // Queries go out and nothing comes back: a dead path the kernel has not noticed. Reset it (from a fresh
    // handler: the caller is in the middle of its own bookkeeping); the next query connects anew.
    boost::asio::post(ctx_, [c] {
      if (c->owner)
        c->owner->end(*c, false, "no answer within " + std::to_string(c->owner->opts_.timeout.count()) +
                                     " ms: connection reset");
    });
    return;
  }
  if (c->inflight == 0 && c->ready)
    c->arm_idle();
}

void dot_client::connected(connection& c) {
  c.ready = true;
  c.last_read = steady::now();
  c.timer.cancel();
  if (backoff_.succeeded())
    spdlog::info("roamd: DoT {}: TLS session established again", to_->name);
  c.read();
  c.flush();
  if (c.inflight == 0)
    c.arm_idle();
}

void dot_client::on_frame(connection& c, uint8_t* msg, size_t size) {
  if (size < dns::header_size)
    return;  // not a DNS message: nothing to match it with
  uint16_t id = dns::get16(msg);
  entry& e = table_[id & mask_];
  if (!e.used || e.id != id || e.conn != c.index)
    return;  // the late answer of a query given up
  e.used = false;
  --c.inflight;
  on_answer_(e.tag, msg, size);
}

void dot_client::end(connection& c, bool handshake_failed, const std::string& why, bool quiet) {
  if (!c.owner)
    return;
  c.owner = nullptr;
  bool was_ready = c.ready;
  c.shut();
  auto keep = std::move(conns_[c.index]);  // handlers hold it too; this keeps it until the end of this function
  if (handshake_failed) {
    if (backoff_.failed(rng_))
      spdlog::warn("roamd: DoT {}: {}; its queries fail over until a connection works", to_->name, why);
  } else if (!why.empty() && was_ready) {
    spdlog::debug("roamd: DoT {}: {} ({} queries in flight)", to_->name, why, c.inflight);
  }
  std::vector<uint64_t> tags;
  tags.swap(failed_);  // reused, and safe if a handler below ends another connection
  tags.clear();
  for (auto& e : table_)
    if (e.used && e.conn == c.index) {
      e.used = false;
      if (!quiet)
        tags.push_back(e.tag);
    }
  c.inflight = 0;
  for (uint64_t tag : tags)
    on_answer_(tag, nullptr, 0);
  failed_.swap(tags);
}

} // namespace roamd::net
