#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "proto/inspect.pb.h"
#include "tools/inspect/frame.hpp"
#include "tools/inspect/tls.hpp"

namespace roamd::inspect {

/// Why a client call failed (roamctl turns these into its exit codes).
enum class failure {
  none,
  cannot_connect,  // no agent there, refused as busy, or the connection broke
  auth_refused,    // wrong or missing token, the Unix peer is not allowed, or a TLS certificate was refused
  protocol,        // the other side does not speak this protocol
};

struct outcome {
  failure kind = failure::none;
  std::string message;
  explicit operator bool() const noexcept { return kind == failure::none; }
};

/// A blocking client of the debug port, for roamctl and the tests: connect, read the hello, authenticate when asked,
/// then one request at a time. Every read and write is bounded by `timeout`.
class client {
public:
  explicit client(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Connects to the agent's Unix socket and reads its hello.
  outcome connect_unix(const std::string& path);

  /// Connects to "HOST:PORT" ("[v6]:PORT" too), reads the hello and answers its challenge with `token` (raw bytes).
  outcome connect_tcp(const std::string& host_port, const std::optional<std::string>& token);

  /// Connects to "HOST:PORT", makes a mutual TLS handshake with `files` (the agent's certificate must chain to
  /// `files.ca` and carry `server_name`: an IP address or a DNS name), then reads the hello.
  outcome connect_tls(const std::string& host_port, const tls_files& files, const std::string& server_name);

  /// Asks one question; `out` holds the answer (which may be an error response).
  /// `limit`: for QUERY_QUERIES, at most this many entries (0 = all).
  outcome ask(proto::Query query, proto::InspectResponse& out, uint32_t limit = 0);

  /// The server's greeting.
  const proto::Hello& hello() const noexcept { return hello_; }

  // Lower level, for tests that misbehave on purpose.
  bool connect_raw_tcp(const std::string& host_port);
  bool send_bytes(std::string_view bytes);
  outcome read_response(proto::InspectResponse& out);
  void close();

private:
  outcome greet(const std::optional<std::string>& token);
  outcome tls_failure(int ret);

  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;   // with connect_tls
  SSL* ssl_ = nullptr;
  std::string server_name_;
  frame_decoder dec_{max_response_frame};
  uint64_t next_id_ = 1;
  proto::Hello hello_;
};

} // namespace roamd::inspect
