#include "net/https_client.hpp"

#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace roamd::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

bool is_port(const std::string& s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto n = std::stoul(s);
  return n >= 1 && n <= 65535;
}

bool is_host_name(const std::string& s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-')
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'))
      return false;
  return s.find("..") == std::string::npos;
}

} // namespace

std::optional<https_url> parse_https_url(const std::string& text, std::string* why) {
  auto fail = [&](const std::string& reason) -> std::optional<https_url> {
    if (why)
      *why = reason;
    return std::nullopt;
  };
  constexpr std::string_view scheme = "https://";
  if (text.size() < scheme.size() ||
      !std::equal(scheme.begin(), scheme.end(), text.begin(), [](char a, char b) { return a == std::tolower(b); }))
    return fail("expected an https:// URL");
  auto rest = text.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  https_url u;
  u.path = slash == std::string::npos ? "" : rest.substr(slash);
  if (u.path.find_first_of("?#") != std::string::npos)
    return fail("the URL may not carry a query or a fragment");
  if (u.path.find_first_of(" \t\r\n") != std::string::npos)
    return fail("the URL's path may not contain white space");
  while (!u.path.empty() && u.path.back() == '/')
    u.path.pop_back();
  if (authority.find('@') != std::string::npos)
    return fail("the URL may not carry user information");
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      return fail("unclosed '[' in the URL's host");
    u.host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return fail("expected ':PORT' after the bracketed IPv6 address");
      port = after.substr(1);
    }
    boost::system::error_code ec;
    asio::ip::make_address_v6(u.host, ec);
    if (ec)
      return fail("'" + u.host + "' in brackets is not an IPv6 address");
    u.host_is_ip = true;
  } else {
    auto colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos)
      port = authority.substr(colon + 1);
    boost::system::error_code ec;
    asio::ip::make_address_v4(u.host, ec);
    u.host_is_ip = !ec;
    if (!u.host_is_ip && !is_host_name(u.host))
      return fail(u.host.empty() ? "the URL has no host" : "'" + u.host + "' is not a host name or an IPv4 address");
  }
  if (port.empty() && authority.find(':') != std::string::npos && authority.front() != '[')
    return fail("empty port in the URL");
  u.port = port.empty() ? "443" : port;
  if (!is_port(u.port))
    return fail("'" + u.port + "' is not a port (1-65535)");
  return u;
}

namespace {

class client_impl;

/// One request on its own connection: resolve, connect, handshake, write, read; the whole under one deadline.
class exchange : public std::enable_shared_from_this<exchange> {
public:
  exchange(client_impl& c, https_request req, std::function<void(https_response)> done);
  void start();

private:
  void fail(const std::string& what, const boost::system::error_code& ec);
  void finish(https_response r);
  void on_resolved(const boost::system::error_code& ec, const tcp::resolver::results_type& results);
  void on_connected(const boost::system::error_code& ec);
  void on_handshake(const boost::system::error_code& ec);
  void on_written(const boost::system::error_code& ec);
  void on_read(const boost::system::error_code& ec);

  client_impl& c_;
  https_request req_;
  std::function<void(https_response)> done_;
  tcp::resolver resolver_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  asio::steady_timer deadline_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> http_req_;
  http::response_parser<http::string_body> parser_;
  bool finished_ = false;
  bool timed_out_ = false;
};

class client_impl final : public https_client {
public:
  client_impl(https_options opts, https_url url) : opts_(std::move(opts)), url_(std::move(url)) {}

  ~client_impl() override {
    work_.reset();
    io_.stop();
    if (thread_.joinable())
      thread_.join();
  }

