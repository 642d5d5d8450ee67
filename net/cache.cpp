#include "net/cache.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "net/dns_wire.hpp"

namespace roamd::net {

namespace {

constexpr uint32_t none = 0xFFFFFFFFu;

/// One cached answer in a single allocation: this header, then `size` message bytes, then `ttl_count` offsets.
struct entry {
  uint64_t stored_ms;
  uint64_t expires_ms;
  uint32_t hash;
  uint32_t prev;  // LRU neighbours (slot numbers); prev is more recent
  uint32_t next;
  uint16_t size;
  uint16_t ttl_count;
  uint32_t generation;
  uint8_t flags;  // DO | CD << 1
  uint8_t name_size;

  uint8_t* bytes() {
    return reinterpret_cast<uint8_t*>(this + 1);
  }
  size_t footprint() const {
    return sizeof(entry) + size + 2u * ttl_count;
  }
  uint16_t ttl_offset(size_t i) {
    uint16_t v;
    std::memcpy(&v, bytes() + size + 2 * i, 2);
    return v;
  }
};

uint8_t flags_of(const dns_cache::key& k) {
  return static_cast<uint8_t>((k.dnssec_ok ? 1 : 0) | (k.checking_disabled ? 2 : 0));
}

uint32_t hash_of(const dns_cache::key& k) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (size_t i = 0; i < k.qname.size; ++i)
    h = (h ^ k.qname.bytes[i]) * 16777619u;
  for (uint32_t v : {uint32_t{k.qtype}, uint32_t{k.qclass}, uint32_t{flags_of(k)}, k.generation})
    h = (h ^ v) * 16777619u;
  return h;
}

inline uint8_t lower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c;
}

/// Does the entry answer exactly this key? Its question is at offset 12, uncompressed, in the original case.
bool matches(entry* e, const dns_cache::key& k, uint32_t h) {
  if (e->hash != h || e->flags != flags_of(k) || e->name_size != k.qname.size || e->generation != k.generation)
    return false;
  const uint8_t* q = e->bytes() + dns::header_size;
  for (size_t i = 0; i < k.qname.size; ++i)
    if (lower(q[i]) != k.qname.bytes[i])
      return false;
  return dns::get16(q + k.qname.size) == k.qtype && dns::get16(q + k.qname.size + 2) == k.qclass;
}

} // namespace

/// An exact LRU: an open-addressing index (linear probing, backward-shift deletion) over entry slots, and an
/// intrusive doubly linked recency list through the slots.
class dns_cache::stripe {
public:
  stripe(size_t capacity, size_t max_bytes) : capacity_(capacity), max_bytes_(max_bytes) {
    size_t n = 16;
    while (n < capacity * 2)
      n <<= 1;
    index_.assign(n, none);
    slots_.reserve(std::min<size_t>(capacity, 1 << 16));
  }
  ~stripe() {
    clear();
  }

  std::mutex mtx;

  entry* find(const key& k, uint32_t h, size_t& pos) {
    size_t mask = index_.size() - 1;
    for (pos = h & mask; index_[pos] != none; pos = (pos + 1) & mask)
      if (matches(slots_[index_[pos]], k, h))
        return slots_[index_[pos]];
    return nullptr;
  }

  void touch(uint32_t s) {
    if (head_ == s)
      return;
    unlink(s);
    push_front(s);
  }

  void erase_at(size_t pos) {
    uint32_t s = index_[pos];
    unlink(s);
    bytes_ -= slots_[s]->footprint();
    std::free(slots_[s]);
    slots_[s] = nullptr;
    free_.push_back(s);
    --count_;
    // Backward-shift deletion keeps every probe sequence unbroken.
    size_t mask = index_.size() - 1;
    size_t hole = pos;
    for (size_t i = (pos + 1) & mask; index_[i] != none; i = (i + 1) & mask) {
      size_t home = slots_[index_[i]]->hash & mask;
      if (((i - home) & mask) >= ((i - hole) & mask)) {
        index_[hole] = index_[i];
        hole = i;
      }
    }
    index_[hole] = none;
  }

  /// Takes ownership of `e`; false (and `e` freed) when it alone exceeds the byte budget.
  bool put(entry* e, const key& k) {
    size_t pos;
    if (find(k, e->hash, pos))
      erase_at(pos);
    if (e->footprint() > max_bytes_ / 8) {
      std::free(e);
      return false;
    }
    while ((count_ >= capacity_ || bytes_ + e->footprint() > max_bytes_) && tail_ != none) {
      size_t victim_pos;
      entry* victim = slots_[tail_];
      // Locate the victim's index position through its own question.
      size_t mask = index_.size() - 1;
      for (victim_pos = victim->hash & mask; index_[victim_pos] != tail_; victim_pos = (victim_pos + 1) & mask) {
      }
      erase_at(victim_pos);
    }
    uint32_t s;
    if (!free_.empty()) {
      s = free_.back();
      free_.pop_back();
      slots_[s] = e;
    } else {
      s = static_cast<uint32_t>(slots_.size());
      slots_.push_back(e);
    }
    size_t mask = index_.size() - 1;
    for (pos = e->hash & mask; index_[pos] != none; pos = (pos + 1) & mask) {
    }
    index_[pos] = s;
    push_front(s);
    ++count_;
    bytes_ += e->footprint();
    return true;
  }

