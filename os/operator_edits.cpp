#include "os/operator_edits.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "os/resolv_conf.hpp"
#include "os/text.hpp"

namespace roamd::os {

namespace {

/// The lines roamd added to resolvconf.conf: the lines of what it wrote that the original does not have (as a
/// multiset, so that it holds after edits were taken in: then what roamd wrote is the edited file, roamd's lines
/// somewhere in the middle of it).
std::vector<std::string> added_lines(const proto::JournalFile& jf) {
  std::map<std::string, int> original;
  for (auto& l : lines_of(jf.existed() && !jf.was_symlink() ? jf.original() : std::string{}))
    ++original[l];
  std::vector<std::string> out;
  for (auto& l : lines_of(jf.written())) {
    if (auto it = original.find(l); it != original.end() && it->second > 0)
      --it->second;
    else if (!l.empty())
      out.push_back(std::move(l));
  }
  return out;
}

bool names_only(const resolv_settings& s, const std::string& listen) {
  return s.nameservers.size() == 1 && s.nameservers.front() == listen;
}

} // namespace

file_role role_of(const proto::JournalFile& jf, const std::string& listen) {
  if (!jf.existed())
    return file_role::created;
  if (names_only(parse_resolv_conf(jf.written()), listen))
    return file_role::resolv_conf;
  return file_role::resolvconf_conf;
}

std::optional<std::string> edited_original(const proto::JournalFile& jf, const file_state& now,
                                           const std::string& listen) {
  if (!now.exists || now.is_symlink || !now.readable || listen.empty())
    return std::nullopt;
  switch (role_of(jf, listen)) {
    case file_role::created:
      return std::nullopt;
    case file_role::resolv_conf: {
      auto edited = parse_resolv_conf(now.content);
      if (jf.was_symlink() || !names_only(edited, listen))
        return std::nullopt;
      return with_search_and_options(jf.original(), edited);
    }
    case file_role::resolvconf_conf: {
      auto ours = added_lines(jf);
      if (ours.empty())
        return std::nullopt;
      auto lines = lines_of(now.content);
      std::vector<bool> dropped(lines.size(), false);
      for (const auto& o : ours) {
        size_t i = 0;
        while (i < lines.size() && (dropped[i] || lines[i] != o))
          ++i;
        if (i == lines.size())
          return std::nullopt;  // roamd's line is gone: not roamd's change any more, someone else's file
        dropped[i] = true;
      }
      std::string out;
      for (size_t i = 0; i < lines.size(); ++i)
        if (!dropped[i])
          out += lines[i] + "\n";
      if (!now.content.empty() && now.content.back() != '\n' && !out.empty() && !dropped.back())
        out.pop_back();
      return out;
    }
  }
  return std::nullopt;
}

std::string without_roamds_comments(const std::string& text, const std::string& written) {
  auto ours = lines_of(written);
  std::string out;
  for (const auto& l : lines_of(text)) {
    bool roamds = !l.empty() && l[0] == '#' &&
                  (l.rfind(original_nameserver_comment, 0) == 0 || std::find(ours.begin(), ours.end(), l) != ours.end());
    if (!roamds)
      out += l + "\n";
  }
  return out;
}

bool edited(const proto::JournalFile& jf, const file_state& now, const std::string& listen) {
  if (!jf.existed())
    return now.exists;
  if (!now.exists || now.is_symlink || !now.readable || listen.empty())
    return false;
  if (role_of(jf, listen) == file_role::resolv_conf)
    return names_only(parse_resolv_conf(now.content), listen);
  return edited_original(jf, now, listen).has_value();
}

} // namespace roamd::os
