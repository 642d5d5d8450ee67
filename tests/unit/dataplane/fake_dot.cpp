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
    uint8_t len[2] = {0, 0};
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
    void read() {
      boost::asio::async_read(stream, boost::asio::buffer(len), [self = shared_from_this()](auto ec, size_t) {
        if (ec)
          return self->end();
        self->body.resize(static_cast<size_t>((self->len[0] << 8) | self->len[1]));
        boost::asio::async_read(self->stream, boost::asio::buffer(self->body), [self](auto ec, size_t) {
          if (ec)
            return self->end();
          self->on_query();
        });
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
      read();
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