  uint32_t slot_at(size_t pos) const {
    return index_[pos];
  }

  void clear() {
    for (auto* e : slots_)
      std::free(e);
    slots_.clear();
    free_.clear();
    std::fill(index_.begin(), index_.end(), none);
    head_ = tail_ = none;
    count_ = 0;
    bytes_ = 0;
  }

  size_t count() const {
    return count_;
  }

private:
  void unlink(uint32_t s) {
    entry* e = slots_[s];
    if (e->prev != none)
      slots_[e->prev]->next = e->next;
    else
      head_ = e->next;
    if (e->next != none)
      slots_[e->next]->prev = e->prev;
    else
      tail_ = e->prev;
  }
  void push_front(uint32_t s) {
    entry* e = slots_[s];
    e->prev = none;
    e->next = head_;
    if (head_ != none)
      slots_[head_]->prev = s;
    head_ = s;
    if (tail_ == none)
      tail_ = s;
  }

  size_t capacity_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::vector<uint32_t> index_;
  std::vector<entry*> slots_;
  std::vector<uint32_t> free_;
  uint32_t head_ = none;
  uint32_t tail_ = none;
  size_t count_ = 0;
};

dns_cache::dns_cache(limits lim) : lim_(lim) {
  // One exact LRU for ordinary sizes; large caches are split into 16 independently locked LRUs of at least 1024
  // entries each, which makes eviction approximately least-recently-used across the whole cache.
  size_t n = lim_.capacity == 0 ? 0 : (lim_.capacity >= 16 * 1024 ? 16 : 1);
  size_t budget = lim_.max_bytes != 0 ? lim_.max_bytes : std::max<size_t>(lim_.capacity * 512, 1 << 20);
  for (size_t i = 0; i < n; ++i)
    stripes_.push_back(std::make_unique<stripe>(lim_.capacity / n + (i < lim_.capacity % n ? 1 : 0), budget / n));
}

dns_cache::~dns_cache() = default;

size_t dns_cache::lookup(const key& k, uint16_t id, uint64_t now_ms, uint8_t* out, size_t cap) {
  if (stripes_.empty())
    return 0;
  uint32_t h = hash_of(k);
  auto& s = *stripes_[(h >> 16) % stripes_.size()];
  std::lock_guard<std::mutex> guard{s.mtx};
  size_t pos;
  entry* e = s.find(k, h, pos);
  if (e == nullptr)
    return 0;
  if (now_ms >= e->expires_ms) {
    s.erase_at(pos);
    return 0;
  }
  if (e->size > cap)
    return 0;
  std::memcpy(out, e->bytes(), e->size);
  dns::set_id(out, id);
  uint32_t age = static_cast<uint32_t>((now_ms - e->stored_ms) / 1000);
  for (size_t i = 0; i < e->ttl_count; ++i) {
    uint16_t off = e->ttl_offset(i);
    uint32_t ttl = dns::get32(out + off);
    dns::put32(out + off, ttl > age ? ttl - age : 0);
  }
  s.touch(s.slot_at(pos));
  return e->size;
}

bool dns_cache::insert(const key& k, const uint8_t* msg, size_t size, const dns::response_info& r, uint64_t now_ms) {
  if (stripes_.empty() || size < dns::header_size || r.qdcount != 1)
    return false;
  if (!(r.qname == k.qname) || r.qtype != k.qtype || r.qclass != k.qclass)
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
  size_t ttl_count = 0;
  for (uint16_t off : r.ttl_offsets)
    if (off + 4u <= stored_size)
      ++ttl_count;
  if (stored_size > 0xFFFF || ttl_count > 0xFFFF)
    return false;

  auto* e = static_cast<entry*>(std::malloc(sizeof(entry) + stored_size + 2 * ttl_count));
  if (e == nullptr)
    return false;
  e->stored_ms = now_ms;
  e->expires_ms = now_ms + uint64_t{ttl} * 1000;
  e->hash = hash_of(k);
  e->size = static_cast<uint16_t>(stored_size);
  e->ttl_count = static_cast<uint16_t>(ttl_count);
  e->flags = flags_of(k);
  e->generation = k.generation;
  e->name_size = k.qname.size;
  uint8_t* b = e->bytes();
  std::memcpy(b, msg, stored_size);
  if (r.has_edns)
    dns::put16(b + 10, static_cast<uint16_t>(dns::get16(msg + 10) - 1));
  size_t i = 0;
  for (uint16_t off : r.ttl_offsets) {
    if (off + 4u > stored_size)
      continue;
    uint32_t t = dns::get32(b + off);
    if (t > 0x7FFFFFFFu || t > ttl)
      dns::put32(b + off, t > 0x7FFFFFFFu ? 0 : ttl);
    std::memcpy(b + stored_size + 2 * i++, &off, 2);
  }
  auto& s = *stripes_[(e->hash >> 16) % stripes_.size()];
  std::lock_guard<std::mutex> guard{s.mtx};
  return s.put(e, k);
}

void dns_cache::clear() {
  for (auto& s : stripes_) {
    std::lock_guard<std::mutex> guard{s->mtx};
    s->clear();
  }
}

size_t dns_cache::size() const {
  size_t n = 0;
  for (auto& s : stripes_) {
    std::lock_guard<std::mutex> guard{s->mtx};
    n += s->count();
  }
  return n;
}

} // namespace roamd::net
