#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "tools/cloudsim/api.hpp"

namespace roamd::cloudsim {

struct server_options {
  std::string listen = "127.0.0.1:8443";  // "IP:PORT" ("[IPv6]:PORT"); port 0 lets the kernel pick one
  std::string cert, key;                  // PEM: the server's certificate chain (leaf first) and its key
  std::string policy_file;                // Policy JSON: read by open(), again on SIGHUP and when it changes
  std::string state_file;                 // registered devices, rewritten after each registration ("" = none)
  size_t header_limit = 8 << 10;          // request line and headers; larger: 431 and closed
  size_t body_limit = 64 << 10;           // request body; larger: 413 and closed
  size_t max_connections = 32;            // more are closed at once, before the TLS handshake
  std::chrono::milliseconds read_timeout{10000};  // the TLS handshake, and each request, must arrive by then
  std::chrono::milliseconds delay{0};     // --delay-ms: every answer waits this long
};

/// cloudsim's HTTPS server: TLS 1.2+ with the given certificate, HTTP/1.1 (keep-alive) parsed by Boost.Beast, on
/// one thread. Each request goes to a cloud_api; the server adds the policy file's reloads, the state file's writes,
/// the bounds and --delay-ms.
class server {
public:
  server(server_options opts, cloud_api& api);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Reads the policy file and the TLS files and binds the listener. "" on success, else what is wrong;
  /// `config_error` tells whether it is the options' fault (a file) rather than the system's (the address).
  std::string open(bool& config_error);

  /// "https://IP:PORT" of the bound listener.
  std::string url() const;

  /// Serves until SIGINT or SIGTERM; SIGHUP re-reads the policy file.
  void run();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace roamd::cloudsim
