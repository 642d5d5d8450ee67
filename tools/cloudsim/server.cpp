// The only translation unit of cloudsim that includes Boost.Beast (heavy to compile): keep it that way.
#include "tools/cloudsim/server.hpp"

#include <ctime>
#include <optional>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "proto/json.hpp"
#include "tools/inspect/loopback.hpp"

namespace roamd::cloudsim {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using namespace std::chrono_literals;

bool parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

/// What identifies a version of a file without reading it.
struct file_stamp {
  timespec mtime{};
  off_t size = -1;
  ino_t inode = 0;
  bool operator==(const file_stamp& o) const {
    return mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec && size == o.size && inode == o.inode;
  }
};

file_stamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return {};
  return {st.st_mtim, st.st_size, st.st_ino};
}

} // namespace

struct server::impl {
  server_options opts;
  cloud_api& api;
  boost::asio::io_context ioc{1};
  ssl::context tls{ssl::context::tls_server};
  std::optional<tcp::acceptor> acceptor;
  boost::asio::signal_set signals{ioc, SIGINT, SIGTERM, SIGHUP};
  boost::asio::steady_timer retry{ioc};
  file_stamp policy_stamp;
  uint64_t saved_version = 0;
  size_t open = 0;
  std::chrono::steady_clock::time_point last_busy_log{};

  impl(server_options o, cloud_api& a) : opts(std::move(o)), api(a) {}

  /// Reads the policy file into the api when it changed since the last read (always when `force`). "" when the
  /// policy in force is the file's, else why the file was not taken (the previous policy stays).
  std::string reload_policy(bool force) {
    auto stamp = stamp_of(opts.policy_file);
    if (!force && stamp == policy_stamp)
      return "";
    policy_stamp = stamp;  // a bad file is reported once, not on every request
    proto::Policy p;
    auto why = proto::read_json_file(opts.policy_file, p);
    if (why.empty() && !(why = policy_problem(p)).empty())
      why = opts.policy_file + ": " + why;
    if (!why.empty())
      return why;
    if (p.revision() != api.policy().revision() || force)
      spdlog::info("policy revision {} from {}", p.revision(), opts.policy_file);
    api.set_policy(std::move(p));
    return "";
  }

  /// Writes the state file when the registered devices changed.
  void save_state() {
    if (opts.state_file.empty() || api.state_version() == saved_version)
      return;
    saved_version = api.state_version();
    if (auto why = proto::write_json_file(opts.state_file, api.state(), 0600); !why.empty())
      spdlog::error("devices not saved: {}", why);
  }

  http_response handle(const http_request& req) {
    if (auto why = reload_policy(false); !why.empty())
      spdlog::warn("still serving policy revision {}: {}", api.policy().revision(), why);
    auto res = api.handle(req, static_cast<int64_t>(std::time(nullptr)));
    save_state();
    return res;
  }

  void accept();
  void wait_signal();
};

namespace {

/// One TLS connection: handshake, then requests in turn (keep-alive) until the client closes or an error.
class session : public std::enable_shared_from_this<session> {
public:
  session(server::impl& s, tcp::socket sock) : s_(s), stream_(std::move(sock), s.tls), delay_(s.ioc) { ++s_.open; }
  ~session() { --s_.open; }

  void start() {
    lowest().expires_after(s_.opts.read_timeout);
    stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        spdlog::info("TLS handshake with {} failed: {}", self->peer(), ec.message());
        return self->lowest().close();
      }
      self->read();
    });
  }

