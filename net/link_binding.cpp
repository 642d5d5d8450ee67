#include "net/link_binding.hpp"

#include <cerrno>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace roamd::net {

int bind_to_link(int fd, bool v6, const std::string& name, unsigned ifindex) {
  if (ifindex == 0)
    return ENODEV;
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name.c_str(), static_cast<socklen_t>(name.size() + 1)) == 0)
    return 0;
  if (errno != EPERM)
    return errno;
  int rc;
  if (v6) {
    int index = static_cast<int>(ifindex);
    rc = ::setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_IF, &index, sizeof(index));
  } else {
    uint32_t index = htonl(ifindex);
    rc = ::setsockopt(fd, IPPROTO_IP, IP_UNICAST_IF, &index, sizeof(index));
  }
  return rc == 0 ? 0 : errno;
}

int set_socket_mark(int fd, uint32_t mark) {
  if (mark == 0)
    return 0;
  return ::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == 0 ? 0 : errno;
}

unsigned link_index(const std::string& name) {
  return name.empty() ? 0 : ::if_nametoindex(name.c_str());
}

} // namespace roamd::net
