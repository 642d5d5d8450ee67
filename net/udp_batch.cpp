#include "net/udp_batch.hpp"

#include <cerrno>
#include <algorithm>
#include <cstring>

#include <netinet/in.h>

namespace roamd::net {

udp_receive_batch::udp_receive_batch(size_t count, size_t slot_size)
    : slot_size_(slot_size), storage_(count * slot_size), msgs_(count), iov_(count), addrs_(count) {
}

size_t udp_receive_batch::receive(int fd) {
  for (size_t i = 0; i < msgs_.size(); ++i) {
    iov_[i].iov_base = data(i);
    iov_[i].iov_len = slot_size_;
    auto& h = msgs_[i].msg_hdr;
    h.msg_name = &addrs_[i];
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_iov = &iov_[i];
    h.msg_iovlen = 1;
    h.msg_control = nullptr;
    h.msg_controllen = 0;
    h.msg_flags = 0;
    msgs_[i].msg_len = 0;
  }
  int n;
  do {
    n = ::recvmmsg(fd, msgs_.data(), static_cast<unsigned>(msgs_.size()), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

uint8_t* udp_send_queue::push(const sockaddr* to, socklen_t to_len, size_t size, uint64_t tag) {
  if (used_ == items_.size())
    items_.emplace_back();
  auto& it = items_[used_++];
  std::memcpy(&it.to, to, std::min<size_t>(to_len, sizeof(sockaddr_storage)));
  it.to_len = to_len;
  it.tag = tag;
  it.bytes.resize(size);
  return it.bytes.data();
}

size_t udp_send_queue::flush(int fd, std::vector<udp_send_failure>* failed_tags) {
  constexpr size_t chunk = 64;
  mmsghdr msgs[chunk];
  iovec iov[chunk];
  size_t failed = 0;
  size_t done = 0;
  while (done < used_) {
    size_t n = std::min(chunk, used_ - done);
    for (size_t i = 0; i < n; ++i) {
      auto& it = items_[done + i];
      iov[i].iov_base = it.bytes.data();
      iov[i].iov_len = it.bytes.size();
      std::memset(&msgs[i], 0, sizeof(mmsghdr));
      msgs[i].msg_hdr.msg_name = &it.to;
      msgs[i].msg_hdr.msg_namelen = it.to_len;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int sent;
    do {
      sent = ::sendmmsg(fd, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    if (sent <= 0) {
      // The first datagram failed (buffer full, unreachable destination): skip it and go on with the rest.
      ++failed;
      if (failed_tags)
        failed_tags->push_back(udp_send_failure{items_[done].tag, sent < 0 ? errno : 0});
      done += 1;
    } else {
      done += static_cast<size_t>(sent);
    }
  }
  used_ = 0;
  return failed;
}

bool same_address(const sockaddr* a, socklen_t alen, const sockaddr* b, socklen_t blen) {
  if (a->sa_family != b->sa_family)
    return false;
  if (a->sa_family == AF_INET) {
    if (alen < sizeof(sockaddr_in) || blen < sizeof(sockaddr_in))
      return false;
    auto* x = reinterpret_cast<const sockaddr_in*>(a);
    auto* y = reinterpret_cast<const sockaddr_in*>(b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    if (alen < sizeof(sockaddr_in6) || blen < sizeof(sockaddr_in6))
      return false;
    auto* x = reinterpret_cast<const sockaddr_in6*>(a);
    auto* y = reinterpret_cast<const sockaddr_in6*>(b);
    return x->sin6_port == y->sin6_port && std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

} // namespace roamd::net
