#include "os/resolv_conf.hpp"

#include <algorithm>
#include <cctype>

#include "os/text.hpp"

namespace roamd::os {

namespace {

std::vector<std::string_view> tokens(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
      ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
      ++i;
    if (i > start)
      out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::string lower_domain(std::string_view s) {
  std::string out;
  for (char c : s)
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (!out.empty() && out.back() == '.')
    out.pop_back();
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool contains(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}

/// The keyword of a resolv.conf line ("" for comments and blank lines).
std::string_view keyword(std::string_view line) {
  auto hash = line.find_first_of("#;");
  auto t = tokens(line.substr(0, hash));
  return t.empty() ? std::string_view{} : t[0];
}

} // namespace

std::string with_search_and_options(std::string_view original, const resolv_settings& edited) {
  auto before = parse_resolv_conf(original);
  bool new_search = before.search != edited.search;
  bool new_options = before.options != edited.options;
  if (!new_search && !new_options)
    return std::string{original};
  std::string search_line = edited.search.empty() ? "" : "search " + join(edited.search) + "\n";
  std::string options_line = edited.options.empty() ? "" : "options " + join(edited.options) + "\n";
  std::string out;
  bool search_done = !new_search;
  bool options_done = !new_options;
  each_line(original, [&](std::string_view line) {
    auto k = keyword(line);
    if (new_search && (k == "search" || k == "domain")) {
      if (!search_done)
        out += search_line;
      search_done = true;
    } else if (new_options && k == "options") {
      if (!options_done)
        out += options_line;
      options_done = true;
    } else {
      out.append(line.data(), line.size());
      out += '\n';
    }
    return true;
  });
  if (!search_done)
    out += search_line;
  if (!options_done)
    out += options_line;
  return out;
}

std::vector<std::string> original_nameservers_noted(std::string_view text) {
  std::vector<std::string> out;
  each_line(text, [&](std::string_view line) {
    if (line.substr(0, original_nameserver_comment.size()) == original_nameserver_comment) {
      auto t = tokens(line.substr(original_nameserver_comment.size()));
      if (t.size() == 1)
        out.emplace_back(t[0]);
    }
    return true;
  });
  return out;
}

std::string resolv_conf_lines(const std::vector<std::string>& nameservers, const std::vector<std::string>& search,
                              const std::vector<std::string>& options) {
  std::string out;
  for (const auto& n : nameservers)
    out += "nameserver " + n + "\n";
  if (!search.empty())
    out += "search " + join(search) + "\n";
  if (!options.empty())
    out += "options " + join(options) + "\n";
  return out;
}

resolv_settings parse_resolv_conf(std::string_view text) {
  resolv_settings out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    ++line_no;
    pos = end + 1;
    auto hash = line.find_first_of("#;");
    if (hash != std::string_view::npos)
      line = line.substr(0, hash);
    auto t = tokens(line);
    if (t.empty())
      continue;
    auto problem = [&](const std::string& why) { out.problems.push_back("line " + std::to_string(line_no) + ": " + why); };
    if (t[0] == "nameserver") {
      if (t.size() != 2)
        problem("nameserver takes exactly one address");
      else
        out.nameservers.emplace_back(t[1]);
    } else if (t[0] == "search" || t[0] == "domain") {
      out.search.clear();  // the last search or domain line wins, as in glibc
      for (size_t i = 1; i < t.size(); ++i) {
        auto d = lower_domain(t[i]);
        if (d.empty() || d.front() == '.' || d.back() == '.' || d.find("..") != std::string::npos)
          problem("malformed search domain \"" + std::string(t[i]) + "\"");
        else
          out.search.push_back(std::move(d));
      }
      if (t.size() == 1)
        problem(std::string(t[0]) + " without a domain");
    } else if (t[0] == "options") {
      for (size_t i = 1; i < t.size(); ++i)
        out.options.emplace_back(t[i]);
    } else if (t[0] == "sortlist") {
      // Accepted and not needed by roamd.
    } else {
      problem("unknown keyword \"" + std::string(t[0]) + "\"");
    }
    if (end == text.size())
      break;
  }
  return out;
}

const char* to_string(resolv_owner o) {
  switch (o) {
    case resolv_owner::plain_file:
      return "plain file";
    case resolv_owner::systemd_resolved:
      return "systemd-resolved";
    case resolv_owner::network_manager:
      return "NetworkManager";
    case resolv_owner::resolvconf:
      return "resolvconf";
    case resolv_owner::vpn_script:
      return "VPN script";
    case resolv_owner::roamd:
      return "roamd";
    case resolv_owner::unknown_symlink:
      return "symlink to an unknown manager";
  }
  return "unknown";
}

resolv_owner detect_owner(const resolv_file_facts& f) {
  if (f.is_symlink) {
    const auto& t = f.link_target;
    if (starts_with(t, "/run/systemd/resolve/") || t == "/usr/lib/systemd/resolv.conf"
        || t == "/lib/systemd/resolv.conf")
      return resolv_owner::systemd_resolved;
    if (starts_with(t, "/run/NetworkManager/") || starts_with(t, "/var/run/NetworkManager/"))
      return resolv_owner::network_manager;
    if (starts_with(t, "/run/resolvconf/") || starts_with(t, "/etc/resolvconf/run/"))
      return resolv_owner::resolvconf;
    return resolv_owner::unknown_symlink;
  }
  std::string_view line = f.first_line;
  if (starts_with(line, roamd_marker))
    return resolv_owner::roamd;
  if (contains(line, "Generated by NetworkManager"))
    return resolv_owner::network_manager;
  if (contains(line, "Generated by resolvconf") || contains(line, "openresolv"))
    return resolv_owner::resolvconf;
  if (contains(line, "systemd-resolved"))
    return resolv_owner::systemd_resolved;
  if (contains(line, "@VPNC_GENERATED@"))
    return resolv_owner::vpn_script;
  return resolv_owner::plain_file;
}

std::vector<interface_settings> parse_resolvconf_list(std::string_view text) {
  constexpr std::string_view header = "# resolv.conf from ";
  std::vector<interface_settings> out;
  auto flush = [&](std::string name, std::string_view body) {
    if (name.empty())
      return;
    interface_settings i;
    i.link = name.substr(0, name.find('.'));
    i.name = std::move(name);
    i.settings = parse_resolv_conf(body);
    if (!i.settings.nameservers.empty() || !i.settings.search.empty())
      out.push_back(std::move(i));
  };
  std::string name;
  size_t body_start = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    auto line = text.substr(pos, end - pos);
    if (line.substr(0, header.size()) == header) {
      flush(name, text.substr(body_start, pos - body_start));
      name = std::string{line.substr(header.size())};
      while (!name.empty() && (name.back() == ' ' || name.back() == '\r'))
        name.pop_back();
      body_start = end + 1 > text.size() ? text.size() : end + 1;
    }
    pos = end + 1;
  }
  if (!name.empty())
    flush(name, text.substr(std::min(body_start, text.size())));
  return out;
}

} // namespace roamd::os