  bool init(std::string& error) {
    ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(ctx_.native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    if (opts_.ca_file.empty())
      ctx_.set_default_verify_paths(ec);
    else
      ctx_.load_verify_file(opts_.ca_file, ec);
    if (ec) {
      error = (opts_.ca_file.empty() ? std::string{"the system's CA store"} : opts_.ca_file) + ": " + ec.message();
      return false;
    }
    ctx_.set_verify_mode(ssl::verify_peer);
    thread_ = std::thread{[this] { io_.run(); }};
    return true;
  }

  void request(https_request req, std::function<void(https_response)> done) override {
    asio::post(io_, [this, req = std::move(req), done = std::move(done)]() mutable {
      std::make_shared<exchange>(*this, std::move(req), std::move(done))->start();
    });
  }

  https_options opts_;
  https_url url_;
  asio::io_context io_;
  ssl::context ctx_{ssl::context::tls_client};

private:
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{asio::make_work_guard(io_)};
  std::thread thread_;
};

exchange::exchange(client_impl& c, https_request req, std::function<void(https_response)> done)
    : c_(c), req_(std::move(req)), done_(std::move(done)), resolver_(c.io_), stream_(c.io_, c.ctx_), deadline_(c.io_) {
  parser_.body_limit(c_.opts_.body_limit);
  parser_.header_limit(static_cast<uint32_t>(c_.opts_.header_limit));
}

void exchange::start() {
  auto self = shared_from_this();
  deadline_.expires_after(c_.opts_.timeout);
  deadline_.async_wait([self](const boost::system::error_code& ec) {
    if (ec || self->finished_)
      return;
    self->timed_out_ = true;
    self->resolver_.cancel();
    beast::get_lowest_layer(self->stream_).close();
  });
  auto* ssl = stream_.native_handle();
  const auto& host = c_.url_.host;
  if (c_.url_.host_is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    SSL_set1_host(ssl, host.c_str());
  }
  resolver_.async_resolve(host, c_.url_.port,
                          [self](const boost::system::error_code& ec, const tcp::resolver::results_type& r) {
                            self->on_resolved(ec, r);
                          });
}

void exchange::fail(const std::string& what, const boost::system::error_code& ec) {
  https_response r;
  if (timed_out_)
    r.error = what + ": timed out after " + std::to_string(c_.opts_.timeout.count()) + " ms";
  else
    r.error = what + ": " + ec.message();
  finish(std::move(r));
}

void exchange::finish(https_response r) {
  if (finished_)
    return;
  finished_ = true;
  deadline_.cancel();
  boost::system::error_code ignored;
  beast::get_lowest_layer(stream_).socket().close(ignored);
  if (done_)
    done_(std::move(r));
}

void exchange::on_resolved(const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
  if (ec)
    return fail("resolving " + c_.url_.host, ec);
  auto self = shared_from_this();
  beast::get_lowest_layer(stream_).async_connect(
    results, [self](const boost::system::error_code& e, const tcp::endpoint&) { self->on_connected(e); });
}

void exchange::on_connected(const boost::system::error_code& ec) {
  if (ec)
    return fail("connecting to " + c_.url_.host + ":" + c_.url_.port, ec);
  auto self = shared_from_this();
  stream_.async_handshake(ssl::stream_base::client, [self](const boost::system::error_code& e) { self->on_handshake(e); });
}

void exchange::on_handshake(const boost::system::error_code& ec) {
  if (ec) {
    auto verify = SSL_get_verify_result(stream_.native_handle());
    if (verify != X509_V_OK && !timed_out_) {
      https_response r;
      r.error = "TLS with " + c_.url_.host + ": certificate refused: " + X509_verify_cert_error_string(verify);
      return finish(std::move(r));
    }
    return fail("TLS with " + c_.url_.host, ec);
  }
  http_req_.method_string(req_.method);
  http_req_.target(c_.url_.path + req_.path);
  http_req_.version(11);
  const auto& u = c_.url_;
  auto host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  http_req_.set(http::field::host, u.port == "443" ? host : host + ":" + u.port);
  http_req_.set(http::field::user_agent, c_.opts_.user_agent);
  http_req_.set(http::field::accept, "application/json");
  http_req_.set(http::field::connection, "close");
  for (const auto& [name, value] : req_.headers)
    http_req_.set(name, value);
  if (!req_.body.empty()) {
    http_req_.set(http::field::content_type, "application/json");
    http_req_.body() = req_.body;
  }
  http_req_.prepare_payload();
  auto self = shared_from_this();
  http::async_write(stream_, http_req_, [self](const boost::system::error_code& e, size_t) { self->on_written(e); });
}

void exchange::on_written(const boost::system::error_code& ec) {
  if (ec)
    return fail("sending the request", ec);
  auto self = shared_from_this();
  http::async_read(stream_, buffer_, parser_, [self](const boost::system::error_code& e, size_t) { self->on_read(e); });
}

void exchange::on_read(const boost::system::error_code& ec) {
  if (ec == http::error::body_limit) {
    https_response r;
    r.error = "the answer is larger than " + std::to_string(c_.opts_.body_limit) + " bytes";
    return finish(std::move(r));
  }
  if (ec == http::error::header_limit) {
    https_response r;
    r.error = "the answer's headers are larger than " + std::to_string(c_.opts_.header_limit) + " bytes";
    return finish(std::move(r));
  }
  if (ec)
    return fail("reading the answer", ec);
  const auto& res = parser_.get();
  https_response r;
  r.status = static_cast<int>(res.result_int());
  r.etag = std::string{res[http::field::etag]};
  r.content_type = std::string{res[http::field::content_type]};
  r.body = res.body();
  finish(std::move(r));
}

} // namespace

std::unique_ptr<https_client> https_client::make(const https_options& opts, std::string& error) {
  auto url = parse_https_url(opts.base_url, &error);
  if (!url)
    return nullptr;
  auto c = std::make_unique<client_impl>(opts, *url);
  if (!c->init(error))
    return nullptr;
  return c;
}

} // namespace roamd::net
