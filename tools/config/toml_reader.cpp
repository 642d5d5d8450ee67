#include "tools/config/toml_reader.hpp"

#include <algorithm>
#include <sstream>
#include <tuple>

#include "net/endpoint.hpp"
#include "net/resolver_address.hpp"
#include "tools/config/schema.hpp"

namespace roamd::config::detail {

namespace {

bool is_bare_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

/// Orders positions as they appear in the file; a position the parser did not record (line 0) sorts last.
std::tuple<bool, uint32_t, uint32_t> order(const toml::source_position& p) {
  return {p.line == 0, p.line, p.column};
}

template <class T>
std::string print(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

} // namespace

std::string join(std::string_view path, std::string_view key) {
  std::string out{path};
  if (!out.empty())
    out += '.';
  out += is_bare_key(key) ? std::string{key} : quote(key);
  return out;
}

std::string at(std::string_view path, size_t index) {
  return std::string{path} + '[' + std::to_string(index) + ']';
}

std::string quote(std::string_view text) {
  constexpr size_t max_shown = 64;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < max_shown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += text.size() > max_shown ? "\"..." : "\"";
  return out;
}

std::string describe_value(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return quote(node.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point:
      return print(*node.as_floating_point());
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::date:
      return print(*node.as_date());
    case toml::node_type::time:
      return print(*node.as_time());
    case toml::node_type::date_time:
      return print(*node.as_date_time());
    case toml::node_type::array:
      return node.as_array()->empty() ? "an empty array" : "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "nothing";
  }
}

std::string describe_typed(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string " + describe_value(node);
    case toml::node_type::integer:
      return "integer " + describe_value(node);
    case toml::node_type::floating_point:
      return "floating-point " + describe_value(node);
    case toml::node_type::boolean:
      return "boolean " + describe_value(node);
    case toml::node_type::date:
      return "date " + describe_value(node);
    case toml::node_type::time:
      return "time " + describe_value(node);
    case toml::node_type::date_time:
      return "date-time " + describe_value(node);
    default:
      return describe_value(node);
  }
}

void toml_reader::fail(const toml::source_position& where, std::string_view path, std::string text) {
  if (failed() && order(first_.where) <= order(where))
    return;
  first_.where = where;
  first_.text = std::string{path} + ": " + text;
}

void toml_reader::expected(const toml::node& node, std::string_view path, std::string_view what, bool show_type) {
  fail(node.source().begin, path,
       std::string{what} + ", got " + (show_type ? describe_typed(node) : describe_value(node)));
}

std::string toml_reader::message(std::string_view source) const {
  std::string out{source};
  if (first_.where.line != 0)
    out += ':' + std::to_string(first_.where.line) + ':' + std::to_string(first_.where.column);
  out += ": " + first_.text;
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

void toml_reader::reject_unknown(const toml::table& table, std::string_view path, std::string_view section) {
  for (auto&& [key, node] : table) {
    auto name = key.str();
    if (section.empty() ? is_section(name) : is_key(section, name))
      continue;
    auto* array = node.as_array();
    bool is_table = node.is_table() || (array && !array->empty() && array->is_homogeneous(toml::node_type::table));
    std::string text = is_table ? "unknown table" : "unknown key";
    if (auto guess = suggest(section, name)) {
      auto place = guess->key.empty()              ? std::string{guess->section}
                   : guess->section == section     ? join(path, guess->key)
                                                   : join(guess->section, guess->key);
      text += " (did you mean " + place + "?)";
    }
    fail(key.source().begin, join(path, name), std::move(text));
  }
}

const toml::table* toml_reader::table(const toml::table& parent, std::string_view path, std::string_view key) {
  auto* node = parent.get(key);
  if (!node)
    return nullptr;
  if (auto* found = node->as_table())
    return found;
  expected(*node, join(path, key), "expected a table", true);
  return nullptr;
}

std::optional<int64_t> toml_reader::integer(const toml::table& parent, std::string_view path, std::string_view key,
                                            int64_t min, int64_t max) {
  auto* node = parent.get(key);
  if (!node)
    return std::nullopt;
  auto what = "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
  auto* value = node->as_integer();
  if (!value) {
    expected(*node, join(path, key), what, true);
    return std::nullopt;
  }
  if (value->get() < min || value->get() > max) {
    expected(*node, join(path, key), what);
    return std::nullopt;
  }
  return value->get();
}

std::optional<bool> toml_reader::boolean(const toml::table& parent, std::string_view path, std::string_view key) {
  auto* node = parent.get(key);
  if (!node)
    return std::nullopt;
  if (auto* value = node->as_boolean())
    return value->get();
  expected(*node, join(path, key), "expected true or false", true);
  return std::nullopt;
}

std::optional<std::string> toml_reader::string(const toml::table& parent, std::string_view path, std::string_view key) {
  auto* node = parent.get(key);
  if (!node)
    return std::nullopt;
  if (auto* value = node->as_string())
    return value->get();
  expected(*node, join(path, key), "expected a string", true);
  return std::nullopt;
}

std::optional<std::vector<std::string>> toml_reader::endpoints(const toml::table& parent, std::string_view path,
                                                               std::string_view key, bool unique, bool tls) {
  auto* node = parent.get(key);
  if (!node)
    return std::nullopt;
  auto where = join(path, key);
  auto* array = node->as_array();
  if (!array || array->empty()) {
    expected(*node, where, "expected a non-empty array of endpoint strings", true);
    return std::nullopt;
  }
  std::vector<std::string> normalized(array->size());  // "" where the element is invalid
  bool ok = true;
  for (size_t i = 0; i < array->size(); ++i) {
    const auto& element = *array->get(i);
    auto* text = element.as_string();
    if (!text) {
      expected(element, at(where, i), "expected an endpoint string", true);
      ok = false;
      continue;
    }
    std::string why;
    auto resolver = net::parse_resolver(text->get(), &why);
    if (!resolver || (resolver->tls && !tls)) {
      bool encrypted = text->get().rfind("tls://", 0) == 0 || text->get().rfind("https://", 0) == 0;
      expected(element, at(where, i),
               !encrypted ? "expected an endpoint (IP:PORT, [IPv6]:PORT, or an IP for port 53)" +
                                std::string{tls ? " or tls://IP[:PORT][#NAME][;pin-sha256=BASE64] or "
                                                  "https://IP[:PORT][/PATH][#NAME][;pin-sha256=BASE64]"
                                                : ""}
               : tls ? why
                     : "expected an endpoint (IP:PORT, [IPv6]:PORT, or an IP for port 53): DNS over TLS and DNS over "
                       "HTTPS are for [cloud] resolvers only");
      ok = false;
      continue;
    }
    normalized[i] = net::to_string(*resolver);
    auto same = std::find(normalized.begin(), normalized.begin() + i, normalized[i]);
    if (unique && same != normalized.begin() + i) {
      auto first = static_cast<size_t>(same - normalized.begin());
      fail(element.source().begin, at(where, i),
           "expected each endpoint once, got " + describe_value(element) + ", the same as " + at(where, first) +
               " (" + normalized[i] + ")");
      ok = false;
    }
  }
  if (!ok)
    return std::nullopt;
  return normalized;
}

} // namespace roamd::config::detail
