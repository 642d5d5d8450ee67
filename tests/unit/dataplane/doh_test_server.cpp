#include "doh_test_server.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <nghttp2/nghttp2.h>

namespace roamd::test {

namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

nghttp2_nv header(const std::string& name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

} // namespace

struct fake_doh_server::impl {
  impl(fake_doh_server& o, options opt) : owner(o), opts(std::move(opt)), acceptor(ctx) {
    tls.use_certificate_chain_file(opts.cert);
    tls.use_private_key_file(opts.key, ssl::context::pem);
    SSL_CTX_set_alpn_select_cb(tls.native_handle(), select_alpn, this);
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen();
    accept();
    thread = std::thread([this] { ctx.run(); });
  }
  ~impl() {
    ctx.stop();
    thread.join();
  }

  /// h2 when the client offers it and the server is to speak it; otherwise no ALPN at all (an HTTP/1.1 server).
  static int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                         unsigned int inlen, void* arg) {
    auto* s = static_cast<impl*>(arg);
    for (unsigned i = 0; s->opts.alpn == "h2" && i < inlen; i += 1u + in[i])
      if (std::string(reinterpret_cast<const char*>(in + i + 1), in[i]) == "h2") {
        *out = in + i + 1;
        *outlen = in[i];
        return SSL_TLSEXT_ERR_OK;
      }
    return SSL_TLSEXT_ERR_NOACK;
  }

  struct request {
    std::string method, path, content_type, accept, authority;
    bytes body;
    bytes answer;
    size_t sent = 0;
  };

  struct session : std::enable_shared_from_this<session> {
    session(impl& s, tcp::socket sock, bool first) : server(s), stream(std::move(sock), s.tls), first(first) {}
    ~session() {
      if (h2)
        nghttp2_session_del(h2);
    }
    impl& server;
    ssl::stream<tcp::socket> stream;
    bool first;
    nghttp2_session* h2 = nullptr;
    std::map<int32_t, request> reqs;
    std::vector<int32_t> held;
    size_t open = 0;
    size_t seen = 0;
    bool ended = false;
    bool writing = false;
    std::vector<uint8_t> out, in = std::vector<uint8_t>(16384);

    fake_doh_server& counters() { return server.owner; }

