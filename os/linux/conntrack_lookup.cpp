#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "os/original_destination.hpp"

namespace roamd::os {

namespace {

/// The original destination in a parsed conntrack entry.
flow_end original_of(const nf_conntrack* ct) {
  flow_end e;
  if (nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) == AF_INET) {
    boost::asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), nfct_get_attr(ct, ATTR_ORIG_IPV4_DST), b.size());
    e.address = boost::asio::ip::address_v4{b};
  } else {
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), b.size());
    e.address = boost::asio::ip::address_v6{b};
  }
  e.port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  return e;
}

/// Sets the reply tuple's address attribute `v4`/`v6` from `a`; false when the families differ.
bool set_address(nf_conntrack* ct, const boost::asio::ip::address& a, bool v6, nf_conntrack_attr v4_attr,
                 nf_conntrack_attr v6_attr) {
  if (a.is_v6() != v6)
    return false;
  if (v6) {
    auto b = a.to_v6().to_bytes();
    nfct_set_attr(ct, v6_attr, b.data());
  } else {
    auto b = a.to_v4().to_bytes();
    uint32_t raw;
    std::memcpy(&raw, b.data(), sizeof raw);
    nfct_set_attr_u32(ct, v4_attr, raw);
  }
  return true;
}

/// Removes the CTA_TUPLE_ORIG attribute nfct_nlmsg_build adds (from the family alone, addresses empty): the kernel
/// looks up by the original tuple whenever one is present, and would find nothing.
void drop_original_tuple(nlmsghdr* nlh) {
  auto* first = reinterpret_cast<char*>(NLMSG_DATA(nlh)) + NLMSG_ALIGN(sizeof(nfgenmsg));
  auto* end = reinterpret_cast<char*>(nlh) + nlh->nlmsg_len;
  auto* out = first;
  for (auto* in = first; in + NLA_HDRLEN <= end;) {
    auto* a = reinterpret_cast<nlattr*>(in);
    auto size = NLA_ALIGN(a->nla_len);
    if (a->nla_len < NLA_HDRLEN || in + size > end)
      break;
    if ((a->nla_type & NLA_TYPE_MASK) != CTA_TUPLE_ORIG) {
      std::memmove(out, in, size);
      out += size;
    }
    in += size;
  }
  nlh->nlmsg_len = static_cast<uint32_t>(out - reinterpret_cast<char*>(nlh));
}

/// IPCTNL_MSG_CT_GET by the reply tuple over a NETLINK_NETFILTER socket, the attributes built by libnetfilter_conntrack
/// (nfct_nlmsg_build) and the answer parsed by it (nfct_nlmsg_parse). Not through nfct_query: it takes the message's
/// family from the original tuple, which a lookup by reply tuple leaves unset (EINVAL), and with it set sends an
/// empty original tuple too, which the kernel prefers (ENOENT).
class conntrack_lookup final : public original_destination {
public:
  explicit conntrack_lookup(int fd) : fd_(fd) {}
  ~conntrack_lookup() override {
    ::close(fd_);
  }

  std::string last_error() const override {
    return error_;
  }

  std::optional<flow_end> lookup(bool tcp, const flow_end& local, const flow_end& peer, uint16_t zone) override {
    // A v4-mapped address on a dual-stack socket is an IPv4 flow to conntrack.
    auto unmap = [](const boost::asio::ip::address& a) {
      return a.is_v6() && a.to_v6().is_v4_mapped()
               ? boost::asio::ip::address{boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6())}
               : a;
    };
    auto l = unmap(local.address), p = unmap(peer.address);
    bool v6 = l.is_v6();
    std::unique_ptr<nf_conntrack, void (*)(nf_conntrack*)> ct{nfct_new(), nfct_destroy};
    if (!ct) {
      error_ = "out of memory";
      return std::nullopt;
    }
    nfct_set_attr_u8(ct.get(), ATTR_ORIG_L3PROTO, v6 ? AF_INET6 : AF_INET);  // nfct_nlmsg_build requires it
    nfct_set_attr_u8(ct.get(), ATTR_REPL_L3PROTO, v6 ? AF_INET6 : AF_INET);
    nfct_set_attr_u8(ct.get(), ATTR_REPL_L4PROTO, tcp ? IPPROTO_TCP : IPPROTO_UDP);
    if (!set_address(ct.get(), l, v6, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC) ||
        !set_address(ct.get(), p, v6, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST)) {
      error_ = "the client's address is not of the listener's family";
      return std::nullopt;
    }
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_SRC, htons(local.port));
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_DST, htons(peer.port));
    if (zone != 0)
      nfct_set_attr_u16(ct.get(), ATTR_ZONE, zone);

    alignas(nlmsghdr) char buf[8192] = {};
    auto* nlh = reinterpret_cast<nlmsghdr*>(buf);
    nlh->nlmsg_len = NLMSG_LENGTH(sizeof(nfgenmsg));
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = ++seq_;
    auto* nfg = static_cast<nfgenmsg*>(NLMSG_DATA(nlh));
    nfg->nfgen_family = v6 ? AF_INET6 : AF_INET;
    nfg->version = NFNETLINK_V0;
    error_ = "cannot build the request";
    if (nfct_nlmsg_build(nlh, ct.get()) != 0)
      return std::nullopt;
    drop_original_tuple(nlh);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_, buf, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
      error_ = std::string{"sending to conntrack: "} + std::strerror(errno);
      return std::nullopt;
    }
    for (;;) {
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        error_ = std::string{"no answer from conntrack: "} + std::strerror(errno);
        return std::nullopt;
      }
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_seq != seq_)
          continue;  // a late answer to an earlier request that timed out
        if (h->nlmsg_type == NLMSG_ERROR) {
          auto code = -static_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
          error_ = code == ENOENT ? "no such flow" : std::string{"conntrack: "} + std::strerror(code);
          return std::nullopt;
        }
        if ((h->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
          continue;
        std::unique_ptr<nf_conntrack, void (*)(nf_conntrack*)> found{nfct_new(), nfct_destroy};
        if (!found || nfct_nlmsg_parse(h, found.get()) != 0 || !nfct_attr_is_set(found.get(), ATTR_ORIG_PORT_DST)) {
          error_ = "an answer without the original tuple";
          return std::nullopt;
        }
        auto original = original_of(found.get());
        if (original.address == l && original.port == local.port) {
          error_ = "not redirected (sent to roamd itself)";
          return std::nullopt;
        }
        error_.clear();
        return original;
      }
    }
  }

private:
  int fd_;
  uint32_t seq_ = 0;
  std::string error_;
};

} // namespace

std::unique_ptr<original_destination> make_conntrack_lookup(std::string& error) {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) {
    error = std::string{"cannot open a conntrack netlink socket: "} + std::strerror(errno);
    if (fd >= 0)
      ::close(fd);
    return nullptr;
  }
  timeval tv{0, 200'000};  // the kernel answers at once; never hang a worker on a lost reply
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return std::make_unique<conntrack_lookup>(fd);
}

} // namespace roamd::os
