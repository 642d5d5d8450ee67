// DNS over HTTPS (RFC 8484) to an upstream: HTTP/2 by nghttp2 over the TLS session of net/tls_upstream.hpp.
#include "net/doh_client.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>
#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include "net/dns_wire.hpp"
#include "net/endpoint.hpp"
#include "net/tls_upstream.hpp"

namespace roamd::net {

using steady = std::chrono::steady_clock;

namespace {

constexpr std::string_view dns_message = "application/dns-message";

nghttp2_nv header(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};  // nghttp2 copies both
}

/// A content-type's media type, lower case, without parameters or spaces.
std::string media_type(std::string_view value) {
  value = value.substr(0, value.find(';'));
  std::string out;
  for (char c : value)
    if (c != ' ' && c != '\t')
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  return out;
}

} // namespace

/// One HTTP/2 connection (see tls_connection). nghttp2's callbacks only record (results, flags); queries are
/// reported after nghttp2 returns.
struct doh_client::connection : tls_connection<connection> {
  struct query {
    uint16_t id = 0;             // the DNS ID of the query as given: restored in its answer
    int32_t stream = 0;          // 0 until submitted
    std::vector<uint8_t> wire;   // as sent: the ID is 0
    size_t sent = 0;             // bytes of `wire` handed to nghttp2
    int status = 0;
    std::string content_type;
    std::vector<uint8_t> body;
  };
  struct result {
    uint64_t tag = 0;
    std::vector<uint8_t> msg;  // the answer, or empty
    failure why = failure::none;
    std::string reason;
  };

  connection(doh_client& o, uint8_t i) : tls_connection(o.ctx_, *o.tls_), owner(&o), index(i) {
    in.resize(16384);
  }
  ~connection() {
    if (session) {
      nghttp2_session_set_user_data(session, nullptr);
      nghttp2_session_del(session);
    }
  }

  doh_client* owner;
  uint8_t index;
  nghttp2_session* session = nullptr;
  bool settings = false;  // the server's SETTINGS arrived: requests are submitted from then on
  bool draining = false;  // GOAWAY received, or out of stream ids: takes no new query
  std::vector<uint8_t> in;
  std::unordered_map<uint64_t, query> queries;  // by tag
  std::unordered_map<int32_t, uint64_t> tag_of;  // stream id -> tag
  std::vector<uint64_t> unsubmitted;             // tags waiting for the server's SETTINGS
  std::vector<result> results;                   // ended while nghttp2 ran: reported after it returns

  bool idle() const {
    return queries.empty();
  }
  /// How many queries it takes: max_inflight, and no more than the server's SETTINGS_MAX_CONCURRENT_STREAMS once
  /// known (before, nghttp2 holds the surplus until streams free up).
  size_t capacity() const {
    size_t cap = owner->opts_.max_inflight;
    if (settings)
      cap = std::min<size_t>(cap, std::max<uint32_t>(1, nghttp2_session_get_remote_settings(
                                                            session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)));
    return cap;
  }
  bool make_session();
  void start();
  /// Hands query `tag` to nghttp2; false (the query removed) when no stream id is left.
  bool submit(uint64_t tag);
  /// Ends query `tag` with a result to report, resetting its stream if it is open.
  void finish(uint64_t tag, failure why, std::string reason, bool reset);
  query* find(int32_t stream_id);
  void flush();
  void read();

  static connection* of(void* user_data) {
    auto* c = static_cast<connection*>(user_data);
    return c && c->owner ? c : nullptr;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user_data);
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_data(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len, void* user_data);
  static int on_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user_data);
  static ssize_t read_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source*, void* user_data);
};

bool doh_client::connection::make_session() {
  nghttp2_session_callbacks* cb = nullptr;
  if (nghttp2_session_callbacks_new(&cb) != 0)
    return false;
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  int rv = nghttp2_session_client_new(&session, cb, this);
  nghttp2_session_callbacks_del(cb);
  if (rv != 0)
    return false;
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  return nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, iv, 1) == 0;
}

void doh_client::connection::start() {
  auto self = shared_from_this();
  if (!make_session()) {
    boost::asio::post(owner->ctx_, [self] {
      if (self->owner)
        self->owner->end(*self, true, "cannot make an HTTP/2 session");
    });
    return;
  }
  const doh_options& o = owner->opts_;
  tls_connect(stream, timer, *owner->to_, {o.timeout, o.link, o.mark, "h2"}, [self](const std::string& why) {
    if (!self->owner)
      return;
    if (!why.empty())
      return self->owner->end(*self, true, why);
    self->owner->connected(*self);
  });
}

