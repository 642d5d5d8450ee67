#include "tools/inspect/debug_connection.hpp"

#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "tools/inspect/auth.hpp"

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

connection::connection(shared& s, socket_type sock, bool need_auth)
    : s_(s), sock_(std::move(sock)), timer_(sock_.get_executor()), dec_(s.opts.max_request), need_auth_(need_auth) {
  ++s_.open;
}

connection::~connection() {
  if (counted_)
    --s_.open;
}

void connection::start() {
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

void connection::arm(clock::time_point deadline) {
  timer_.expires_at(deadline);
  timer_.async_wait([self = shared_from_this(), gen = ++timer_gen_](const boost::system::error_code& ec) {
    if (!ec && gen == self->timer_gen_)
      self->on_timeout();
  });
}

void connection::on_timeout() {
  if (closing_) {  // the final error frame did not go out in time
    close();
    return;
  }
  ++s_.counters.timeouts;
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

void connection::read_more() {
  if (closing_)
    return;
  auto deadline = clock::now() + s_.opts.idle_timeout;
  if (dec_.partial())
    deadline = frame_started_ + s_.opts.frame_timeout;
  if (need_auth_)
    deadline = std::min(deadline, auth_deadline_);
  arm(deadline);
  sock_.async_read_some(boost::asio::buffer(chunk_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                                  size_t n) {
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

void connection::process() {
  std::string payload;
  switch (dec_.next(payload)) {
    case frame_decoder::status::need_more:
      read_more();
      return;
    case frame_decoder::status::too_large:
      ++s_.counters.too_large;
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

void connection::handle(const std::string& payload) {
  proto::InspectRequest req;
  if (!req.ParseFromString(payload) || req.body_case() == proto::InspectRequest::BODY_NOT_SET) {
    ++s_.counters.bad_request;
    fail(code::BAD_REQUEST, "not a request (" + std::to_string(payload.size()) + " bytes that are no InspectRequest)");
    return;
  }
  if (need_auth_) {
    if (req.body_case() != proto::InspectRequest::kAuth) {
      ++s_.counters.auth_failed;
      fail(code::AUTH_REQUIRED, "authenticate first: answer the hello's nonce with the token's HMAC");
      return;
    }
    if (!verify_proof(s_.token, nonce_, req.auth())) {
      ++s_.counters.auth_failed;
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
  s_.handler(req, deliver_to(s_.answers, weak_from_this(), &connection::answer));
}

void connection::answer(proto::InspectResponse r) {
  if (closing_)
    return;
  busy_ = false;
  if (r.ByteSizeLong() + frame_header_size > s_.opts.max_response)
    r = error_response(r.id(), code::RESPONSE_TOO_LARGE,
                       "the answer (" + std::to_string(r.ByteSizeLong()) + " bytes) exceeds the limit of " +
                         std::to_string(s_.opts.max_response) + " bytes");
  ++s_.counters.answered;
  send(r, false);
}

void connection::send(const proto::InspectResponse& r, bool close_after) {
  out_ = encode_frame(r.SerializeAsString());
  // A reader that does not read cannot hold the connection: the write has the frame timeout too.
  arm(clock::now() + s_.opts.frame_timeout);
  writing_ = true;
  boost::asio::async_write(sock_, boost::asio::buffer(out_),
                           [self = shared_from_this(), close_after](const boost::system::error_code& ec, size_t) {
                             self->writing_ = false;
                             if (ec || close_after || self->closing_) {
                               self->close();
                               return;
                             }
                             self->process();  // a request that arrived meanwhile, else read
                           });
}

void connection::fail(proto::InspectError::Code c, std::string message) {
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
  boost::asio::async_write(sock_, boost::asio::buffer(out_),
                           [self = shared_from_this()](const boost::system::error_code&, size_t) { self->close(); });
}

void connection::close() {
  closing_ = true;
  if (counted_) {  // the slot is free as soon as the socket is closed, not when the last handler has run
    counted_ = false;
    --s_.open;
  }
  boost::system::error_code ec;
  sock_.shutdown(socket_type::shutdown_both, ec);
  sock_.close(ec);
  timer_.cancel();
}

} // namespace roamd::inspect::detail
