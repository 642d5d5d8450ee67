// lab_conntrack ADDR PORT: a DNS listener for the lab that, for every query it receives over UDP or TCP, asks
// conntrack (os::original_destination, the real libnetfilter_conntrack lookup) where the client originally sent it,
// prints "udp|tcp PEER -> ORIGINAL" (or "-> none") on stdout, and answers REFUSED. Run behind the interception rules
// to see which server each redirected query was meant for.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "os/firewall.hpp"
#include "os/original_destination.hpp"

namespace {

using roamd::os::flow_end;

flow_end to_end(const sockaddr_storage& ss) {
  flow_end e;
  if (ss.ss_family == AF_INET) {
    auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    boost::asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), &a.sin_addr, 4);
    e.address = boost::asio::ip::address_v4{b};
    e.port = ntohs(a.sin_port);
  } else {
    auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &a.sin6_addr, 16);
    e.address = boost::asio::ip::address_v6{b};
    e.port = ntohs(a.sin6_port);
  }
  return e;
}

std::string text(const flow_end& e) {
  auto a = e.address.to_string();
  return (e.address.is_v6() ? "[" + a + "]" : a) + ":" + std::to_string(e.port);
}

void report(roamd::os::original_destination& ct, bool tcp, const flow_end& local, const flow_end& peer) {
  auto original = ct.lookup(tcp, local, peer, roamd::os::intercepted_zone);
  std::printf("%s %s -> %s\n", tcp ? "tcp" : "udp", text(peer).c_str(),
              original ? text(*original).c_str() : ("none (" + ct.last_error() + ")").c_str());
  std::fflush(stdout);
}

/// REFUSED for the query in `q` (header flags rewritten in place).
void refuse(unsigned char* q, size_t n) {
  if (n >= 4) {
    q[2] = static_cast<unsigned char>(0x80 | (q[2] & 0x79));  // QR, keep opcode and RD
    q[3] = 5;
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: lab_conntrack ADDR PORT\n");
    return 2;
  }
  std::string error;
  auto ct = roamd::os::make_conntrack_lookup(error);
  if (!ct) {
    std::fprintf(stderr, "lab_conntrack: %s\n", error.c_str());
    return 1;
  }
  sockaddr_storage bind_to{};
  socklen_t len;
  auto port = static_cast<uint16_t>(std::stoi(argv[2]));
  if (auto* a4 = reinterpret_cast<sockaddr_in*>(&bind_to); inet_pton(AF_INET, argv[1], &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&bind_to);
    if (inet_pton(AF_INET6, argv[1], &a6->sin6_addr) != 1) {
      std::fprintf(stderr, "lab_conntrack: not an address: %s\n", argv[1]);
      return 2;
    }
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  }
  int udp = socket(bind_to.ss_family, SOCK_DGRAM, 0), tcp = socket(bind_to.ss_family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(udp, reinterpret_cast<sockaddr*>(&bind_to), len) != 0 ||
      bind(tcp, reinterpret_cast<sockaddr*>(&bind_to), len) != 0 || listen(tcp, 16) != 0) {
    std::perror("lab_conntrack: bind");
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  auto local = to_end(bind_to);
  unsigned char buf[4096];
  for (;;) {
    pollfd fds[2] = {{udp, POLLIN, 0}, {tcp, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0)
      return 1;
    if (fds[0].revents & POLLIN) {
      sockaddr_storage peer{};
      socklen_t plen = sizeof peer;
      auto n = recvfrom(udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &plen);
      if (n > 0) {
        report(*ct, false, local, to_end(peer));
        refuse(buf, static_cast<size_t>(n));
        sendto(udp, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer), plen);
      }
    }
    if (fds[1].revents & POLLIN) {
      sockaddr_storage peer{};
      socklen_t plen = sizeof peer;
      int c = accept(tcp, reinterpret_cast<sockaddr*>(&peer), &plen);
      if (c < 0)
        continue;
      timeval tv{2, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ssize_t got = 0, n;
      while ((n = recv(c, buf + got, sizeof buf - static_cast<size_t>(got), 0)) > 0) {
        got += n;
        if (got >= 2 && got >= 2 + ((buf[0] << 8) | buf[1]))
          break;
      }
      if (got > 2) {
        report(*ct, true, local, to_end(peer));
        refuse(buf + 2, static_cast<size_t>(got - 2));
        send(c, buf, static_cast<size_t>(got), MSG_NOSIGNAL);
      }
      close(c);
    }
  }
}
