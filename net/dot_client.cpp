// DNS over TLS to an upstream: the only translation unit of the data plane that includes Asio's SSL headers.
#include "net/dot_client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include "net/dns_wire.hpp"
#include "net/link_binding.hpp"

namespace roamd::net {

namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using steady = std::chrono::steady_clock;

class dot_tls {
public:
  ssl::context ctx{ssl::context::tls_client};
};

std::shared_ptr<dot_tls> make_dot_tls(const std::string& ca_file, std::string& error) {
  auto tls = std::make_shared<dot_tls>();
  SSL_CTX* ctx = tls->ctx.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  tls->ctx.set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    tls->ctx.set_default_verify_paths(ec);
    if (ec)
      error = "cannot use the system's certificate store: " + ec.message();
    return ec ? nullptr : tls;
  }
  if (FILE* f = std::fopen(ca_file.c_str(), "r")) {
    std::fclose(f);
  } else {
    error = "cannot read " + ca_file + ": " + std::strerror(errno);
    return nullptr;
  }
  tls->ctx.load_verify_file(ca_file, ec);
  if (ec || sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx))) == 0) {
    error = ca_file + " holds no PEM certificate" + (ec ? " (" + ec.message() + ")" : std::string{});
    return nullptr;
  }
  return tls;
}

std::shared_ptr<dot_tls> dot_tls_source::get(std::string* error) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!tls_ && error_.empty()) {
    tls_ = make_dot_tls(ca_file_, error_);
    if (!tls_)
      spdlog::error("roamd: DNS over TLS: {}; DoT resolvers fail every query", error_);
  }
  if (error)
    *error = error_;
  return tls_;
}

namespace {

/// Whether the SHA-256 of the SubjectPublicKeyInfo of one certificate of the verified chain is `pin`.
bool chain_matches_pin(SSL* ssl, const std::string& pin) {
  STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl);
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    unsigned char* der = nullptr;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(sk_X509_value(chain, i)), &der);
    if (n <= 0)
      continue;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    bool ok = EVP_Digest(der, static_cast<size_t>(n), md, &md_len, EVP_sha256(), nullptr) == 1;
    OPENSSL_free(der);
    if (ok && md_len == pin.size() && std::memcmp(md, pin.data(), md_len) == 0)
      return true;
  }
  return false;
}

/// Why a handshake failed, the certificate's own problem first ("certificate has expired", "hostname mismatch").
std::string handshake_failure(SSL* ssl, const boost::system::error_code& ec) {
  long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK)
    return std::string{"certificate refused: "} + X509_verify_cert_error_string(v);
  return "TLS handshake failed: " + ec.message();
}

} // namespace

/// One TLS connection. Its handlers hold it by shared_ptr; `owner` is cleared when it ends, after which they only
/// return.
struct dot_client::connection : std::enable_shared_from_this<connection> {
  connection(dot_client& o, uint8_t i) : owner(&o), index(i), stream(o.ctx_, o.tls_->ctx), timer(o.ctx_) {
    in.resize(16384 + 2);
  }

  dot_client* owner;
  uint8_t index;
  ssl::stream<tcp::socket> stream;
  boost::asio::steady_timer timer;  // the connect deadline, then the idle timer
  bool ready = false;
  bool write_busy = false;
  bool flush_posted = false;
  bool idle_armed = false;
  std::vector<uint8_t> out;      // framed queries waiting for the next write
  std::vector<uint8_t> writing;  // the write in progress
  std::vector<uint8_t> in;
  size_t in_len = 0;
  uint32_t inflight = 0;
  steady::time_point last_read{};
  steady::time_point idle_since{};

  void start();
  void schedule_flush();
  void flush();
  void read();
  void arm_idle();
  void wait_idle();
};

