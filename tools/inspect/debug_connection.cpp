#include "tools/inspect/debug_connection.hpp"

#include <type_traits>
#include <utility>

#include <arpa/inet.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "tools/inspect/auth.hpp"
#include "tools/inspect/tls.hpp"

namespace roamd::inspect::detail {

using code = proto::InspectError;

proto::InspectResponse error_response(uint64_t id, proto::InspectError::Code c, std::string message) {
  proto::InspectResponse r;
  r.set_id(id);
  r.mutable_error()->set_code(c);
  r.mutable_error()->set_message(std::move(message));
  return r;
}

void refuse(socket_type& sock, proto::InspectError::Code c, const std::string& message) {
  boost::system::error_code ec;
  auto frame = encode_frame(error_response(0, c, message).SerializeAsString());
  sock.non_blocking(true, ec);
  if (!ec)
    sock.write_some(boost::asio::buffer(frame), ec);  // a fresh socket's buffer takes it; if not, the close says it
  sock.close(ec);
}

bool log_limit::allow(std::chrono::seconds period) {
  auto now = std::chrono::steady_clock::now();
  if (last != std::chrono::steady_clock::time_point{} && now - last < period) {
    ++held_back;
    return false;
  }
  last = now;
  return true;
}

std::string log_limit::held_back_text() {
  auto n = std::exchange(held_back, 0);
  return n == 0 ? "" : " (" + std::to_string(n) + " more since the last such message)";
}

std::string peer_text(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  char text[INET6_ADDRSTRLEN] = "?";
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return "an unknown peer";
  if (sa.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&sa);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return std::string{text} + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return "[" + std::string{text} + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "a Unix peer";
}

template <class Stream>
connection<Stream>::connection(shared& s, Stream stream, bool need_auth)
    : s_(s),
      stream_(std::move(stream)),
      peer_(peer_text(stream_.lowest_layer().native_handle())),
      timer_(stream_.get_executor()),
      dec_(s.opts.max_request),
      need_auth_(need_auth) {
  ++s_.open;
}

template <class Stream>
connection<Stream>::~connection() {
  if (counted_)
    --s_.open;
}

template <class Stream>
void connection<Stream>::start() {
  if constexpr (std::is_same_v<Stream, tls_stream>)
    handshake();
  else
    greet();
}

template <class Stream>
void connection<Stream>::handshake() {
  if constexpr (std::is_same_v<Stream, tls_stream>) {
    handshaking_ = true;
    if (!s_.opts.tls.names.empty())
      stream_.set_verify_callback([this](bool preverified, boost::asio::ssl::verify_context& ctx) {
        auto* store = ctx.native_handle();
        if (!preverified || X509_STORE_CTX_get_error_depth(store) != 0)
          return preverified;
        refusal_ = client_name_refusal(X509_STORE_CTX_get_current_cert(store), s_.opts.tls.names);
        if (refusal_.empty())
          return true;
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);  // sent as a bad_certificate alert
        return false;
      });
    arm(clock::now() + s_.opts.frame_timeout);  // the handshake is bounded like a frame
    stream_.async_handshake(boost::asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](const boost::system::error_code& ec) {
                              self->handshaking_ = false;
                              if (self->closing_) {  // timed out meanwhile
                                self->close();
                                return;
                              }
                              if (ec) {
                                self->tls_refused(self->handshake_failure(ec));
                                self->close();
                                return;
                              }
                              self->greet();
                            });
  }
}

template <class Stream>
std::string connection<Stream>::handshake_failure(const boost::system::error_code& ec) {
  if (!refusal_.empty())
    return refusal_;  // the name check
  if constexpr (std::is_same_v<Stream, tls_stream>)
    if (auto verify = SSL_get_verify_result(stream_.native_handle()); verify != X509_V_OK)
      return std::string{"client certificate refused: "} + X509_verify_cert_error_string(verify);
  return ec.message();  // no certificate, not TLS, the client's alert about ours, ...
}

