#include "net/query_ring.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

#include "net/dns_wire.hpp"
#include "net/upstream.hpp"

namespace roamd::net {

namespace {

void copy_text(char* out, size_t cap, std::string_view text) {
  size_t n = std::min(text.size(), cap - 1);
  if (n != 0)  // an empty view may have a null data(): memcpy must not see it
    std::memcpy(out, text.data(), n);
  out[n] = 0;
}

} // namespace

query_ring::query_ring(size_t capacity, uint32_t workers) : capacity_(std::min(capacity, max_capacity)) {
  for (uint32_t i = 0; i < std::max<uint32_t>(workers, 1); ++i) {
    shards_.push_back(std::make_unique<shard>());
    shards_.back()->entries.reserve(capacity_);
  }
}

void query_ring::observe(const query_event& e) noexcept {
  if (e.kind != query_event::response || capacity_ == 0 || e.worker >= shards_.size())
    return;
  auto& sh = *shards_[e.worker];
  std::lock_guard lock{sh.mtx};
  recent_query* slot;
  if (sh.entries.size() < capacity_) {
    slot = &sh.entries.emplace_back();  // within the reserved capacity: no allocation
  } else {
    slot = &sh.entries[sh.next];  // the oldest
    sh.next = (sh.next + 1) % capacity_;
  }
  recent_query& r = *slot;
  r.unix_us = std::chrono::duration_cast<std::chrono::microseconds>(e.query_time.time_since_epoch()).count();
  r.latency_us = static_cast<uint32_t>(std::min<int64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(e.response_time - e.query_time).count(), UINT32_MAX));
  r.tcp = e.tcp;
  r.source = e.source;
  r.fallback = e.source == answer_source::upstream ? e.fallback : fallback_result::not_run;
  r.rcode = e.size >= dns::header_size ? dns::rcode_of(dns::flags_of(e.message)) : 0;
  r.client = sockaddr_storage{};
  if (e.client && e.client_len <= sizeof(r.client))
    std::memcpy(&r.client, e.client, e.client_len);
  if (e.question) {
    r.qname = e.question->qname;
    r.qtype = e.question->qtype;
  } else {
    r.qname.size = 0;
    r.qtype = 0;
  }
  if (e.source == answer_source::upstream)
    copy_text(r.route, sizeof(r.route), e.route.empty() ? std::string_view{"."} : e.route);
  else
    r.route[0] = 0;
  copy_text(r.resolver, sizeof(r.resolver), e.resolver ? std::string_view{e.resolver->name} : std::string_view{});
}

std::vector<recent_query> query_ring::snapshot(size_t limit) const {
  std::vector<recent_query> out;
  for (auto& sh : shards_) {
    std::lock_guard lock{sh->mtx};
    out.insert(out.end(), sh->entries.begin(), sh->entries.end());
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.unix_us < b.unix_us; });
  if (limit != 0 && out.size() > limit)
    out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(limit));
  return out;
}

std::string address_text(const sockaddr* sa, socklen_t len) {
  char buf[INET6_ADDRSTRLEN];
  if (sa && sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return std::string{buf} + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa && sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return "[" + std::string{buf} + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return {};
}

} // namespace roamd::net
