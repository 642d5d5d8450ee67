#include "tools/logging/journal_fields.hpp"

#include <algorithm>

namespace roamd::logging {

namespace {

bool identifier_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool identifier_char(char c) {
  return identifier_start(c) || (c >= '0' && c <= '9');
}

std::string field(std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(name.size() + 1 + value.size());
  out.append(name).append(1, '=').append(value);
  return out;
}

} // namespace

int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::err:
      return 3;
    case spdlog::level::critical:
      return 2;
    default:
      return 6;
  }
}

std::string_view component_of(std::string_view message) {
  constexpr size_t max_length = 64;
  auto end = message.find(": ");
  if (end == std::string_view::npos || end == 0 || end > max_length)
    return {};
  auto name = message.substr(0, end);
  if (!identifier_start(name.front()) || !std::all_of(name.begin(), name.end(), identifier_char))
    return {};
  return name;
}

std::vector<std::string> journal_fields(spdlog::level::level_enum level, std::string_view message,
                                        const spdlog::source_loc& where) {
  std::vector<std::string> fields;
  fields.push_back(field("MESSAGE", message));
  fields.push_back(field("PRIORITY", std::to_string(syslog_priority(level))));
  fields.push_back(field("SYSLOG_IDENTIFIER", "roamd"));
  if (auto component = component_of(message); !component.empty())
    fields.push_back(field("ROAMD_COMPONENT", component));
  if (!where.empty()) {
    if (where.filename)
      fields.push_back(field("CODE_FILE", where.filename));
    fields.push_back(field("CODE_LINE", std::to_string(where.line)));
    if (where.funcname)
      fields.push_back(field("CODE_FUNC", where.funcname));
  }
  return fields;
}

} // namespace roamd::logging