template <class Stream>
void connection<Stream>::tls_refused(const std::string& why) {
  ++s_.counters->tls_failed;
  if (s_.tls_log.allow())
    spdlog::warn("debug_port: TLS refused {}: {}{}", peer_, why, s_.tls_log.held_back_text());
}

template <class Stream>
void connection<Stream>::greet() {
  proto::InspectResponse hello;
  auto* h = hello.mutable_hello();
  h->set_version(s_.opts.version);
  h->set_max_request(static_cast<uint32_t>(s_.opts.max_request));
  h->set_max_response(static_cast<uint32_t>(s_.opts.max_response));
  if (need_auth_) {
    auto nonce = random_bytes(nonce_size);
    if (!nonce) {
      fail(code::INTERNAL, "no random nonce available; cannot authenticate");
      return;
    }
    nonce_ = *nonce;
    h->set_auth_required(true);
    h->set_nonce(nonce_);
    auth_deadline_ = clock::now() + s_.opts.frame_timeout;
  }
  send(hello, false);
}

template <class Stream>
void connection<Stream>::arm(clock::time_point deadline) {
  timer_.expires_at(deadline);
  timer_.async_wait([self = this->shared_from_this(), gen = ++timer_gen_](const boost::system::error_code& ec) {
    if (!ec && gen == self->timer_gen_)
      self->on_timeout();
  });
}

template <class Stream>
void connection<Stream>::on_timeout() {
  if (closing_) {  // the final error frame did not go out in time
    close();
    return;
  }
  if (handshaking_) {
    tls_refused("no TLS handshake within " + std::to_string(s_.opts.frame_timeout.count()) + " ms");
    close();
    return;
  }
  ++s_.counters->timeouts;
  if (busy_ || !dec_.partial()) {
    if (need_auth_)
      fail(code::TIMEOUT, "no authentication within " + std::to_string(s_.opts.frame_timeout.count()) + " ms");
    else
      fail(code::TIMEOUT, "idle for " + std::to_string(s_.opts.idle_timeout.count()) + " ms; closing");
    return;
  }
  fail(code::TIMEOUT, "incomplete request: " + std::to_string(dec_.buffered()) + " bytes in " +
                        std::to_string(s_.opts.frame_timeout.count()) + " ms");
}

template <class Stream>
void connection<Stream>::read_more() {
  if (closing_)
    return;
  auto deadline = clock::now() + s_.opts.idle_timeout;
  if (dec_.partial())
    deadline = frame_started_ + s_.opts.frame_timeout;
  if (need_auth_)
    deadline = std::min(deadline, auth_deadline_);
  arm(deadline);
  auto self = this->shared_from_this();
  stream_.async_read_some(boost::asio::buffer(chunk_), [self](const boost::system::error_code& ec, size_t n) {
    if (ec || self->closing_) {
      self->close();
      return;
    }
    if (!self->dec_.partial())
      self->frame_started_ = clock::now();
    self->dec_.feed(std::string_view{self->chunk_.data(), n});
    self->process();
  });
}

template <class Stream>
void connection<Stream>::process() {
  std::string payload;
  switch (dec_.next(payload)) {
    case frame_decoder::status::need_more:
      read_more();
      return;
    case frame_decoder::status::too_large:
      ++s_.counters->too_large;
      fail(code::TOO_LARGE, "request frame of " + std::to_string(dec_.announced()) + " bytes exceeds the limit of " +
                              std::to_string(s_.opts.max_request) + " bytes");
      return;
    case frame_decoder::status::frame:
      if (dec_.partial())
        frame_started_ = clock::now();  // the next frame's bytes arrived along with this one
      handle(payload);
      return;
  }
}

