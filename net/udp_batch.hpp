#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <sys/socket.h>

namespace roamd::net {

/// A batch of datagrams received with one recvmmsg() call into fixed slots of one buffer.
class udp_receive_batch {
public:
  udp_receive_batch(size_t count, size_t slot_size);

  /// Receives up to count() datagrams without blocking. Returns how many (0 when none or on error).
  size_t receive(int fd);

  uint8_t* data(size_t i) {
    return storage_.data() + i * slot_size_;
  }
  size_t size(size_t i) const {
    return msgs_[i].msg_len;
  }
  /// True when the datagram did not fit its slot (MSG_TRUNC).
  bool truncated(size_t i) const {
    return (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
  }
  const sockaddr_storage& from(size_t i) const {
    return addrs_[i];
  }
  socklen_t from_len(size_t i) const {
    return msgs_[i].msg_hdr.msg_namelen;
  }
  size_t count() const {
    return msgs_.size();
  }
  size_t slot_size() const {
    return slot_size_;
  }

private:
  size_t slot_size_;
  std::vector<uint8_t> storage_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<sockaddr_storage> addrs_;
};

/// A queued datagram that could not be sent: its tag and the errno of the failed send.
struct udp_send_failure {
  uint64_t tag = 0;
  int error = 0;
};

/// Datagrams queued for one socket and flushed with sendmmsg(); buffers are reused between flushes.
class udp_send_queue {
public:
  /// A buffer of `size` bytes for the next datagram to `to`; valid until flush(). `tag` comes back for a datagram
  /// that could not be sent.
  uint8_t* push(const sockaddr* to, socklen_t to_len, size_t size, uint64_t tag = 0);
  uint8_t* push(const sockaddr_storage& to, socklen_t to_len, size_t size) {
    return push(reinterpret_cast<const sockaddr*>(&to), to_len, size);
  }
  bool empty() const {
    return used_ == 0;
  }
  /// Sends everything queued; returns the number of datagrams that could not be sent and appends their tags and
  /// errors to `failed` when given.
  size_t flush(int fd, std::vector<udp_send_failure>* failed = nullptr);

private:
  struct item {
    sockaddr_storage to;
    socklen_t to_len;
    uint64_t tag;
    std::vector<uint8_t> bytes;
  };
  std::vector<item> items_;
  size_t used_ = 0;
};

/// True when two socket addresses name the same IPv4/IPv6 address and port.
bool same_address(const sockaddr* a, socklen_t alen, const sockaddr* b, socklen_t blen);

} // namespace roamd::net
