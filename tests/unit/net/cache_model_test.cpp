// net/cache against a plain reference model (std::list LRU) over a long random sequence of inserts, lookups and
// time steps: catches index corruption (probe chains broken by deletion) that short hand-made cases miss.
#include "net/cache.hpp"

#include <list>
#include <map>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/net/dns_test_util.hpp"

namespace roamd::net {
namespace {

struct model {
  size_t capacity;
  std::list<std::string> lru;  // front = most recent
  std::map<std::string, std::pair<uint64_t, std::list<std::string>::iterator>> entries;

  void insert(const std::string& name, uint64_t expires) {
    auto it = entries.find(name);
    if (it != entries.end()) {
      lru.erase(it->second.second);
      entries.erase(it);
    }
    while (entries.size() >= capacity) {
      entries.erase(lru.back());
      lru.pop_back();
    }
    lru.push_front(name);
    entries[name] = {expires, lru.begin()};
  }
  bool lookup(const std::string& name, uint64_t now) {
    auto it = entries.find(name);
    if (it == entries.end())
      return false;
    if (now >= it->second.first) {
      lru.erase(it->second.second);
      entries.erase(it);
      return false;
    }
    lru.splice(lru.begin(), lru, it->second.second);
    return true;
  }
};

class cache_model : public ::testing::TestWithParam<size_t> {};

TEST_P(cache_model, agrees_with_a_reference_lru_over_random_operations) {
  size_t capacity = GetParam();
  dns_cache::limits lim;
  lim.capacity = capacity;
  dns_cache cache{lim};
  model m{capacity, {}, {}};
  std::mt19937 rng{12345};
  uint64_t now = 0;
  std::vector<uint8_t> out(4096);
  for (int step = 0; step < 20000; ++step) {
    std::string name = "n" + std::to_string(rng() % (capacity * 4 + 3)) + ".test";
    auto msg = test::wire{}
                 .header(1, 0x8180, 1, 1, 0, 0)
                 .question(name)
                 .pointer(12)
                 .rr_fixed(1, dns::class_in, 1 + rng() % 20, 4)
                 .raw({192, 0, 2, 1})
                 .get();
    dns::response_info r;
    ASSERT_EQ(dns::parse_response(msg.data(), msg.size(), r, true), dns::parse_error::none);
    dns_cache::key k{r.qname, r.qtype, r.qclass, false, false};
    switch (rng() % 3) {
      case 0:
        ASSERT_TRUE(cache.insert(k, msg.data(), msg.size(), r, now));
        m.insert(name, now + uint64_t{r.min_ttl} * 1000);
        break;
      case 1: {
        bool hit = cache.lookup(k, 7, now, out.data(), out.size()) != 0;
        ASSERT_EQ(hit, m.lookup(name, now)) << "step " << step << " name " << name;
        break;
      }
      default:
        now += rng() % 1500;
    }
    ASSERT_LE(cache.size(), capacity);
  }
}

INSTANTIATE_TEST_SUITE_P(sizes, cache_model, ::testing::Values(size_t{1}, size_t{3}, size_t{64}, size_t{1000}));

} // namespace
} // namespace roamd::net

namespace roamd::net {
namespace {

TEST(dns_cache_bytes, the_byte_budget_bounds_the_cache_and_refuses_giant_entries) {
  dns_cache::limits lim;
  lim.capacity = 1000;
  lim.max_bytes = 8192;
  dns_cache cache{lim};
  size_t stored = 0;
  for (int i = 0; i < 500; ++i) {
    auto msg = test::wire{}
                 .header(1, 0x8180, 1, 1, 0, 0)
                 .question("name" + std::to_string(i) + ".test")
                 .pointer(12)
                 .rr_fixed(1, dns::class_in, 300, 4)
                 .raw({192, 0, 2, 1})
                 .get();
    dns::response_info r;
    ASSERT_EQ(dns::parse_response(msg.data(), msg.size(), r, true), dns::parse_error::none);
    stored += cache.insert(dns_cache::key{r.qname, r.qtype, r.qclass, false, false}, msg.data(), msg.size(), r, 0);
  }
  EXPECT_EQ(stored, 500u);
  // Each entry takes well over 50 bytes, so 8 KiB holds far fewer than the 1000 the count allows.
  EXPECT_LT(cache.size(), 8192u / 50);
  EXPECT_GT(cache.size(), 10u);

  // One answer larger than an eighth of the budget is not stored at all.
  std::vector<uint8_t> big_rdata(1500, 'x');
  auto big = test::wire{}
               .header(1, 0x8180, 1, 1, 0, 0)
               .question("big.test")
               .pointer(12)
               .rr_fixed(16, dns::class_in, 300, static_cast<uint16_t>(big_rdata.size()))
               .raw(big_rdata)
               .get();
  dns::response_info r;
  ASSERT_EQ(dns::parse_response(big.data(), big.size(), r, true), dns::parse_error::none);
  EXPECT_FALSE(cache.insert(dns_cache::key{r.qname, r.qtype, r.qclass, false, false}, big.data(), big.size(), r, 0));
}

} // namespace
} // namespace roamd::net