    void start() {
      stream.async_handshake(ssl::stream_base::server, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec)
          return self->end();
        ++self->counters().sessions_;
        self->counters().changed_.notify();
        if (!self->make_session())
          return self->end();
        self->send();
        self->read();
      });
    }
    bool make_session() {
      nghttp2_session_callbacks* cb;
      nghttp2_session_callbacks_new(&cb);
      nghttp2_session_callbacks_set_on_begin_headers_callback(cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
        auto* s = static_cast<session*>(u);
        if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
          s->reqs[f->hd.stream_id];
          ++s->open;
          auto& m = s->counters().max_open_;
          m = std::max(m.load(), s->open);
        }
        return 0;
      });
      nghttp2_session_callbacks_set_on_header_callback(
          cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v, size_t vl,
                 uint8_t, void* u) {
            auto* s = static_cast<session*>(u);
            auto it = s->reqs.find(f->hd.stream_id);
            if (it == s->reqs.end())
              return 0;
            std::string name(reinterpret_cast<const char*>(n), nl), value(reinterpret_cast<const char*>(v), vl);
            auto& r = it->second;
            if (name == ":method") r.method = value;
            else if (name == ":path") r.path = value;
            else if (name == ":authority") r.authority = value;
            else if (name == "content-type") r.content_type = value;
            else if (name == "accept") r.accept = value;
            return 0;
          });
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
          cb, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t len, void* u) {
            auto* s = static_cast<session*>(u);
            auto it = s->reqs.find(id);
            if (it != s->reqs.end())
              it->second.body.insert(it->second.body.end(), d, d + len);
            return 0;
          });
      nghttp2_session_callbacks_set_on_frame_recv_callback(cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
        auto* s = static_cast<session*>(u);
        if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
            s->reqs.count(f->hd.stream_id))
          s->on_request(f->hd.stream_id);
        return 0;
      });
      nghttp2_session_callbacks_set_on_stream_close_callback(cb, [](nghttp2_session*, int32_t id, uint32_t code,
                                                                    void* u) {
        auto* s = static_cast<session*>(u);
        if (s->reqs.erase(id)) {
          --s->open;
          if (code == NGHTTP2_CANCEL) {
            ++s->counters().resets_;
            s->counters().changed_.notify();
          }
        }
        s->held.erase(std::remove(s->held.begin(), s->held.end(), id), s->held.end());
        return 0;
      });
      int rv = nghttp2_session_server_new(&h2, cb, this);
      nghttp2_session_callbacks_del(cb);
      if (rv != 0)
        return false;
      nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, server.opts.max_streams}};
      return nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, iv, 1) == 0;
    }

    void on_request(int32_t id) {
      if (ended)
        return;  // read with the request that ended the connection: never seen
      auto& r = reqs[id];
      auto& c = counters();
      ++c.requests_;
      {
        std::lock_guard<std::mutex> g{c.mtx_};
        c.authority_ = r.authority;
        c.path_ = r.path;
      }
      bool well_formed = r.method == "POST" && !r.path.empty() && r.path[0] == '/' &&
                         r.content_type == "application/dns-message" && r.accept == "application/dns-message" &&
                         r.body.size() >= 12 && r.body[0] == 0 && r.body[1] == 0;
      if (!well_formed)
        ++c.bad_requests_;
      c.changed_.notify();
      ++seen;
      const options& o = server.opts;
      if (first && o.close_first_after != 0 && seen >= o.close_first_after)
        return end();  // mid-stream: what was read stays unanswered
      if (first && o.goaway_first_after != 0 && seen == o.goaway_first_after)
        nghttp2_submit_goaway(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, nullptr, 0);
      held.push_back(id);
      if (held.size() < o.batch)
        return;
      for (auto it = held.rbegin(); it != held.rend(); ++it)  // newest first: out of order
        respond(*it);
      held.clear();
    }

    void respond(int32_t id) {
      auto& r = reqs[id];
      const options& o = server.opts;
      r.answer = r.body.size() >= 12 ? make_answer(r.body, {o.address}) : bytes(12, 0);
      if (o.body_size > r.answer.size())
        r.answer.resize(o.body_size, 0);
      std::string status = std::to_string(o.status), length = std::to_string(r.answer.size());
      std::string names[] = {":status", "content-type", "content-length"};
      nghttp2_nv nva[] = {header(names[0], status), header(names[1], o.content_type), header(names[2], length)};
      nghttp2_data_provider prd{};
      prd.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                             nghttp2_data_source*, void* u) -> ssize_t {
        auto* s = static_cast<session*>(u);
        auto it = s->reqs.find(id);
        if (it == s->reqs.end())
          return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        auto& r = it->second;
        size_t n = std::min(len, r.answer.size() - r.sent);
        std::copy_n(r.answer.begin() + static_cast<std::ptrdiff_t>(r.sent), n, buf);
        r.sent += n;
        if (r.sent == r.answer.size())
          *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
      nghttp2_submit_response(h2, id, nva, 3, &prd);
      ++counters().answered_;
      counters().changed_.notify();
    }

    void end() {
      if (ended)
        return;
      ended = true;
      boost::system::error_code ignored;
      stream.lowest_layer().close(ignored);
      ++counters().closed_;
      counters().changed_.notify();
    }
    void read() {
      stream.async_read_some(boost::asio::buffer(in), [self = shared_from_this()](auto ec, size_t n) {
        if (ec || self->ended)
          return self->end();
        if (nghttp2_session_mem_recv(self->h2, self->in.data(), n) < 0)
          return self->end();
        if (self->ended)
          return;
        self->send();
        self->read();
      });
    }
    void send() {
      if (writing || ended)
        return;
      for (;;) {
        const uint8_t* data;
        ssize_t n = nghttp2_session_mem_send(h2, &data);
        if (n <= 0)
          break;
        out.insert(out.end(), data, data + n);
      }
      if (out.empty())
        return;
      writing = true;
      auto buf = std::make_shared<std::vector<uint8_t>>(std::move(out));
      out.clear();
      boost::asio::async_write(stream, boost::asio::buffer(*buf), [self = shared_from_this(), buf](auto ec, size_t) {
        self->writing = false;
        if (ec)
          return self->end();
        self->send();
      });
    }
  };

  void accept() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
      if (ec)
        return;
      bool first = owner.connections_++ == 0;
      owner.changed_.notify();
      std::make_shared<session>(*this, std::move(sock), first)->start();
      accept();
    });
  }

  fake_doh_server& owner;
  options opts;
  boost::asio::io_context ctx;
  ssl::context tls{ssl::context::tls_server};
  tcp::acceptor acceptor;
  std::thread thread;
};

fake_doh_server::fake_doh_server(options opts) : impl_(std::make_unique<impl>(*this, std::move(opts))) {}

fake_doh_server::~fake_doh_server() = default;

std::string fake_doh_server::address() const {
  return "127.0.0.1:" + std::to_string(impl_->acceptor.local_endpoint().port());
}

std::string fake_doh_server::last_authority() const {
  std::lock_guard<std::mutex> g{mtx_};
  return authority_;
}

std::string fake_doh_server::last_path() const {
  std::lock_guard<std::mutex> g{mtx_};
  return path_;
}

} // namespace roamd::test
