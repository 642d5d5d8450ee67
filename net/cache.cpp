#include "net/cache.hpp"

#include <cstring>
#include <functional>

#include "net/dns_wire.hpp"

namespace roamd::net {

namespace {

thread_local std::string scratch_key;

} // namespace

dns_cache::dns_cache(limits lim) : lim_(lim) {
  // One exact LRU for ordinary sizes; large caches are split into 16 independently locked LRUs of at least 1024
  // entries each, which makes eviction approximately least-recently-used across the whole cache.
  size_t n = lim_.capacity == 0 ? 0 : (lim_.capacity >= 16 * 1024 ? 16 : 1);
  for (size_t i = 0; i < n; ++i) {
    auto s = std::make_unique<stripe>();
    s->capacity = lim_.capacity / n + (i < lim_.capacity % n ? 1 : 0);
    stripes_.push_back(std::move(s));
  }
}

void dns_cache::make_key(const key& k, std::string& out) {
  out.assign(reinterpret_cast<const char*>(k.qname.bytes.data()), k.qname.size);
  char tail[5];
  dns::put16(reinterpret_cast<uint8_t*>(tail), k.qtype);
  dns::put16(reinterpret_cast<uint8_t*>(tail) + 2, k.qclass);
  tail[4] = static_cast<char>((k.dnssec_ok ? 1 : 0) | (k.checking_disabled ? 2 : 0));
  out.append(tail, sizeof(tail));
}

dns_cache::stripe& dns_cache::stripe_for(const std::string& k) {
  return *stripes_[std::hash<std::string>{}(k) % stripes_.size()];
}

size_t dns_cache::lookup(const key& k, uint16_t id, uint64_t now_ms, uint8_t* out, size_t cap) {
  if (stripes_.empty())
    return 0;
  make_key(k, scratch_key);
  auto& s = stripe_for(scratch_key);
  std::lock_guard<std::mutex> guard{s.mtx};
  auto it = s.map.find(scratch_key);
  if (it == s.map.end())
    return 0;
  entry& e = it->second;
  if (now_ms >= e.expires_ms) {
    s.lru.erase(e.lru);
    s.map.erase(it);
    return 0;
  }
  if (e.bytes.size() > cap)
    return 0;
  std::memcpy(out, e.bytes.data(), e.bytes.size());
  dns::set_id(out, id);
  uint32_t age = static_cast<uint32_t>((now_ms - e.stored_ms) / 1000);
  for (uint16_t off : e.ttl_offsets) {
    uint32_t ttl = dns::get32(out + off);
    dns::put32(out + off, ttl > age ? ttl - age : 0);
  }
  s.lru.splice(s.lru.begin(), s.lru, e.lru);
  return e.bytes.size();
}

bool dns_cache::insert(const key& k, const uint8_t* msg, size_t size, const dns::response_info& r, uint64_t now_ms) {
  if (stripes_.empty() || size < dns::header_size || r.qdcount != 1)
    return false;
  uint16_t flags = dns::flags_of(msg);
  auto rc = static_cast<dns::rcode>(dns::rcode_of(flags));
  if ((flags & dns::flag_tc) || (rc != dns::rcode::noerror && rc != dns::rcode::nxdomain))
    return false;
  if (r.has_edns && r.opt_end != size)
    return false;  // OPT not last: we cannot cut it out cleanly
  bool negative = rc == dns::rcode::nxdomain || r.answer_count == 0;
  uint32_t ttl;
  if (negative) {
    if (!r.has_soa)
      return false;
    ttl = std::min(r.soa_negative_ttl, lim_.negative_max_ttl);
  } else {
    ttl = std::min(r.min_ttl, lim_.max_ttl);
  }
  if (ttl == 0)
    return false;
  size_t stored_size = r.has_edns ? r.opt_offset : size;

  entry e;
  e.bytes.assign(msg, msg + stored_size);
  if (r.has_edns)
    dns::put16(e.bytes.data() + 10, static_cast<uint16_t>(dns::get16(msg + 10) - 1));
  e.ttl_offsets.reserve(r.ttl_offsets.size());
  for (uint16_t off : r.ttl_offsets) {
    if (off + 4u > stored_size)
      continue;
    uint32_t t = dns::get32(e.bytes.data() + off);
    if (t > 0x7FFFFFFFu || t > ttl)
      dns::put32(e.bytes.data() + off, t > 0x7FFFFFFFu ? 0 : ttl);
    e.ttl_offsets.push_back(off);
  }
  e.stored_ms = now_ms;
  e.expires_ms = now_ms + uint64_t{ttl} * 1000;

  std::string kk;
  make_key(k, kk);
  auto& s = stripe_for(kk);
  std::lock_guard<std::mutex> guard{s.mtx};
  auto it = s.map.find(kk);
  if (it != s.map.end()) {
    s.lru.erase(it->second.lru);
    s.map.erase(it);
  }
  while (s.map.size() >= s.capacity && !s.lru.empty()) {
    s.map.erase(s.lru.back());
    s.lru.pop_back();
  }
  s.lru.push_front(kk);
  e.lru = s.lru.begin();
  s.map.emplace(std::move(kk), std::move(e));
  return true;
}

void dns_cache::clear() {
  for (auto& s : stripes_) {
    std::lock_guard<std::mutex> guard{s->mtx};
    s->map.clear();
    s->lru.clear();
  }
}

size_t dns_cache::size() const {
  size_t n = 0;
  for (auto& s : stripes_) {
    std::lock_guard<std::mutex> guard{s->mtx};
    n += s->map.size();
  }
  return n;
}

} // namespace roamd::net
