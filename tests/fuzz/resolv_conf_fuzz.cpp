// libFuzzer target for the resolv.conf parser, owner detection and the per-link listings of openresolv
// (`resolvconf -l`), systemd-resolved (busctl's DNS/Domains) and NetworkManager (`nmcli -t device show`): any bytes,
// no crash, and invariants that hold for every input (settings never contain empty tokens; search domains are lower case without a trailing dot).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "os/link_dns.hpp"
#include "os/resolv_conf.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "resolv_conf_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = roamd::os::parse_resolv_conf(text);
  for (const auto& ns : s.nameservers)
    check(!ns.empty() && ns.find_first_of(" \t\n#;") == std::string::npos, "nameserver token");
  for (const auto& d : s.search) {
    check(d.empty() || d.back() != '.', "search domain keeps a trailing dot");
    for (char c : d)
      check(!(c >= 'A' && c <= 'Z'), "search domain not lower case");
  }
  for (const auto& o : s.options)
    check(!o.empty(), "empty option");
  // The same text as facts of a regular file and of a symlink: detection must be total.
  roamd::os::resolv_file_facts f;
  f.first_line = std::string(text.substr(0, text.find('\n')));
  (void)roamd::os::to_string(roamd::os::detect_owner(f));
  f.is_symlink = true;
  f.link_target = f.first_line;
  (void)roamd::os::to_string(roamd::os::detect_owner(f));
  // The same text as `resolvconf -l` output: every interface named, its link a prefix of its name without a dot,
  // and something registered.
  for (const auto& i : roamd::os::parse_resolvconf_list(text)) {
    check(!i.name.empty() && i.name.rfind(i.link, 0) == 0, "interface link not a prefix of its name");
    check(i.link.find('.') == std::string::npos, "interface link with a dot");
    check(!i.settings.nameservers.empty() || !i.settings.search.empty(), "interface with nothing registered");
  }
  // The same text as resolved's and NetworkManager's listings: every link has something, domains are lower case
  // without a trailing dot (the root "." aside), resolved's links have an index.
  for (auto backend : {roamd::os::backend_kind::resolved, roamd::os::backend_kind::networkmanager})
    for (const auto& i : roamd::os::parse_link_settings(backend, text)) {
      check(!i.settings.nameservers.empty() || !i.settings.search.empty() || !i.routing.empty(), "empty link");
      check(backend != roamd::os::backend_kind::resolved || i.ifindex != 0, "resolved link without an index");
      for (const auto* list : {&i.settings.search, &i.routing})
        for (const auto& d : *list) {
          check(!d.empty() && (d == "." || d.back() != '.'), "link domain empty or with a trailing dot");
          for (char c : d)
            check(!(c >= 'A' && c <= 'Z'), "link domain not lower case");
        }
    }
  return 0;
}