private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  std::string peer() {
    beast::error_code ec;
    auto ep = lowest().socket().remote_endpoint(ec);
    return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(s_.opts.header_limit));
    parser_->body_limit(s_.opts.body_limit);
    lowest().expires_after(s_.opts.read_timeout);  // the whole request, however slowly it trickles in
    http::async_read(stream_, buf_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream)
      return shutdown();
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      return reply(error_response(431, "too_large", "request headers exceed " +
                                                        std::to_string(s_.opts.header_limit) + " bytes"), false);
    if (ec == http::error::body_limit)
      return reply(error_response(413, "too_large", "request bodies are limited to " +
                                                        std::to_string(s_.opts.body_limit) + " bytes"), false);
    if (ec && parse_error(ec) && ec != http::error::partial_message)
      return reply(error_response(400, "bad_request", "not an HTTP request: " + ec.message()), false);
    if (ec)  // timeout, or the client went away
      return lowest().close();

    const auto& req = parser_->get();
    http_request r;
    r.method = std::string{req.method_string()};
    r.target = std::string{req.target()};
    r.authorization = std::string{req[http::field::authorization]};
    r.if_none_match = std::string{req[http::field::if_none_match]};
    r.body = req.body();
    auto res = s_.handle(r);
    spdlog::info("{} {} {} -> {} ({} bytes)", peer(), r.method, r.target, res.status, res.body.size());
    bool keep = req.keep_alive();
    if (s_.opts.delay.count() == 0)
      return reply(std::move(res), keep);
    delay_.expires_after(s_.opts.delay);
    delay_.async_wait([self = shared_from_this(), res = std::move(res), keep](beast::error_code e) mutable {
      if (!e)
        self->reply(std::move(res), keep);
    });
  }

  void reply(http_response r, bool keep) {
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(r.status));
    for (const auto& [name, value] : r.headers)
      res_.set(name, value);
    res_.set(http::field::server, "cloudsim");
    res_.body() = std::move(r.body);
    res_.keep_alive(keep);
    res_.prepare_payload();
    lowest().expires_after(s_.opts.read_timeout + std::chrono::milliseconds(res_.body().size() >> 10));
    http::async_write(stream_, res_, [self = shared_from_this(), keep](beast::error_code ec, size_t) {
      if (ec)
        return self->lowest().close();
      keep ? self->read() : self->drain();
    });
  }

  /// Before closing after a refused request: reads (and drops) what the client is still sending, up to 1 MiB or
  /// a second, so that the close does not reset the connection before the client has read the answer.
  void drain() {
    if (drained_ > (1 << 20))
      return shutdown();
    if (drained_ == 0)
      lowest().expires_after(1s);
    scratch_.resize(16 << 10);
    stream_.async_read_some(boost::asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n + 1;
      ec ? self->shutdown() : self->drain();
    });
  }

  void shutdown() {
    lowest().expires_after(1s);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->lowest().close(); });
  }

  server::impl& s_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  boost::asio::steady_timer delay_;
  std::string scratch_;
  size_t drained_ = 0;
};

} // namespace

void server::impl::accept() {
  acceptor->async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
    if (ec == boost::asio::error::operation_aborted)
      return;
    if (!ec && open >= opts.max_connections) {
      if (auto now = std::chrono::steady_clock::now(); now - last_busy_log > 10s) {
        spdlog::warn("{} connections open; closing new ones", opts.max_connections);
        last_busy_log = now;
      }
      boost::system::error_code ignored;
      sock.close(ignored);
    } else if (!ec) {
      std::make_shared<session>(*this, std::move(sock))->start();
    } else {  // EMFILE and the like: try again shortly instead of spinning
      spdlog::warn("accept failed: {}", ec.message());
      retry.expires_after(100ms);
      return retry.async_wait([this](const boost::system::error_code& e) {
        if (!e)
          accept();
      });
    }
    accept();
  });
}

void server::impl::wait_signal() {
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec)
      return;
    if (sig != SIGHUP) {
      spdlog::info("stopping on signal {}", sig);
      return ioc.stop();
    }
    if (auto why = reload_policy(true); !why.empty())
      spdlog::warn("SIGHUP: still serving policy revision {}: {}", api.policy().revision(), why);
    wait_signal();
  });
}

server::server(server_options opts, cloud_api& api) : impl_(std::make_unique<impl>(std::move(opts), api)) {}

server::~server() = default;

std::string server::open(bool& config_error) {
  auto& i = *impl_;
  config_error = true;
  if (auto why = i.reload_policy(true); !why.empty())
    return why;
  try {
    i.tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    i.tls.use_certificate_chain_file(i.opts.cert);
    i.tls.use_private_key_file(i.opts.key, ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    return "--cert " + i.opts.cert + " / --key " + i.opts.key + ": " + e.code().message();
  }
  auto where = inspect::tcp_endpoint(i.opts.listen);
  if (!where)
    return "--listen " + i.opts.listen + ": not an \"IP:PORT\"";
  config_error = false;
  i.acceptor.emplace(i.ioc);
  if (auto err = inspect::listen_on(*i.acceptor, *where, i.opts.listen); !err.empty()) {
    i.acceptor.reset();
    return err;
  }
  i.saved_version = i.api.state_version();
  return "";
}

std::string server::url() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor->local_endpoint(ec);
  auto host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  return "https://" + host + ":" + std::to_string(ep.port());
}

void server::run() {
  auto& i = *impl_;
  i.accept();
  i.wait_signal();
  i.ioc.run();
}

} // namespace roamd::cloudsim
