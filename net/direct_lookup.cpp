#include "net/direct_lookup.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "net/dns_codec.hpp"
#include "net/dns_wire.hpp"
#include "net/endpoint.hpp"
#include "net/random.hpp"
#include "net/routing_table.hpp"

namespace roamd::net {

namespace {

constexpr uint16_t type_a = 1;
constexpr uint16_t type_aaaa = 28;

const char* rcode_name(uint8_t rc) {
  switch (rc) {
    case 2:
      return "SERVFAIL";
    case 3:
      return "NXDOMAIN";
    case 5:
      return "REFUSED";
    default:
      return "an error";
  }
}

/// One resolver, both types, within `timeout` in all.
direct_answer ask(const boost::asio::ip::udp::endpoint& ep, const std::string& name, std::chrono::milliseconds timeout,
                  uint32_t mark) {
  direct_answer out;
  auto who = to_string(ep);
  int fd = ::socket(ep.protocol().family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = "socket: " + std::string{std::strerror(errno)};
    return out;
  }
  if (mark != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);  // EPERM without CAP_NET_ADMIN: sent unmarked
  if (::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
    out.error = who + ": " + std::strerror(errno);
    ::close(fd);
    return out;
  }
  random_source rng;
  uint16_t ids[2] = {rng.next16(), rng.next16()};
  const uint16_t types[2] = {type_a, type_aaaa};
  bool answered[2] = {false, false};
  std::vector<std::string> addrs[2];
  uint8_t worst = 0;
  for (int i = 0; i < 2; ++i) {
    uint8_t q[300];
    auto n = build_lookup_query(name, types[i], ids[i], q, sizeof q);
    if (n == 0 || ::send(fd, q, n, 0) < 0) {
      out.error = n == 0 ? "not a domain name: " + name : who + ": " + std::strerror(errno);
      ::close(fd);
      return out;
    }
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!(answered[0] && answered[1])) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    uint8_t buf[4096];
    auto got = ::recv(fd, buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == ECONNREFUSED) {
        out.error = who + ": connection refused";
        break;
      }
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (answered[i])
        continue;
      auto a = parse_lookup_answer(buf, static_cast<size_t>(got), ids[i]);
      if (!a)
        continue;
      answered[i] = true;
      if (a->rcode != 0)
        worst = a->rcode;
      addrs[i] = std::move(a->addresses);
    }
  }
  ::close(fd);
  for (auto& v : addrs)
    out.addresses.insert(out.addresses.end(), v.begin(), v.end());
  out.ok = !out.addresses.empty();
  out.nxdomain = !out.ok && worst == static_cast<uint8_t>(dns::rcode::nxdomain);
  if (!out.ok && out.error.empty()) {
    if (!answered[0] && !answered[1])
      out.error = who + " timed out after " + std::to_string(timeout.count()) + " ms";
    else if (worst != 0)
      out.error = std::string{rcode_name(worst)} + " from " + who;
    else
      out.error = "no address from " + who;
  }
  return out;
}

} // namespace

size_t build_lookup_query(const std::string& name, uint16_t qtype, uint16_t id, uint8_t* out, size_t cap) {
  auto canonical = normalize_domain(name);
  if (!canonical)
    return 0;
  auto wire = routing_table::to_wire(*canonical);
  if (!wire || cap < 12u + wire->size + 4u)
    return 0;
  std::memset(out, 0, 12);
  dns::put16(out, id);
  dns::put16(out + 2, 0x0100);  // RD
  dns::put16(out + 4, 1);       // QDCOUNT
  std::memcpy(out + 12, wire->bytes.data(), wire->size);
  dns::put16(out + 12 + wire->size, qtype);
  dns::put16(out + 14 + wire->size, 1);  // IN
  return 12u + wire->size + 4u;
}

std::optional<parsed_answer> parse_lookup_answer(const uint8_t* msg, size_t size, uint16_t id) {
  if (size < 12 || dns::get16(msg) != id || (dns::get16(msg + 2) & 0x8000) == 0 || dns::get16(msg + 4) != 1)
    return std::nullopt;
  parsed_answer out;
  out.rcode = static_cast<uint8_t>(dns::get16(msg + 2) & 0x0f);
  size_t off = dns::skip_name(msg, size, 12);
  if (off == 0 || off + 4 > size)
    return std::nullopt;
  off += 4;
  uint16_t ancount = dns::get16(msg + 6);
  for (uint16_t i = 0; i < ancount; ++i) {
    off = dns::skip_name(msg, size, off);
    if (off == 0 || off + 10 > size)
      return std::nullopt;
    uint16_t type = dns::get16(msg + off);
    uint16_t klass = dns::get16(msg + off + 2);
    uint16_t len = dns::get16(msg + off + 8);
    off += 10;
    if (off + len > size)
      return std::nullopt;
    char text[INET6_ADDRSTRLEN] = {};
    if (klass == 1 && type == type_a && len == 4 && inet_ntop(AF_INET, msg + off, text, sizeof text))
      out.addresses.emplace_back(text);
    else if (klass == 1 && type == type_aaaa && len == 16 && inet_ntop(AF_INET6, msg + off, text, sizeof text))
      out.addresses.emplace_back(text);
    off += len;
  }
  return out;
}

void direct_lookup(const std::string& name, const std::vector<std::string>& resolvers, std::chrono::milliseconds timeout,
                   uint32_t socket_mark, std::function<void(direct_answer)> done) {
  std::thread{[name, resolvers, timeout, socket_mark, done = std::move(done)] {
    direct_answer last;
    last.error = "no plain-DNS local resolver known";
    for (const auto& r : resolvers) {
      auto ep = parse_endpoint(r);
      if (!ep)
        continue;
      last = ask(*ep, name, timeout, socket_mark);
      if (last.ok)
        break;
    }
    done(std::move(last));
  }}.detach();
}

} // namespace roamd::net