bool doh_client::connection::submit(uint64_t tag) {
  query& q = queries[tag];
  std::string length = std::to_string(q.wire.size());
  const upstream& to = *owner->to_;
  nghttp2_nv nva[] = {header(":method", "POST"),
                      header(":scheme", "https"),
                      header(":authority", owner->authority_),
                      header(":path", to.https_path),
                      header("content-type", dns_message),
                      header("accept", dns_message),
                      header("content-length", length)};
  nghttp2_data_provider body{};
  body.read_callback = read_body;
  int32_t id = nghttp2_submit_request(session, nullptr, nva, sizeof nva / sizeof nva[0], &body, nullptr);
  if (id < 0) {
    draining = true;  // NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE: the next query opens a new connection
    queries.erase(tag);
    return false;
  }
  q.stream = id;
  tag_of[id] = tag;
  return true;
}

void doh_client::connection::finish(uint64_t tag, failure why, std::string reason, bool reset) {
  auto it = queries.find(tag);
  if (it == queries.end())
    return;
  result r{tag, {}, why, std::move(reason)};
  if (why == failure::none) {
    r.msg = std::move(it->second.body);
    dns::put16(r.msg.data(), it->second.id);  // the query's own ID (0 on the wire)
  }
  if (it->second.stream != 0) {
    if (reset)
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, it->second.stream, NGHTTP2_CANCEL);
    tag_of.erase(it->second.stream);
  }
  queries.erase(it);
  results.push_back(std::move(r));
}

doh_client::connection::query* doh_client::connection::find(int32_t stream_id) {
  auto t = tag_of.find(stream_id);
  if (t == tag_of.end())
    return nullptr;
  auto q = queries.find(t->second);
  return q == queries.end() ? nullptr : &q->second;
}

int doh_client::connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                                      void* user_data) {
  connection* c = of(user_data);
  query* q = c && frame->hd.type == NGHTTP2_HEADERS ? c->find(frame->hd.stream_id) : nullptr;
  if (!q)
    return 0;
  std::string_view n{reinterpret_cast<const char*>(name), namelen};
  std::string_view v{reinterpret_cast<const char*>(value), valuelen};
  if (n == ":status") {
    q->status = 0;
    for (char ch : v)
      q->status = ch >= '0' && ch <= '9' && q->status < 1000 ? q->status * 10 + (ch - '0') : 1000;
  } else if (n == "content-type") {
    q->content_type = media_type(v);
  }
  return 0;
}

int doh_client::connection::on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  connection* c = of(user_data);
  if (!c)
    return 0;
  switch (frame->hd.type) {
  case NGHTTP2_SETTINGS:
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !c->settings) {
      // From here nghttp2 knows the server's SETTINGS_MAX_CONCURRENT_STREAMS, and holds requests beyond it.
      c->settings = true;
      std::vector<uint64_t> tags;
      tags.swap(c->unsubmitted);
      for (uint64_t tag : tags)
        if (!c->submit(tag))
          c->results.push_back({tag, {}, failure::transport, "no HTTP/2 stream id left"});
    }
    break;
  case NGHTTP2_GOAWAY:
    // Streams above its last stream id are closed by nghttp2 (REFUSED_STREAM) and fail over; the rest finish.
    c->draining = true;
    break;
  case NGHTTP2_HEADERS: {
    query* q = c->find(frame->hd.stream_id);
    if (!q || q->status == 0)
      break;
    uint64_t tag = c->tag_of[frame->hd.stream_id];
    if (q->status >= 100 && q->status < 200) {
      q->status = 0;  // informational: the final response follows
    } else if (q->status != 200) {
      c->finish(tag, failure::bad_answer, "HTTP status " + std::to_string(q->status) + " (not 200)", true);
    } else if (q->content_type != dns_message) {
      c->finish(tag, failure::bad_answer,
                "content-type \"" + q->content_type + "\", not " + std::string{dns_message}, true);
    }
    break;
  }
  default:
    break;
  }
  return 0;
}

