#include "tools/inspect/client.hpp"

#include <cerrno>
#include <cstring>

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/inspect/auth.hpp"

namespace roamd::inspect {

namespace {

outcome fail(failure kind, std::string message) { return outcome{kind, std::move(message)}; }

/// What a TLS alert from the agent most likely means, for the message.
const char* alert_hint(int reason) {
  switch (reason) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: return "roamctl sent no certificate (--tls-cert, --tls-key)";
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA: return "roamctl's certificate is not signed by the agent's tls_client_ca";
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED: return "roamctl's certificate has expired or is not valid yet";
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      return "roamctl's certificate was rejected (is its name in the agent's tls_client_names?)";
    default: return "see the agent's log";
  }
}

} // namespace

client::client(std::chrono::milliseconds timeout) : timeout_(timeout) {}

client::~client() { close(); }

void client::close() {
  if (ssl_)
    SSL_free(ssl_);
  if (ctx_)
    SSL_CTX_free(ctx_);
  ssl_ = nullptr;
  ctx_ = nullptr;
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  dec_ = frame_decoder{max_response_frame};
}

outcome client::connect_unix(const std::string& path) {
  close();
  sockaddr_un sa{};
  if (path.size() >= sizeof sa.sun_path)
    return fail(failure::cannot_connect, path + ": path too long for a Unix socket");
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    auto why = std::string{std::strerror(errno)};
    close();
    return fail(errno == EACCES ? failure::auth_refused : failure::cannot_connect,
                "cannot connect to " + path + ": " + why + (errno == EACCES ? "" : " (is roamd running?)"));
  }
  return greet(std::nullopt);
}

bool client::connect_raw_tcp(const std::string& host_port) {
  close();
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos)
    return false;
  auto host = host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), host_port.c_str() + colon + 1, &hints, &res) != 0 || !res)
    return false;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    fd_ = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && ::connect(fd_, ai->ai_addr, ai->ai_addrlen) == 0)
      break;
    close();
  }
  ::freeaddrinfo(res);
  if (fd_ < 0)
    return false;
  timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return true;
}

outcome client::connect_tcp(const std::string& host_port, const std::optional<std::string>& token) {
  if (!connect_raw_tcp(host_port))
    return fail(failure::cannot_connect, "cannot connect to " + host_port + ": " + std::strerror(errno) +
                                           " (is roamd running with [debug] tcp set?)");
  return greet(token);
}

outcome client::connect_tls(const std::string& host_port, const tls_files& files, const std::string& server_name) {
  if (!connect_raw_tcp(host_port))
    return fail(failure::cannot_connect, "cannot connect to " + host_port + ": " + std::strerror(errno) +
                                           " (is roamd running with [debug] tcp set?)");
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_)
    return fail(failure::cannot_connect, "TLS: " + take_errors("cannot create a context"));
  if (auto err = configure_context(ctx_, files, option_labels, false); !err.empty())
    return fail(failure::auth_refused, err);
  ssl_ = SSL_new(ctx_);
  server_name_ = server_name;
  if (!ssl_ || !expect_server_name(ssl_, server_name) || SSL_set_fd(ssl_, fd_) != 1)
    return fail(failure::cannot_connect, "TLS: " + take_errors("cannot set up the connection") + " (name " +
                                           server_name + ")");
  ERR_clear_error();
  if (auto ret = SSL_connect(ssl_); ret != 1)
    return tls_failure(ret);
  return greet(std::nullopt);
}

