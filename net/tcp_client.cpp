#include "net/tcp_client.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "net/dns_wire.hpp"
#include "net/worker.hpp"

namespace roamd::net {

tcp_client::tcp_client(worker& w, boost::asio::ip::tcp::socket sock, uint16_t listener)
    : worker_(w), sock_(std::move(sock)), idle_(worker_.context()), listener_(listener) {
  peer_len_ = sizeof(peer_);
  if (::getpeername(sock_.native_handle(), reinterpret_cast<sockaddr*>(&peer_), &peer_len_) != 0)
    peer_len_ = 0;
}

void tcp_client::start() {
  boost::system::error_code ignored;
  sock_.set_option(boost::asio::ip::tcp::no_delay{true}, ignored);
  arm_idle();
  read_length();
}

void tcp_client::read_length() {
  reading_ = true;
  auto self = shared_from_this();
  boost::asio::async_read(sock_, boost::asio::buffer(len_), [self](const boost::system::error_code& ec, size_t) {
    if (ec || self->closed_)
      return self->close();
    size_t n = dns::get16(self->len_);
    if (n < dns::header_size || n > max_query_size) {
      self->worker_.count_drop(drop_reason::tcp_bad_frame);
      return self->close();
    }
    self->read_body(n);
  });
}

void tcp_client::read_body(size_t n) {
  body_.resize(n);
  auto self = shared_from_this();
  boost::asio::async_read(sock_, boost::asio::buffer(body_), [self, n](const boost::system::error_code& ec, size_t) {
    if (ec || self->closed_)
      return self->close();
    ++self->activity_;
    self->last_active_ = std::chrono::steady_clock::now();
    ++self->in_flight_;
    client_ref c;
    c.kind = client_ref::tcp;
    c.conn = self;
    c.listener = self->listener_;
    c.addr = self->peer_;
    c.addr_len = self->peer_len_;
    self->worker_.handle_query(self->body_.data(), n, std::move(c));
    if (self->closed_)
      return;
    if (self->in_flight_ < max_in_flight)
      self->read_length();
    else
      self->reading_ = false;  // resumed by send() once answers go out
  });
}

void tcp_client::send(const uint8_t* msg, size_t size) {
  if (closed_)
    return;
  if (in_flight_ > 0)
    --in_flight_;
  if (size > 0xFFFF) {
    worker_.count_drop(drop_reason::send_failed);  // cannot be framed; never expected (callers keep to 65535)
    return;
  }
  if (queued_bytes_ + size + 2 > max_queued_bytes) {
    worker_.count_drop(drop_reason::tcp_slow_reader);
    return close();
  }
  std::vector<uint8_t> framed(size + 2);
  dns::put16(framed.data(), static_cast<uint16_t>(size));
  std::copy(msg, msg + size, framed.begin() + 2);
  queued_bytes_ += framed.size();
  out_.push_back(std::move(framed));
  if (!writing_)
    write_next();
  if (!reading_ && !closed_ && in_flight_ < max_in_flight)
    read_length();
}

void tcp_client::dropped() {
  if (closed_)
    return;
  if (in_flight_ > 0)
    --in_flight_;
  if (!reading_ && in_flight_ < max_in_flight)
    read_length();
}

void tcp_client::write_next() {
  if (out_.empty() || closed_) {
    writing_ = false;
    return;
  }
  writing_ = true;
  auto self = shared_from_this();
  boost::asio::async_write(sock_, boost::asio::buffer(out_.front()),
                           [self](const boost::system::error_code& ec, size_t) {
    if (ec || self->closed_)
      return self->close();
    self->queued_bytes_ -= self->out_.front().size();
    self->out_.pop_front();
    ++self->activity_;
    self->last_active_ = std::chrono::steady_clock::now();
    self->write_next();
  });
}

void tcp_client::arm_idle() {
  auto self = shared_from_this();
  uint64_t seen = activity_;
  idle_.expires_after(std::chrono::milliseconds(worker_.tcp_idle_timeout_ms()));
  idle_.async_wait([self, seen](const boost::system::error_code& ec) {
    if (ec || self->closed_)
      return;
    if (self->activity_ == seen) {
      self->worker_.count_drop(drop_reason::tcp_idle);
      return self->close();
    }
    self->arm_idle();
  });
}

void tcp_client::evict() {
  if (closed_)
    return;
  worker_.count_drop(drop_reason::tcp_evicted);
  close();
}

void tcp_client::close() {
  if (closed_)
    return;
  closed_ = true;
  idle_.cancel();
  boost::system::error_code ignored;
  sock_.close(ignored);
  out_.clear();
  worker_.tcp_closed();
}

} // namespace roamd::net
