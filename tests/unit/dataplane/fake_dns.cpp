#include "fake_dns.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace roamd::test {

namespace {

void put16(bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
uint16_t get16(const bytes& b, size_t off) {
  return static_cast<uint16_t>((b.at(off) << 8) | b.at(off + 1));
}

void put_name(bytes& b, const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos)
      dot = name.size();
    b.push_back(static_cast<uint8_t>(dot - start));
    b.insert(b.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  b.push_back(0);
}

size_t skip_name(const bytes& b, size_t off) {
  for (;;) {
    uint8_t len = b.at(off);
    if ((len & 0xC0) == 0xC0)
      return off + 2;
    if (len == 0)
      return off + 1;
    off += len + 1u;
  }
}

size_t question_end(const bytes& m) {
  return skip_name(m, 12) + 4;
}

sockaddr_in parse(const std::string& to) {
  auto colon = to.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(to.substr(colon + 1))));
  inet_pton(AF_INET, to.substr(0, colon).c_str(), &sa.sin_addr);
  return sa;
}

void set_timeout(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

bool read_all(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

/// Calls f(type, rdata_offset, rdlen) for every record after the question.
template <class F>
void for_each_record(const bytes& m, F f) {
  size_t pos = question_end(m);
  size_t total = size_t{get16(m, 6)} + get16(m, 8) + get16(m, 10);
  for (size_t i = 0; i < total && pos < m.size(); ++i) {
    pos = skip_name(m, pos);
    uint16_t type = get16(m, pos);
    uint16_t rdlen = get16(m, pos + 8);
    f(type, pos + 10, rdlen);
    pos += 10 + rdlen;
  }
}

} // namespace

bytes make_query(uint16_t id, const std::string& name, uint16_t qtype, bool edns, bool dnssec_ok,
                 const bytes& options) {
  bytes b;
  put16(b, id);
  put16(b, 0x0100);
  put16(b, 1);
  put16(b, 0);
  put16(b, 0);
  put16(b, edns ? 1 : 0);
  put_name(b, name);
  put16(b, qtype);
  put16(b, 1);
  if (edns) {
    b.push_back(0);
    put16(b, 41);
    put16(b, 1232);
    put16(b, 0);
    put16(b, dnssec_ok ? 0x8000 : 0);
    put16(b, static_cast<uint16_t>(options.size()));
    b.insert(b.end(), options.begin(), options.end());
  }
  return b;
}

bytes make_answer(const bytes& query, const std::vector<std::string>& addresses, uint8_t rcode, uint32_t ttl,
                  bool with_opt) {
  bytes b;
  put16(b, id_of(query));
  put16(b, static_cast<uint16_t>(0x8180 | rcode));
  put16(b, 1);
  put16(b, static_cast<uint16_t>(addresses.size()));
  put16(b, 0);
  put16(b, with_opt ? 1 : 0);
  b.insert(b.end(), query.begin() + 12, query.begin() + static_cast<long>(question_end(query)));
  for (const auto& a : addresses) {
    put16(b, 0xC00C);
    put16(b, 1);
    put16(b, 1);
    put32(b, ttl);
    put16(b, 4);
    in_addr addr{};
    inet_pton(AF_INET, a.c_str(), &addr);
    const auto* p = reinterpret_cast<const uint8_t*>(&addr);
    b.insert(b.end(), p, p + 4);
  }
  if (with_opt) {
    b.push_back(0);
    put16(b, 41);
    put16(b, 1232);
    put32(b, 0);
    put16(b, 0);
  }
  return b;
}

bytes make_txt_answer(const bytes& query, size_t txt_size) {
  bytes b;
  put16(b, id_of(query));
  put16(b, 0x8180);
  put16(b, 1);
  put16(b, 1);
  put16(b, 0);
  put16(b, 0);
  b.insert(b.end(), query.begin() + 12, query.begin() + static_cast<long>(question_end(query)));
  bytes rdata;
  size_t left = txt_size;
  while (left > 0) {
    size_t n = left > 255 ? 255 : left;
    rdata.push_back(static_cast<uint8_t>(n));
    rdata.insert(rdata.end(), n, 'x');
    left -= n;
  }
  put16(b, 0xC00C);
  put16(b, 16);
  put16(b, 1);
  put32(b, 300);
  put16(b, static_cast<uint16_t>(rdata.size()));
  b.insert(b.end(), rdata.begin(), rdata.end());
  return b;
}

std::vector<std::string> answer_addresses(const bytes& msg) {
  std::vector<std::string> out;
  if (msg.size() < 12)
    return out;
  size_t answers = get16(msg, 6);
  size_t i = 0;
  for_each_record(msg, [&](uint16_t type, size_t rdata, uint16_t rdlen) {
    if (i++ < answers && type == 1 && rdlen == 4) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, msg.data() + rdata, buf, sizeof(buf));
      out.emplace_back(buf);
    }
  });
  return out;
}

bytes option_bytes(const bytes& msg, uint16_t code) {
  bytes found;
  if (msg.size() < 12)
    return found;
  for_each_record(msg, [&](uint16_t type, size_t rdata, uint16_t rdlen) {
    if (type != 41)
      return;
    size_t o = rdata;
    while (o + 4 <= rdata + rdlen) {
      uint16_t c = get16(msg, o);
      uint16_t len = get16(msg, o + 2);
      if (c == code)
        found.assign(msg.begin() + static_cast<long>(o), msg.begin() + static_cast<long>(o + 4 + len));
      o += 4 + len;
    }
  });
  return found;
}

bool has_option(const bytes& msg, uint16_t code) {
  return !option_bytes(msg, code).empty();
}

