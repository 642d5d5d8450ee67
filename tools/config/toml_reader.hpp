#pragma once

// toml++ is used without exceptions: parse failures come back as values, nothing throws out of the loader.
#if defined(TOML_EXCEPTIONS) && TOML_EXCEPTIONS
#error "the config loader needs toml++ without exceptions (TOML_EXCEPTIONS 0)"
#endif
#define TOML_EXCEPTIONS 0
// toml++ 3.3 asserts on some malformed input instead of reporting it ("[,x]", "[\n]", "[[[1]]]", "b = [1,}",
// "b = 1979-05-27T:"; the table-header cases are fixed upstream in marzer/tomlplusplus#301), so a typo would abort
// any build without NDEBUG. Its NDEBUG behaviour with GCC, which is to go on and return a parse error, is made the
// behaviour of every build. Checked under ASan/UBSan with mutated configuration files; config_errors_test.cpp keeps
// these inputs.
#if defined(TOML_ASSERT)
#error "the config loader defines TOML_ASSERT itself"
#endif
#define TOML_ASSERT(expr) static_assert(true)
#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roamd::config::detail {

/// Appends `key` to a key path: ("cloud", "device_id") -> "cloud.device_id". Keys that are not bare TOML keys are
/// quoted, so the path reads as the user would write it.
std::string join(std::string_view path, std::string_view key);

/// Appends an array index to a key path: ("internal", 1) -> "internal[1]".
std::string at(std::string_view path, size_t index);

/// Quotes a string for a message, escaping quotes and control characters and shortening it past 64 characters.
std::string quote(std::string_view text);

/// Describes a node's value for a message: `"12ab"`, `5`, `true`, `an array`.
std::string describe_value(const toml::node& node);

/// Describes a node's type and value for a message: `string "12ab"`, `integer 5`, `boolean true`, `an array`.
std::string describe_typed(const toml::node& node);

/// Reads typed values out of a parsed TOML document and collects what is wrong with them. Validation goes on past a
/// problem; the problem that comes first in the file is the one reported, so a user fixes files top to bottom.
class toml_reader {
public:
  /// Records "<path>: <text>" at `where`.
  void fail(const toml::source_position& where, std::string_view path, std::string text);

  /// Records "<path>: <expected>, got <description of node>", with the node's type when `show_type`.
  void expected(const toml::node& node, std::string_view path, std::string_view what, bool show_type = false);

  /// Whether anything was recorded.
  bool failed() const noexcept { return !first_.text.empty(); }

  /// The first problem as "<source>:<line>:<column>: <path>: <text>".
  std::string message(std::string_view source) const;

  /// Reports every key of `table` (found at `path`) that `section` does not accept, with a suggestion when one is
  /// close. An empty `section` checks the top level.
  void reject_unknown(const toml::table& table, std::string_view path, std::string_view section);

  /// Reads an optional table `key` of `parent`; nullptr when absent or not a table (recorded).
  const toml::table* table(const toml::table& parent, std::string_view path, std::string_view key);

  /// Reads an optional integer from `min` to `max`; nullopt when absent or invalid (recorded).
  std::optional<int64_t> integer(const toml::table& parent, std::string_view path, std::string_view key, int64_t min,
                                 int64_t max);

  /// Reads an optional boolean; nullopt when absent or not a boolean (recorded).
  std::optional<bool> boolean(const toml::table& parent, std::string_view path, std::string_view key);

  /// Reads an optional string; nullopt when absent or not a string (recorded).
  std::optional<std::string> string(const toml::table& parent, std::string_view path, std::string_view key);

  /// Reads an optional non-empty array of endpoints, normalized with net::to_string; nullopt when absent or invalid
  /// (recorded). With `unique`, an endpoint listed twice (after normalization) is an error. With `tls`, DNS-over-TLS
  /// resolvers ("tls://IP:PORT#NAME", see net/resolver_address.hpp) are accepted too.
  std::optional<std::vector<std::string>> endpoints(const toml::table& parent, std::string_view path,
                                                    std::string_view key, bool unique, bool tls = false);

private:
  struct problem {
    toml::source_position where{};
    std::string text;  // "<path>: <what>", empty while nothing is wrong
  };
  problem first_;
};

} // namespace roamd::config::detail