template <class Stream>
void connection<Stream>::handle(const std::string& payload) {
  proto::InspectRequest req;
  if (!req.ParseFromString(payload) || req.body_case() == proto::InspectRequest::BODY_NOT_SET) {
    ++s_.counters->bad_request;
    fail(code::BAD_REQUEST, "not a request (" + std::to_string(payload.size()) + " bytes that are no InspectRequest)");
    return;
  }
  if (need_auth_) {
    if (req.body_case() != proto::InspectRequest::kAuth) {
      ++s_.counters->auth_failed;
      fail(code::AUTH_REQUIRED, "authenticate first: answer the hello's nonce with the token's HMAC");
      return;
    }
    if (!verify_proof(s_.token, nonce_, req.auth())) {
      ++s_.counters->auth_failed;
      fail(code::AUTH_FAILED, "authentication failed: wrong token");
      return;
    }
    need_auth_ = false;
    proto::InspectResponse ok;
    ok.set_id(req.id());
    ok.set_authenticated(true);
    send(ok, false);
    return;
  }
  if (req.body_case() == proto::InspectRequest::kAuth) {
    proto::InspectResponse ok;  // authenticating twice (or on the Unix socket) is harmless
    ok.set_id(req.id());
    ok.set_authenticated(true);
    send(ok, false);
    return;
  }
  busy_ = true;
  arm(clock::now() + s_.opts.idle_timeout);  // backstop: the handler answers within its own, shorter bound
  s_.handler(req, deliver_to(s_.answers, this->weak_from_this(), &connection::answer));
}

template <class Stream>
void connection<Stream>::answer(proto::InspectResponse r) {
  if (closing_)
    return;
  busy_ = false;
  if (r.ByteSizeLong() + frame_header_size > s_.opts.max_response)
    r = error_response(r.id(), code::RESPONSE_TOO_LARGE,
                       "the answer (" + std::to_string(r.ByteSizeLong()) + " bytes) exceeds the limit of " +
                         std::to_string(s_.opts.max_response) + " bytes");
  ++s_.counters->answered;
  send(r, false);
}

template <class Stream>
void connection<Stream>::send(const proto::InspectResponse& r, bool close_after) {
  out_ = encode_frame(r.SerializeAsString());
  // A reader that does not read cannot hold the connection: the write has the frame timeout too.
  arm(clock::now() + s_.opts.frame_timeout);
  writing_ = true;
  boost::asio::async_write(stream_, boost::asio::buffer(out_),
                           [self = this->shared_from_this(), close_after](const boost::system::error_code& ec, size_t) {
                             self->writing_ = false;
                             if (ec || close_after || self->closing_) {
                               self->close();
                               return;
                             }
                             self->process();  // a request that arrived meanwhile, else read
                           });
}

template <class Stream>
void connection<Stream>::fail(proto::InspectError::Code c, std::string message) {
  if (closing_)
    return;
  spdlog::debug("debug_port: closing a connection: {}", message);
  if (writing_) {  // a client that does not read its answer gets no error frame either
    close();
    return;
  }
  closing_ = true;
  dec_ = frame_decoder{s_.opts.max_request};  // drop what was buffered
  out_ = encode_frame(error_response(0, c, std::move(message)).SerializeAsString());
  arm(clock::now() + std::chrono::seconds(1));
  boost::asio::async_write(stream_, boost::asio::buffer(out_),
                           [self = this->shared_from_this()](const boost::system::error_code&, size_t) {
                             self->close();
                           });
}

template <class Stream>
void connection<Stream>::close() {
  closing_ = true;
  if (counted_) {  // the slot is free as soon as the socket is closed, not when the last handler has run
    counted_ = false;
    --s_.open;
  }
  boost::system::error_code ec;
  stream_.lowest_layer().shutdown(socket_type::shutdown_both, ec);
  stream_.lowest_layer().close(ec);
  timer_.cancel();
}

template class connection<socket_type>;
template class connection<tls_stream>;

} // namespace roamd::inspect::detail