void dot_client::connection::start() {
  const upstream& to = *owner->to_;
  const dot_options& o = owner->opts_;
  auto self = shared_from_this();
  tcp::endpoint ep{to.endpoint.address(), to.endpoint.port()};
  auto& sock = stream.next_layer();
  boost::system::error_code ec;
  sock.open(ep.protocol(), ec);
  int err = ec ? ec.value() : 0;
  if (!err)
    set_socket_mark(sock.native_handle(), o.mark);  // a refusal is reported by the worker's UDP sockets
  if (!err && !o.link.empty())
    err = bind_to_link(sock.native_handle(), ep.address().is_v6(), o.link, link_index(o.link));
  if (err) {
    std::string why = "cannot open a socket: " + std::string{std::strerror(err)};
    boost::asio::post(owner->ctx_, [self, why] {
      if (self->owner)
        self->owner->end(*self, true, why);
    });
    return;
  }
  SSL* ssl = stream.native_handle();
  if (!to.tls_name.empty()) {
    SSL_set_tlsext_host_name(ssl, to.tls_name.c_str());
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, to.tls_name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ep.address().to_string().c_str());
  }
  timer.expires_after(o.timeout);
  timer.async_wait([self](const boost::system::error_code& ec) {
    if (!ec && self->owner && !self->ready)
      self->owner->end(*self, true, "no TLS session within " + std::to_string(self->owner->opts_.timeout.count()) +
                                        " ms");
  });
  sock.async_connect(ep, [self](const boost::system::error_code& ec) {
    if (!self->owner)
      return;
    if (ec)
      return self->owner->end(*self, true, "cannot connect: " + ec.message());
    boost::system::error_code ignored;
    self->stream.next_layer().set_option(tcp::no_delay{true}, ignored);  // writes are batched here already
    self->stream.async_handshake(ssl::stream_base::client, [self](const boost::system::error_code& ec) {
      if (!self->owner)
        return;
      SSL* ssl = self->stream.native_handle();
      if (ec)
        return self->owner->end(*self, true, handshake_failure(ssl, ec));
      const std::string& pin = self->owner->to_->tls_pin;
      if (!pin.empty() && !chain_matches_pin(ssl, pin))
        return self->owner->end(*self, true, "certificate refused: no key of its chain matches the pin");
      self->owner->connected(*self);
    });
  });
}

void dot_client::connection::schedule_flush() {
  if (!ready || write_busy || flush_posted)
    return;
  flush_posted = true;
  // After the handlers ready in this loop round: their queries leave together, in one TLS record where they fit.
  boost::asio::post(owner->ctx_, [self = shared_from_this()] {
    self->flush_posted = false;
    self->flush();
  });
}

void dot_client::connection::flush() {
  if (!owner || !ready || write_busy || out.empty())
    return;
  writing.swap(out);
  out.clear();
  write_busy = true;
  boost::asio::async_write(stream, boost::asio::buffer(writing),
                           [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
    self->write_busy = false;
    self->writing.clear();
    if (!self->owner)
      return;
    if (ec)
      return self->owner->end(*self, false, "write failed: " + ec.message());
    self->flush();
  });
}

void dot_client::connection::read() {
  stream.async_read_some(boost::asio::buffer(in.data() + in_len, in.size() - in_len),
                         [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
    auto& c = *self;
    if (!c.owner)
      return;
    if (ec) {
      bool closed = ec == boost::asio::error::eof || ec == ssl::error::stream_truncated;
      return c.owner->end(c, false, closed ? "closed by the resolver" : "read failed: " + ec.message());
    }
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

void dot_client::connection::arm_idle() {
  idle_since = steady::now();
  if (!idle_armed)
    wait_idle();
}

void dot_client::connection::wait_idle() {
  idle_armed = true;
  timer.expires_at(idle_since + owner->opts_.idle_timeout);
  timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    auto& c = *self;
    c.idle_armed = false;
    if (ec || !c.owner || !c.ready || c.inflight != 0)
      return;  // busy again: armed anew when its last query ends
    if (steady::now() - c.idle_since >= c.owner->opts_.idle_timeout)
      return c.owner->end(c, false, {}, true);
    c.wait_idle();  // it became idle again since: wait from then
  });
}

dot_client::dot_client(boost::asio::io_context& ctx, std::shared_ptr<dot_tls> tls, std::shared_ptr<const upstream> to,
                       dot_options opts, random_source& rng, answer_handler on_answer)
    : ctx_(ctx), tls_(std::move(tls)), to_(std::move(to)), opts_(std::move(opts)), rng_(rng),
      on_answer_(std::move(on_answer)) {
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
  if (steady::now() < retry_at_)
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
  backoff_ = std::chrono::milliseconds{0};
  if (failing_) {
    failing_ = false;
    spdlog::info("roamd: DoT {}: TLS session established again", to_->name);
  }
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
  c.ready = false;
  boost::system::error_code ignored;
  c.stream.lowest_layer().close(ignored);
  c.timer.cancel();
  auto keep = std::move(conns_[c.index]);  // handlers hold it too; this keeps it until the end of this function
  if (handshake_failed) {
    auto next = backoff_.count() == 0 ? opts_.backoff : std::min(backoff_ * 2, opts_.max_backoff);
    backoff_ = next;
    // Half to all of the backoff, so that workers (and machines) do not reconnect in step.
    auto half = static_cast<uint32_t>(next.count() / 2);
    retry_at_ = steady::now() + std::chrono::milliseconds(half + rng_.below(half + 1));
    if (!failing_) {
      failing_ = true;
      spdlog::warn("roamd: DoT {}: {}; its queries fail over until a connection works", to_->name, why);
    }
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