int doh_client::connection::on_data(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                                    void* user_data) {
  connection* c = of(user_data);
  query* q = c ? c->find(stream_id) : nullptr;
  if (!q)
    return 0;  // a stream given up: nghttp2 still counts its bytes for flow control
  if (q->body.size() + len > c->owner->opts_.max_body) {
    c->finish(c->tag_of[stream_id], failure::bad_answer,
              "answer body larger than " + std::to_string(c->owner->opts_.max_body) + " bytes", true);
    return 0;
  }
  q->body.insert(q->body.end(), data, data + len);
  return 0;
}

int doh_client::connection::on_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user_data) {
  connection* c = of(user_data);
  query* q = c ? c->find(stream_id) : nullptr;
  if (!q)
    return 0;
  uint64_t tag = c->tag_of[stream_id];
  if (error_code != NGHTTP2_NO_ERROR || q->status != 200)
    c->finish(tag, failure::transport,
              std::string{"stream reset by the resolver: "} + nghttp2_http2_strerror(error_code), false);
  else if (q->body.size() < dns::header_size)
    c->finish(tag, failure::bad_answer,
              "answer body of " + std::to_string(q->body.size()) + " bytes is not a DNS message", false);
  else
    c->finish(tag, failure::none, {}, false);
  return 0;
}

ssize_t doh_client::connection::read_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                                          uint32_t* flags, nghttp2_data_source*, void* user_data) {
  connection* c = of(user_data);
  query* q = c ? c->find(stream_id) : nullptr;
  if (!q)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // given up meanwhile: nghttp2 resets the stream
  size_t n = std::min(length, q->wire.size() - q->sent);
  std::memcpy(buf, q->wire.data() + q->sent, n);
  q->sent += n;
  if (q->sent == q->wire.size())
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

void doh_client::connection::flush() {
  if (!owner || !ready || write_busy)
    return;
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0)
      return owner->end(*this, false, std::string{"HTTP/2 error: "} + nghttp2_strerror(static_cast<int>(n)));
    if (n == 0)
      break;
    out.insert(out.end(), data, data + n);
  }
  owner->report(*this);
  write_out();
}

void doh_client::connection::read() {
  stream.async_read_some(boost::asio::buffer(in), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                              size_t n) {
    auto& c = *self;
    if (!c.owner)
      return;
    if (ec)
      return c.owner->end(c, false, read_failure(ec));
    c.last_read = steady::now();
    ssize_t rv = nghttp2_session_mem_recv(c.session, c.in.data(), n);
    c.owner->report(c);
    if (!c.owner)
      return;
    if (rv < 0)
      return c.owner->end(c, false, std::string{"HTTP/2 error: "} + nghttp2_strerror(static_cast<int>(rv)));
    c.flush();  // SETTINGS and PING acknowledgements, window updates, resets
    if (!c.owner)
      return;
    if (c.queries.empty() && (c.draining || !nghttp2_session_want_read(c.session)))
      return c.owner->end(c, false, {}, true);  // after a GOAWAY, nothing left to wait for
    if (c.queries.empty())
      c.arm_idle();
    c.read();
  });
}

doh_client::doh_client(boost::asio::io_context& ctx, std::shared_ptr<dot_tls> tls, std::shared_ptr<const upstream> to,
                       doh_options opts, random_source& rng, answer_handler on_answer)
    : ctx_(ctx), tls_(std::move(tls)), to_(std::move(to)), opts_(std::move(opts)), rng_(rng),
      on_answer_(std::move(on_answer)), backoff_(opts_.backoff, opts_.max_backoff) {
  opts_.max_connections = std::clamp<uint32_t>(opts_.max_connections, 1, 255);
  opts_.max_inflight = std::clamp<uint32_t>(opts_.max_inflight, 1, 16384);
  conns_.resize(opts_.max_connections);
  // The certificate's name, else the address ("[v6]" in brackets); the port only when it is not 443.
  auto ep = to_string(to_->endpoint);  // "IP:PORT" or "[IPv6]:PORT"
  std::string host = ep.substr(0, ep.rfind(':'));
  authority_ = (to_->tls_name.empty() ? host : to_->tls_name) +
               (to_->endpoint.port() == 443 ? "" : ":" + std::to_string(to_->endpoint.port()));
}

doh_client::~doh_client() {
  close();
}

void doh_client::close() {
  for (auto& c : conns_)
    if (c)
      end(*c, false, {}, true);
}

