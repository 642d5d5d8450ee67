#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

/// A small HTTPS/1.1 client for the cloud API (registration, policy, heartbeats): a few requests an hour, each on a
/// fresh connection, on one thread of its own. Never on the DNS path.
namespace roamd::net {

/// "https://HOST[:PORT][/PATH]" taken apart. HOST is a DNS name or an IP address (IPv6 in brackets).
struct https_url {
  std::string host;  // without brackets
  std::string port;  // "443" when absent
  std::string path;  // "" when absent (no trailing slash kept)
  bool host_is_ip = false;
};

/// Parses an API base URL; nullopt with the reason in `why` for anything else (http://, user info, a query, ...).
std::optional<https_url> parse_https_url(const std::string& text, std::string* why = nullptr);

/// "http://[USER:PASSWORD@]HOST:PORT[/]" of an HTTP proxy that tunnels the API's TLS with CONNECT.
struct http_proxy {
  std::string host;           // without brackets
  std::string port;
  std::string authorization;  // "Basic BASE64(USER:PASSWORD)", or "" without user information
};

/// Parses a proxy URL; nullopt with the reason in `why` for anything else (https://, no port, a path, ...).
std::optional<http_proxy> parse_http_proxy(const std::string& text, std::string* why = nullptr);

struct https_request {
  std::string method = "GET";
  std::string path;                                         // appended to the URL's path, e.g. "/v1/devices"
  std::vector<std::pair<std::string, std::string>> headers; // extra headers (Authorization, If-None-Match, ...)
  std::string body;                                         // sent as application/json when not empty
};

struct https_response {
  std::string error;  // "" when an HTTP answer arrived (whatever its status); else what failed, for a log line
  int status = 0;
  std::string etag;
  std::string content_type;
  std::string body;
};

struct https_options {
  std::string base_url;                     // "https://HOST[:PORT][/PATH]"
  std::string ca_file;                      // PEM bundle the server's chain must end in ("" = the system's store)
  std::string proxy;                        // "http://[USER:PASSWORD@]HOST:PORT" to tunnel through; "" = direct
  std::chrono::milliseconds timeout{10000}; // the whole exchange: resolving, connecting, TLS, request, answer
  size_t body_limit = 256 << 10;            // a larger answer fails ("answer larger than ... bytes")
  size_t header_limit = 16 << 10;
  std::string user_agent = "roamd";
};

/// Requests are queued to the client's thread and answered through `done` on that thread (in order of
/// completion). With a proxy, each exchange first asks it to CONNECT to the URL's host and port; TLS then runs
/// through the tunnel to the API server itself, verified as without one. The certificate chain must verify against the CA bundle and carry the URL's host (a DNS SAN, or an
/// IP SAN for an IP address); TLS 1.2 or later; SNI is sent for names. The destructor cancels what is in flight
/// (their `done` is not called) and joins the thread.
class https_client {
public:
  /// nullptr with the reason in `error` for a bad URL or an unreadable CA bundle.
  static std::unique_ptr<https_client> make(const https_options& opts, std::string& error);
  virtual ~https_client() = default;
  virtual void request(https_request req, std::function<void(https_response)> done) = 0;
};

} // namespace roamd::net