/// Why a TLS call failed: which side refused what (auth_refused), or that the connection did not work.
outcome client::tls_failure(int ret) {
  auto saved_errno = errno;
  auto kind = SSL_get_error(ssl_, ret);
  auto e = ERR_peek_error();
  auto verify = SSL_get_verify_result(ssl_);
  auto reason = ERR_GET_REASON(e);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return fail(failure::auth_refused, std::string{"TLS: roamctl refused the agent's certificate: "} +
                                         X509_verify_cert_error_string(verify) + " (checked against --tls-ca and " +
                                         "the name " + server_name_ + ")");
  }
  if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL && reason >= SSL_AD_REASON_OFFSET) {
    auto what = take_errors("an alert");
    return fail(failure::auth_refused, "TLS: the agent refused roamctl's certificate (" + what + "): " +
                                         alert_hint(reason));
  }
  if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL &&
      (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG)) {
    ERR_clear_error();
    return fail(failure::protocol, "TLS: the agent does not speak TLS on this port (no tls_cert in its [debug]?)");
  }
  if (e != 0 && reason != SSL_R_UNEXPECTED_EOF_WHILE_READING)
    return fail(failure::cannot_connect, "TLS: " + take_errors("failed"));
  ERR_clear_error();
  if (kind == SSL_ERROR_SYSCALL && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
    return fail(failure::cannot_connect, "the agent did not answer in time");
  if (!SSL_is_init_finished(ssl_))  // closed or reset: the agent drops connections beyond its cap before any byte
    return fail(failure::cannot_connect,
                "the agent closed the connection during the TLS handshake (too many inspection connections?)");
  if (kind == SSL_ERROR_SYSCALL && ret < 0)
    return fail(failure::cannot_connect, std::string{"the connection broke: "} + std::strerror(saved_errno));
  return fail(failure::cannot_connect, "the agent closed the connection");
}

outcome client::greet(const std::optional<std::string>& token) {
  timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  proto::InspectResponse first;
  if (auto o = read_response(first); !o)
    return o;
  if (first.has_error()) {
    auto c = first.error().code();
    auto kind = c == proto::InspectError::PERMISSION_DENIED ? failure::auth_refused : failure::cannot_connect;
    return fail(kind, "the agent refused the connection: " + first.error().message());
  }
  if (!first.has_hello())
    return fail(failure::protocol, "the agent did not greet (not a roamd debug port?)");
  hello_ = first.hello();
  if (!hello_.auth_required())
    return {};
  if (!token)
    return fail(failure::auth_refused, "the agent asks for a token (--token-file)");
  proto::InspectRequest req;
  req.set_id(next_id_++);
  req.set_auth(auth_proof(*token, hello_.nonce()));
  if (!send_bytes(encode_frame(req.SerializeAsString())))
    return fail(failure::cannot_connect, std::string{"the connection broke: "} + std::strerror(errno));
  proto::InspectResponse r;
  if (auto o = read_response(r); !o)
    return o;
  if (r.has_error())
    return fail(failure::auth_refused, r.error().message());
  if (!r.authenticated())
    return fail(failure::protocol, "unexpected answer to the authentication");
  return {};
}

bool client::send_bytes(std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ssl_ ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                  : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

outcome client::read_response(proto::InspectResponse& out) {
  std::string payload;
  char buf[16384];
  for (;;) {
    switch (dec_.next(payload)) {
      case frame_decoder::status::frame:
        if (!out.ParseFromString(payload))
          return fail(failure::protocol, "the agent sent something that is not a response");
        return {};
      case frame_decoder::status::too_large:
        return fail(failure::protocol, "the agent announced a response of " + std::to_string(dec_.announced()) +
                                         " bytes (limit " + std::to_string(max_response_frame) + ")");
      case frame_decoder::status::need_more:
        break;
    }
    if (ssl_) {
      ERR_clear_error();
      auto n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0)
        return tls_failure(n);
      dec_.feed(std::string_view{buf, static_cast<size_t>(n)});
      continue;
    }
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0)
      return fail(failure::cannot_connect, "the agent closed the connection");
    if (n < 0)
      return fail(failure::cannot_connect, errno == EAGAIN || errno == EWOULDBLOCK
                                             ? "the agent did not answer in time"
                                             : std::string{"the connection broke: "} + std::strerror(errno));
    dec_.feed(std::string_view{buf, static_cast<size_t>(n)});
  }
}

outcome client::ask(proto::Query query, proto::InspectResponse& out, uint32_t limit) {
  if (fd_ < 0)
    return fail(failure::cannot_connect, "not connected");
  proto::InspectRequest req;
  auto id = next_id_++;
  req.set_id(id);
  req.set_query(query);
  req.set_limit(limit);
  if (!send_bytes(encode_frame(req.SerializeAsString())))
    return fail(failure::cannot_connect, std::string{"the connection broke: "} + std::strerror(errno));
  if (auto o = read_response(out); !o)
    return o;
  if (!out.has_error() && out.id() != id)
    return fail(failure::protocol, "an answer to another request");
  return {};
}

} // namespace roamd::inspect
