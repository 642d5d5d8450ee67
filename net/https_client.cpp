#include "net/https_client.hpp"

#include <cctype>
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
#include <openssl/evp.h>
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

/// "HOST[:PORT]" or "[IPV6][:PORT]" of a URL into `host` (no brackets) and `port` (`default_port` when absent;
/// required when that is ""); "" or why it is not one.
std::string parse_authority(const std::string& authority, const std::string& default_port, std::string& host,
                            std::string& port, bool& host_is_ip) {
  port.clear();
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      return "unclosed '[' in the URL's host";
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return "expected ':PORT' after the bracketed IPv6 address";
      port = after.substr(1);
      if (port.empty())
        return "empty port in the URL";
    }
    boost::system::error_code ec;
    asio::ip::make_address_v6(host, ec);
    if (ec)
      return "'" + host + "' in brackets is not an IPv6 address";
    host_is_ip = true;
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty())
        return "empty port in the URL";
    }
    boost::system::error_code ec;
    asio::ip::make_address_v4(host, ec);
    host_is_ip = !ec;
    if (!host_is_ip && !is_host_name(host))
      return host.empty() ? "the URL has no host" : "'" + host + "' is not a host name or an IPv4 address";
  }
  if (port.empty() && default_port.empty())
    return "the URL needs a port (HOST:PORT)";
  if (port.empty())
    port = default_port;
  if (!is_port(port))
    return "'" + port + "' is not a port (1-65535)";
  return {};
}

/// Whether `text` begins with `scheme` (any case); `rest` is what follows it.
bool after_scheme(const std::string& text, std::string_view scheme, std::string& rest) {
  auto same = [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); };
  if (text.size() < scheme.size() || !std::equal(scheme.begin(), scheme.end(), text.begin(), same))
    return false;
  rest = text.substr(scheme.size());
  return true;
}

/// `text` with each %XX replaced by its byte (RFC 3986), or nullopt for a '%' without two hexadecimal digits.
std::optional<std::string> percent_decoded(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(text[i + 2])))
      return std::nullopt;
    out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

/// A parser's way out: stores the reason in `why` (when given) and yields nullopt.
template <class T>
auto failure(std::string* why) {
  return [why](const std::string& reason) -> std::optional<T> {
    if (why)
      *why = reason;
    return std::nullopt;
  };
}

} // namespace

std::optional<https_url> parse_https_url(const std::string& text, std::string* why) {
  auto fail = failure<https_url>(why);
  std::string rest;
  if (!after_scheme(text, "https://", rest))
    return fail("expected an https:// URL");
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
  if (auto err = parse_authority(authority, "443", u.host, u.port, u.host_is_ip); !err.empty())
    return fail(err);
  return u;
}