fake_server::fake_server(udp_handler on_udp, tcp_handler on_tcp)
    : on_udp_(std::move(on_udp)), on_tcp_(std::move(on_tcp)) {
  other_fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
  // UDP on a kernel-chosen port, TCP on the same number. That TCP port can be in use already (an ephemeral client
  // port of a test running in parallel): then both are given up and the pair is tried again on another port.
  for (int attempt = 0;; ++attempt) {
    udp_fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    tcp_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa = parse("127.0.0.1:0");
    if (::bind(udp_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
      throw std::runtime_error("bind udp");
    socklen_t len = sizeof(sa);
    ::getsockname(udp_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    int one = 1;
    ::setsockopt(tcp_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(tcp_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 && ::listen(tcp_fd_, 16) == 0)
      break;
    ::close(udp_fd_);
    ::close(tcp_fd_);
    if (attempt == 50)
      throw std::runtime_error("bind tcp: no port free for both UDP and TCP after 50 tries");
  }
  sockaddr_in other = parse("127.0.0.1:0");
  ::bind(other_fd_, reinterpret_cast<sockaddr*>(&other), sizeof(other));
  udp_thread_ = std::thread([this] { udp_loop(); });
  tcp_thread_ = std::thread([this] { tcp_loop(); });
}

fake_server::~fake_server() {
  stop_ = true;
  udp_thread_.join();
  tcp_thread_.join();
  ::close(udp_fd_);
  ::close(tcp_fd_);
  ::close(other_fd_);
}

std::string fake_server::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

void fake_server::send_to(const bytes& msg, const sockaddr_in& to) {
  ::sendto(udp_fd_, msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
}

void fake_server::send_from_other_port(const bytes& msg, const sockaddr_in& to) {
  ::sendto(other_fd_, msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
}

std::vector<bytes> fake_server::queries() const {
  std::lock_guard<std::mutex> g{mtx_};
  return queries_;
}

std::vector<uint16_t> fake_server::source_ports() const {
  std::lock_guard<std::mutex> g{mtx_};
  return ports_;
}

size_t fake_server::query_count() const {
  std::lock_guard<std::mutex> g{mtx_};
  return queries_.size();
}

void fake_server::udp_loop() {
  uint8_t buf[65536];
  while (!stop_) {
    pollfd p{udp_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0)
      continue;
    sockaddr_in from{};
    socklen_t len = sizeof(from);
    ssize_t n = ::recvfrom(udp_fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0)
      continue;
    bytes q(buf, buf + n);
    {
      std::lock_guard<std::mutex> g{mtx_};
      queries_.push_back(q);
      ports_.push_back(ntohs(from.sin_port));
    }
    if (on_udp_)
      on_udp_(*this, q, from);
  }
}

void fake_server::tcp_loop() {
  while (!stop_) {
    pollfd p{tcp_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0)
      continue;
    int c = ::accept(tcp_fd_, nullptr, nullptr);
    if (c < 0)
      continue;
    set_timeout(c, 2000);
    uint8_t len[2];
    while (read_all(c, len, 2)) {
      bytes q((len[0] << 8) | len[1]);
      if (!read_all(c, q.data(), q.size()))
        break;
      {
        std::lock_guard<std::mutex> g{mtx_};
        queries_.push_back(q);
      }
      if (!on_tcp_)
        break;
      bytes a = on_tcp_(q);
      bytes framed{static_cast<uint8_t>(a.size() >> 8), static_cast<uint8_t>(a.size())};
      framed.insert(framed.end(), a.begin(), a.end());
      ::send(c, framed.data(), framed.size(), MSG_NOSIGNAL);
    }
    ::close(c);
  }
}

fake_server::udp_handler answer_with(std::vector<std::string> addresses) {
  return [addresses](fake_server& s, const bytes& q, const sockaddr_in& from) {
    s.send_to(make_answer(q, addresses), from);
  };
}

bytes udp_exchange(const std::string& to, const bytes& query, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  set_timeout(fd, timeout_ms);
  sockaddr_in sa = parse(to);
  ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  uint8_t buf[65536];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  ::close(fd);
  return n > 0 ? bytes(buf, buf + n) : bytes{};
}

int tcp_connect(const std::string& to) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  set_timeout(fd, 2000);
  sockaddr_in sa = parse(to);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void tcp_send(int fd, const bytes& msg) {
  bytes framed{static_cast<uint8_t>(msg.size() >> 8), static_cast<uint8_t>(msg.size())};
  framed.insert(framed.end(), msg.begin(), msg.end());
  ::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL);
}

bytes tcp_read(int fd) {
  uint8_t len[2];
  if (!read_all(fd, len, 2))
    return {};
  bytes a((len[0] << 8) | len[1]);
  if (!read_all(fd, a.data(), a.size()))
    return {};
  return a;
}

std::vector<bytes> tcp_exchange(const std::string& to, const std::vector<bytes>& queries, size_t expect,
                                int timeout_ms) {
  std::vector<bytes> out;
  int fd = tcp_connect(to);
  if (fd < 0)
    return out;
  set_timeout(fd, timeout_ms);
  for (const auto& q : queries)
    tcp_send(fd, q);
  for (size_t i = 0; i < expect; ++i) {
    bytes a = tcp_read(fd);
    if (a.empty())
      break;
    out.push_back(std::move(a));
  }
  ::close(fd);
  return out;
}

void waiter::notify() {
  std::lock_guard<std::mutex> g{mtx_};
  cv_.notify_all();
}

bool waiter::wait_for(const std::function<bool()>& pred, int timeout_ms) {
  std::unique_lock<std::mutex> lk{mtx_};
  return cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), pred);
}

} // namespace roamd::test
