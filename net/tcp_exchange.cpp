#include "net/tcp_exchange.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "net/dns_wire.hpp"
#include "net/link_binding.hpp"

namespace roamd::net {

tcp_exchange::tcp_exchange(boost::asio::io_context& ctx, boost::asio::ip::tcp::endpoint to,
                           const std::vector<uint8_t>& query, std::chrono::milliseconds timeout, std::string link,
                           uint32_t mark)
    : sock_(ctx), timer_(ctx), to_(to), timeout_(timeout), link_(std::move(link)), mark_(mark) {
  out_.resize(2 + query.size());
  dns::put16(out_.data(), static_cast<uint16_t>(query.size()));
  std::copy(query.begin(), query.end(), out_.begin() + 2);
}

void tcp_exchange::start(callback done) {
  done_ = std::move(done);
  auto self = shared_from_this();
  timer_.expires_after(timeout_);
  timer_.async_wait([self](const boost::system::error_code& ec) {
    if (!ec)
      self->fail();  // closing the socket aborts whatever operation is outstanding
  });
  if (!link_.empty() || mark_ != 0) {
    boost::system::error_code ec;
    sock_.open(to_.protocol(), ec);
    if (!ec)
      set_socket_mark(sock_.native_handle(), mark_);
    if (ec || (!link_.empty() &&
               bind_to_link(sock_.native_handle(), to_.address().is_v6(), link_, link_index(link_)) != 0)) {
      // Reported from a fresh handler, as every other outcome is.
      boost::asio::post(sock_.get_executor(), [self] { self->complete(false); });
      return;
    }
  }
  sock_.async_connect(to_, [self](const boost::system::error_code& ec) {
    if (ec)
      return self->complete(false);
    boost::asio::async_write(self->sock_, boost::asio::buffer(self->out_),
                             [self](const boost::system::error_code& ec, size_t) {
      if (ec)
        return self->complete(false);
      boost::asio::async_read(self->sock_, boost::asio::buffer(self->len_),
                              [self](const boost::system::error_code& ec, size_t) {
        size_t n = dns::get16(self->len_);
        if (ec || n < dns::header_size)
          return self->complete(false);
        self->in_.resize(n);
        boost::asio::async_read(self->sock_, boost::asio::buffer(self->in_),
                                [self](const boost::system::error_code& ec, size_t) { self->complete(!ec); });
      });
    });
  });
}

void tcp_exchange::fail() {
  boost::system::error_code ignored;
  sock_.close(ignored);
}

void tcp_exchange::complete(bool ok) {
  if (!done_)
    return;
  timer_.cancel();
  boost::system::error_code ignored;
  sock_.close(ignored);
  auto done = std::move(done_);
  done_ = nullptr;
  if (!ok)
    in_.clear();
  done(ok, in_);
}

} // namespace roamd::net
