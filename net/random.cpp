#include "net/random.hpp"

#include <chrono>
#include <sys/random.h>

namespace roamd::net {

namespace {

uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

} // namespace

random_source::random_source() {
  seed_from_kernel();
}

random_source::random_source(uint64_t seed) : reseed_(false) {
  seed_with(seed);
}

void random_source::seed_with(uint64_t seed) {
  for (auto& s : s_)
    s = splitmix(seed);
}

void random_source::seed_from_kernel() {
  uint64_t buf[4] = {};
  if (getrandom(buf, sizeof(buf), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(buf))) {
    // Early boot without entropy: fall back to the clock mixed with the old state, never to a constant.
    seed_with(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^ s_[0]);
    return;
  }
  for (int i = 0; i < 4; ++i)
    s_[i] = buf[i] | (i == 0 ? 1 : 0);  // never all zero
}

uint64_t random_source::next() {
  if (reseed_ && ++draws_ >= 65536) {
    draws_ = 0;
    seed_from_kernel();
  }
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

} // namespace roamd::net