doh_client::connection* doh_client::pick_connection() {
  for (auto& c : conns_)
    if (c && !c->draining && c->queries.size() < c->capacity())
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

bool doh_client::send(const uint8_t* wire, size_t size, uint64_t tag) {
  if (size < dns::header_size || size > 65535 || conn_of_.count(tag))
    return false;
  connection* c = pick_connection();
  if (!c)
    return false;
  auto& q = c->queries[tag];
  q.id = dns::get16(wire);
  q.wire.assign(wire, wire + size);
  dns::put16(q.wire.data(), 0);  // RFC 8484 §4.1
  if (c->settings) {
    if (!c->submit(tag))
      return false;
  } else {
    c->unsubmitted.push_back(tag);
  }
  conn_of_[tag] = c->index;
  c->schedule_flush();
  return true;
}

void doh_client::forget(uint64_t tag, bool timed_out) {
  auto it = conn_of_.find(tag);
  if (it == conn_of_.end())
    return;
  auto c = conns_[it->second];  // the connection of a query in flight is always the current one at its index
  conn_of_.erase(it);
  if (!c)
    return;
  auto q = c->queries.find(tag);
  if (q == c->queries.end())
    return;
  if (q->second.stream != 0) {
    nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, q->second.stream, NGHTTP2_CANCEL);
    c->tag_of.erase(q->second.stream);
  } else {
    c->unsubmitted.erase(std::remove(c->unsubmitted.begin(), c->unsubmitted.end(), tag), c->unsubmitted.end());
  }
  c->queries.erase(q);
  c->schedule_flush();
  if (timed_out && c->ready && steady::now() - c->last_read >= opts_.timeout) {
    // Requests go out and nothing comes back: a dead path the kernel has not noticed. Reset it (from a fresh
    // handler); the next query connects anew.
    boost::asio::post(ctx_, [c] {
      if (c->owner)
        c->owner->end(*c, false, "no answer within " + std::to_string(c->owner->opts_.timeout.count()) +
                                     " ms: connection reset");
    });
    return;
  }
  if (c->queries.empty() && c->ready)
    c->arm_idle();
}

void doh_client::connected(connection& c) {
  c.ready = true;
  c.last_read = steady::now();
  if (backoff_.succeeded())
    spdlog::info("roamd: DoH {}: HTTP/2 session established again", to_->name);
  c.read();
  c.flush();
  if (c.owner && c.queries.empty())
    c.arm_idle();
}

void doh_client::report(connection& c) {
  std::vector<connection::result> results;
  results.swap(c.results);
  for (auto& r : results) {
    conn_of_.erase(r.tag);
    if (r.why == failure::none) {
      stream_error_.clear();
      on_answer_(r.tag, r.msg.data(), r.msg.size(), failure::none);
      continue;
    }
    if (r.why == failure::bad_answer && r.reason != stream_error_) {
      stream_error_ = r.reason;
      spdlog::warn("roamd: DoH {}: {}; the query fails over", to_->name, r.reason);
    } else if (r.why == failure::transport) {
      spdlog::debug("roamd: DoH {}: {}", to_->name, r.reason);
    }
    on_answer_(r.tag, nullptr, 0, r.why);
  }
}

void doh_client::end(connection& c, bool connect_failed, const std::string& why, bool quiet) {
  if (!c.owner)
    return;
  c.draining = true;  // a retry made while the results below are reported goes to another connection
  if (quiet)
    c.results.clear();
  else
    report(c);  // what ended before this (answers included) is reported as it ended
  if (!c.owner)
    return;
  c.owner = nullptr;
  bool was_ready = c.ready;
  c.shut();
  auto keep = std::move(conns_[c.index]);  // handlers hold it too; this keeps it until the end of this function
  if (connect_failed) {
    if (backoff_.failed(rng_))
      spdlog::warn("roamd: DoH {}: {}; its queries fail over until a connection works", to_->name, why);
  } else if (!why.empty() && was_ready) {
    spdlog::debug("roamd: DoH {}: {} ({} queries in flight)", to_->name, why, c.queries.size());
  }
  std::vector<uint64_t> tags;
  for (auto& [tag, q] : c.queries) {
    conn_of_.erase(tag);
    if (!quiet)
      tags.push_back(tag);
  }
  c.queries.clear();
  c.tag_of.clear();
  c.unsubmitted.clear();
  for (uint64_t tag : tags)
    on_answer_(tag, nullptr, 0, failure::transport);
}

} // namespace roamd::net
