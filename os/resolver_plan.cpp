#include "os/resolver_plan.hpp"

#include <algorithm>

#include "os/text.hpp"

namespace roamd::os {

namespace {

/// `target` made absolute against `dir`, with "." and ".." folded lexically.
std::string absolute_target(const std::string& dir, const std::string& target) {
  std::string joined = target.empty() || target[0] == '/' ? target : dir + "/" + target;
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= joined.size()) {
    auto next = joined.find('/', pos);
    if (next == std::string::npos)
      next = joined.size();
    auto part = joined.substr(pos, next - pos);
    if (part == "..") {
      if (!parts.empty())
        parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = next + 1;
  }
  std::string out;
  for (const auto& p : parts)
    out += "/" + p;
  return out.empty() ? "/" : out;
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

/// The settings in `path` when it can be read, else `fallback`.
resolv_settings settings_from(file_system& fs, const std::string& path, const resolv_settings& fallback) {
  std::string text;
  if (fs.read(path, text))
    return fallback;
  auto s = parse_resolv_conf(text);
  return s.nameservers.empty() ? fallback : s;
}

bool running(file_system& fs, const std::string& marker) {
  return fs.inspect(marker).exists;
}

backend_kind auto_backend(resolv_owner owner, const system_paths& paths, file_system& fs) {
  switch (owner) {
    case resolv_owner::systemd_resolved:
      return running(fs, paths.resolved_socket) ? backend_kind::resolved : backend_kind::file;
    case resolv_owner::network_manager:
      // Debian starts NetworkManager with --no-daemon (no pid file); its runtime resolv.conf copies show it runs.
      return running(fs, paths.nm_running) || running(fs, paths.nm_runtime) ? backend_kind::networkmanager
                                                                             : backend_kind::file;
    case resolv_owner::resolvconf:
      // openresolv writes /etc/resolv.conf itself (a regular file with its signature) and reads resolvconf.conf;
      // Debian's older resolvconf package symlinks to /run/resolvconf and has no name_servers= knob.
      return fs.inspect(paths.resolvconf_conf).exists || !fs.inspect(paths.resolv_conf).is_symlink
               ? backend_kind::resolvconf
               : backend_kind::file;
    default:
      return backend_kind::file;
  }
}

} // namespace

const char* to_string(backend_kind b) {
  switch (b) {
    case backend_kind::file:
      return "file";
    case backend_kind::resolvconf:
      return "resolvconf";
    case backend_kind::resolved:
      return "resolved";
    case backend_kind::networkmanager:
      return "networkmanager";
  }
  return "unknown";
}

std::optional<backend_kind> backend_from_string(std::string_view name) {
  for (auto b : {backend_kind::file, backend_kind::resolvconf, backend_kind::resolved, backend_kind::networkmanager})
    if (name == to_string(b))
      return b;
  return std::nullopt;
}

resolv_owner owner_of(const std::string& path, const file_state& st) {
  resolv_file_facts facts;
  facts.is_symlink = st.is_symlink;
  facts.link_target = st.is_symlink ? absolute_target(parent_dir(path), st.link_target) : std::string{};
  facts.first_line = first_line(st.content);
  facts.bind_mounted = st.bind_mounted;
  facts.immutable = st.immutable;
  return detect_owner(facts);
}

std::string render_resolv_conf(const resolv_settings& original, const std::string& listen,
                               const std::string& journal_hint) {
  std::string out{roamd_marker};
  out += ": the system's DNS goes through roamd's local proxy.\n";
  out += "# The settings it replaced are kept in " + journal_hint + " and come back when roamd stops\n";
  out += "# (or with `roamd --restore`). Edits to the search and options lines here are kept in them;\n";
  out += "# a file with other nameservers is taken as the network's new settings, except a VPN's,\n";
  out += "# which is used only while its tunnel is up.\n";
  for (const auto& ns : original.nameservers)
    out += std::string{original_nameserver_comment} + ns + "\n";
  return out + resolv_conf_lines({listen}, original.search, original.options);
}

takeover_plan plan_takeover(std::string_view mode, const system_paths& paths, file_system& fs,
                            const std::string& listen) {
  takeover_plan plan;
  plan.listen = listen;
  auto st = fs.inspect(paths.resolv_conf);
  plan.owner = owner_of(paths.resolv_conf, st);
  if (st.exists && !st.readable && !st.is_symlink) {
    plan.refusal = paths.resolv_conf + " cannot be read";
    return plan;
  }
  if (plan.owner == resolv_owner::roamd) {
    plan.refusal = paths.resolv_conf + " already carries roamd's marker but no journal describes it: the original "
                   "is unknown, and roamd will not record its own file as the original. Put the system's settings "
                   "back in " + paths.resolv_conf + " (or delete it) and restart roamd";
    return plan;
  }
  if (st.immutable) {
    plan.refusal = paths.resolv_conf + " is immutable (chattr +i): no one, not even root, can change it";
    return plan;
  }
  plan.original = parse_resolv_conf(st.readable ? st.content : std::string{});
  if (mode == "auto")
    plan.backend = auto_backend(plan.owner, paths, fs);
  else if (auto b = backend_from_string(mode))
    plan.backend = *b;
  else {
    plan.refusal = "unknown mode \"" + std::string{mode} + "\"";
    return plan;
  }
  switch (plan.backend) {
    case backend_kind::file:
      plan.edits.push_back({paths.resolv_conf, render_resolv_conf(plan.original, listen, "roamd's journal")});
      break;
    case backend_kind::resolvconf: {
      std::string conf;
      if (fs.inspect(paths.resolvconf_conf).exists && fs.read(paths.resolvconf_conf, conf)) {
        plan.refusal = paths.resolvconf_conf + " cannot be read";
        return plan;
      }
      if (!conf.empty() && conf.back() != '\n')
        conf += '\n';
      conf += "# Added by roamd: resolvconf points the system at roamd's local proxy (removed when roamd stops).\n";
      conf += "name_servers=\"" + listen + "\"\n";
      plan.edits.push_back({paths.resolvconf_conf, conf});
      plan.apply_command = {"resolvconf", "-u"};
      plan.restore_command = {"resolvconf", "-u"};
      break;
    }
    case backend_kind::resolved:
      plan.original = settings_from(fs, paths.resolved_upstream, plan.original);
      plan.edits.push_back({paths.resolved_dropin,
                            "# Added by roamd (runtime only; removed when roamd stops).\n[Resolve]\nDNS=" + listen +
                              "\nDomains=~.\n"});
      plan.apply_command = {"systemctl", "restart", "systemd-resolved.service"};
      // Not waited for: the unit is ordered after resolved, so a blocking restart while roamd's own stop job runs
      // would wait for that job (and it for us) until the helper's timeout.
      plan.restore_command = {"systemctl", "--no-block", "restart", "systemd-resolved.service"};
      break;
    case backend_kind::networkmanager:
      plan.original = settings_from(fs, paths.nm_upstream, plan.original);
    {
      std::string text = "# Added by roamd (runtime only; removed when roamd stops).\n";
      if (!plan.original.search.empty()) {
        std::string searches;
        for (const auto& s : plan.original.search)
          searches += (searches.empty() ? "" : ",") + s;
        text += "[global-dns]\nsearches=" + searches + "\n";
      }
      text += "[global-dns-domain-*]\nservers=" + listen + "\n";
      plan.edits.push_back({paths.nm_dropin, text});
    }
      plan.apply_command = {"nmcli", "general", "reload"};
      plan.restore_command = plan.apply_command;
      break;
  }
  return plan;
}

} // namespace roamd::os