std::optional<http_proxy> parse_http_proxy(const std::string& text, std::string* why) {
  auto fail = failure<http_proxy>(why);
  std::string rest;
  if (!after_scheme(text, "http://", rest))
    return fail("expected an http:// URL (the proxy is asked to CONNECT; TLS to the proxy itself is not supported)");
  http_proxy p;
  if (auto at = rest.rfind('@'); at != std::string::npos) {  // first: a password may hold '/'
    auto info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = info.find(':');
    if (colon == std::string::npos || colon == 0)
      return fail("expected USER:PASSWORD@ before the proxy's host");
    auto name = percent_decoded(info.substr(0, colon)), password = percent_decoded(info.substr(colon + 1));
    if (!name || !password)
      return fail("a '%' in the proxy's user information is not followed by two hexadecimal digits");
    if (info.find_first_of(" \t\r\n") != std::string::npos)
      return fail("the proxy's user information may not contain white space");
    auto user = *name + ":" + *password;
    std::string b64(4 * ((user.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                            reinterpret_cast<const unsigned char*>(user.data()), static_cast<int>(user.size()));
    b64.resize(static_cast<size_t>(n));
    p.authorization = "Basic " + b64;
  }
  auto slash = rest.find('/');
  if (slash != std::string::npos && slash + 1 != rest.size())
    return fail("the proxy URL may not carry a path");
  auto authority = rest.substr(0, slash);
  bool is_ip = false;
  if (auto err = parse_authority(authority, "", p.host, p.port, is_ip); !err.empty())
    return fail(err);
  return p;
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
  void ask_tunnel();
  void on_tunnel(const boost::system::error_code& ec);
  void handshake();
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
  http::request<http::empty_body> connect_req_;       // to the proxy
  http::response_parser<http::empty_body> tunnel_;   // its answer
  bool finished_ = false;
  bool timed_out_ = false;
};

class client_impl final : public https_client {
public:
  client_impl(https_options opts, https_url url, std::optional<http_proxy> proxy)
      : opts_(std::move(opts)), url_(std::move(url)), proxy_(std::move(proxy)) {}

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
  std::optional<http_proxy> proxy_;
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
  tunnel_.header_limit(static_cast<uint32_t>(c_.opts_.header_limit));
  tunnel_.skip(true);  // a CONNECT answer has no body: the tunnel starts right after its header
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
  const auto& to_host = c_.proxy_ ? c_.proxy_->host : host;
  const auto& to_port = c_.proxy_ ? c_.proxy_->port : c_.url_.port;
  resolver_.async_resolve(to_host, to_port,
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
    return fail("resolving " + (c_.proxy_ ? "the proxy " + c_.proxy_->host : c_.url_.host), ec);
  auto self = shared_from_this();
  beast::get_lowest_layer(stream_).async_connect(
    results, [self](const boost::system::error_code& e, const tcp::endpoint&) { self->on_connected(e); });
}

void exchange::on_connected(const boost::system::error_code& ec) {
  if (ec && c_.proxy_)
    return fail("connecting to the proxy " + c_.proxy_->host + ":" + c_.proxy_->port, ec);
  if (ec)
    return fail("connecting to " + c_.url_.host + ":" + c_.url_.port, ec);
  if (c_.proxy_)
    return ask_tunnel();
  handshake();
}

/// "CONNECT HOST:PORT" to the proxy; TLS starts once it answers 2xx.
void exchange::ask_tunnel() {
  const auto& u = c_.url_;
  auto authority = (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":" + u.port;
  connect_req_.method(http::verb::connect);
  connect_req_.target(authority);
  connect_req_.version(11);
  connect_req_.set(http::field::host, authority);
  connect_req_.set(http::field::user_agent, c_.opts_.user_agent);
  if (!c_.proxy_->authorization.empty())
    connect_req_.set(http::field::proxy_authorization, c_.proxy_->authorization);
  auto self = shared_from_this();
  http::async_write(beast::get_lowest_layer(stream_), connect_req_, [self](const boost::system::error_code& e, size_t) {
    if (e)
      return self->fail("asking the proxy for a tunnel", e);
    http::async_read(beast::get_lowest_layer(self->stream_), self->buffer_, self->tunnel_,
                     [self](const boost::system::error_code& e, size_t) { self->on_tunnel(e); });
  });
}

void exchange::on_tunnel(const boost::system::error_code& ec) {
  const auto& p = *c_.proxy_;
  if (ec)
    return fail("the proxy " + p.host + ":" + p.port + "'s answer to CONNECT", ec);
  const auto& res = tunnel_.get();
  if (res.result_int() < 200 || res.result_int() > 299) {
    https_response r;
    r.error = "the proxy " + p.host + ":" + p.port + " refused the tunnel to " + c_.url_.host + ":" + c_.url_.port +
              ": HTTP " + std::to_string(res.result_int()) + " " + std::string{res.reason()};
    return finish(std::move(r));
  }
  if (buffer_.size() != 0) {  // the server speaks second in TLS: nothing may come before our ClientHello
    https_response r;
    r.error = "the proxy " + p.host + ":" + p.port + " sent data into the tunnel before TLS began";
    return finish(std::move(r));
  }
  handshake();
}

void exchange::handshake() {
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
  std::optional<http_proxy> proxy;
  if (!opts.proxy.empty()) {
    proxy = parse_http_proxy(opts.proxy, &error);
    if (!proxy) {
      error = "proxy: " + error;
      return nullptr;
    }
  }
  auto c = std::make_unique<client_impl>(opts, *url, std::move(proxy));
  if (!c->init(error))
    return nullptr;
  return c;
}

} // namespace roamd::net
