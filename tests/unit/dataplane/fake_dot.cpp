#include "fake_dot.hpp"

#include <deque>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

namespace roamd::test {

namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

struct fake_dot_server::impl {
  impl(fake_dot_server& o, options opt) : owner(o), opts(std::move(opt)), acceptor(ctx) {
    tls.use_certificate_chain_file(opts.cert);
    tls.use_private_key_file(opts.key, ssl::context::pem);
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

  struct session : std::enable_shared_from_this<session> {
    session(impl& s, tcp::socket sock, bool first) : server(s), stream(std::move(sock), s.tls), first(first) {}
    impl& server;
    ssl::stream<tcp::socket> stream;
    bool first;
    bytes chunk = bytes(65536);  // one read: the plaintext of one TLS record at most (one SSL_read)
    bytes pending;               // what was read and is not a whole query yet
    bytes body;
    std::vector<bytes> held;
    std::deque<bytes> out;
    size_t seen = 0;
    bool ended = false;

    void start() {
      stream.async_handshake(ssl::stream_base::server, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec)
          return self->end();
        ++self->server.owner.handshakes_;
        self->server.owner.changed_.notify();
        self->read();
      });
    }
    void end() {
      if (ended)
        return;
      ended = true;
      boost::system::error_code ignored;
      stream.lowest_layer().close(ignored);
      ++server.owner.closed_;
      server.owner.changed_.notify();
    }
    // Reads a record at a time, as NSD does, and counts the records that carried more than one query.
    void read() {
      stream.async_read_some(boost::asio::buffer(chunk), [self = shared_from_this()](auto ec, size_t n) {
        if (ec)
          return self->end();
        self->pending.insert(self->pending.end(), self->chunk.begin(), self->chunk.begin() + n);
        size_t off = 0, whole = 0;
        while (self->pending.size() - off >= 2) {
          size_t len = static_cast<size_t>((self->pending[off] << 8) | self->pending[off + 1]);
          if (self->pending.size() - off < 2 + len)
            break;
          ++whole;
          self->body.assign(self->pending.begin() + off + 2, self->pending.begin() + off + 2 + len);
          off += 2 + len;
          self->on_query();
          if (self->ended)
            return;
        }
        self->pending.erase(self->pending.begin(), self->pending.begin() + off);
        if (whole > 1) {
          ++self->server.owner.shared_records_;
          self->server.owner.changed_.notify();
        }
        self->read();
      });
    }
    void on_query() {
      ++server.owner.queries_;
      server.owner.changed_.notify();
      ++seen;
      if (first && server.opts.close_first_after != 0 && seen >= server.opts.close_first_after)
        return end();  // mid-stream: what was read stays unanswered
      held.push_back(body);
      if (held.size() >= server.opts.batch) {
        bool idle = out.empty();  // else a write is in progress and goes on with these
        for (auto it = held.rbegin(); it != held.rend(); ++it) {  // newest first: out of order
          bytes a = server.opts.txt_size ? make_txt_answer(*it, server.opts.txt_size)
                                         : make_answer(*it, {server.opts.address});
          bytes framed{static_cast<uint8_t>(a.size() >> 8), static_cast<uint8_t>(a.size())};
          framed.insert(framed.end(), a.begin(), a.end());
          out.push_back(std::move(framed));
        }
        held.clear();
        if (idle)
          write();
      }
    }
    void write() {
      if (out.empty() || ended)
        return;
      boost::asio::async_write(stream, boost::asio::buffer(out.front()), [self = shared_from_this()](auto ec, size_t) {
        if (ec)
          return self->end();
        ++self->server.owner.answered_;
        self->server.owner.changed_.notify();
        self->out.pop_front();
        self->write();
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

  fake_dot_server& owner;
  options opts;
  boost::asio::io_context ctx;
  ssl::context tls{ssl::context::tls_server};
  tcp::acceptor acceptor;
  std::thread thread;
};

fake_dot_server::fake_dot_server(options opts) : impl_(std::make_unique<impl>(*this, std::move(opts))) {}

fake_dot_server::~fake_dot_server() = default;

std::string fake_dot_server::address() const {
  return "127.0.0.1:" + std::to_string(impl_->acceptor.local_endpoint().port());
}

} // namespace roamd::test
