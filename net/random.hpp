#pragma once

#include <cstdint>

namespace roamd::net {

/// A fast per-thread random source for DNS IDs and source-socket choice (xoshiro256**), seeded from the kernel's
/// getrandom() and reseeded every 65536 draws so that a long observation of outputs predicts little.
/// Not thread-safe: each data-plane worker owns one. Tests may seed it explicitly.
class random_source {
public:
  random_source();
  explicit random_source(uint64_t seed);

  uint64_t next();

  uint16_t next16() {
    return static_cast<uint16_t>(next() >> 48);
  }

  /// Uniform in [0, n) for n > 0.
  uint32_t below(uint32_t n) {
    return static_cast<uint32_t>(((next() >> 32) * n) >> 32);
  }

private:
  void seed_from_kernel();
  void seed_with(uint64_t seed);

  uint64_t s_[4];
  uint32_t draws_ = 0;
  bool reseed_ = true;
};

} // namespace roamd::net
