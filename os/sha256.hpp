#pragma once

#include <string>
#include <string_view>

#include "os/hex.hpp"  // to_hex, from_hex (formerly declared here)

namespace roamd::os {

/// The SHA-256 digest of `bytes` (32 raw bytes).
std::string sha256(std::string_view bytes);

} // namespace roamd::os
