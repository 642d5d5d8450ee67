#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace roamd::os {

/// The SHA-256 digest of `bytes` (32 raw bytes).
std::string sha256(std::string_view bytes);

/// Lower-case hex of raw bytes.
std::string to_hex(std::string_view bytes);

/// Raw bytes of hex digits (either case); nullopt for an odd length or anything that is not a hex digit.
std::optional<std::string> from_hex(std::string_view hex);

} // namespace roamd::os
