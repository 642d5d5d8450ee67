#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace roamd::config::detail {

/// Tells whether `section` is a top-level table the configuration accepts ("listen", "internal", ...).
bool is_section(std::string_view section);

/// Tells whether `key` belongs in `section` (for "internal", in each [[internal]] entry).
bool is_key(std::string_view section, std::string_view key);

/// A known place for an unknown key: `key` in `section`, or the section itself when `key` is empty.
struct suggestion {
  std::string_view section;
  std::string_view key;
};

/// Every key the loader accepts, as {section, key} (for the reference's completeness test).
std::vector<suggestion> all_keys();

/// Guesses what an unknown `key` of `section` was meant to be: a close spelling among the keys of `section`
/// ("adresses" -> listen.addresses), else the same key in another section (device_id under [listen] ->
/// cloud.device_id). For an unknown top-level entry, pass an empty `section`: the guess is then a section with a
/// close name, or the section that owns a key of that name. Returns nullopt when nothing is close.
std::optional<suggestion> suggest(std::string_view section, std::string_view key);

/// The optimal-string-alignment edit distance: insertions, deletions, substitutions and swaps of neighbours.
size_t edit_distance(std::string_view a, std::string_view b);

} // namespace roamd::config::detail
