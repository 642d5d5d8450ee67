#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "os/file_system.hpp"
#include "os/resolv_conf.hpp"

/// Which resolver-settings backend takes the system over, and exactly what it would write: a pure decision over
/// what the file system shows, so every owner and backend is unit-tested without a real /etc.
namespace roamd::os {

enum class backend_kind { file, resolvconf, resolved, networkmanager };

const char* to_string(backend_kind b);
std::optional<backend_kind> backend_from_string(std::string_view name);

/// Where each backend's files are (overridable for tests and for resolv_conf in the configuration).
struct system_paths {
  std::string resolv_conf = "/etc/resolv.conf";
  std::string resolvconf_conf = "/etc/resolvconf.conf";                    // openresolv
  std::string resolved_socket = "/run/systemd/resolve/io.systemd.Resolve";  // exists while resolved runs
  std::string resolved_upstream = "/run/systemd/resolve/resolv.conf";      // resolved's uplink servers
  std::string resolved_dropin = "/run/systemd/resolved.conf.d/zz-roamd.conf";
  std::string nm_running = "/run/NetworkManager/NetworkManager.pid";  // only when NM daemonizes
  std::string nm_runtime = "/run/NetworkManager/no-stub-resolv.conf";  // written by a running NM managing DNS
  std::string nm_upstream = "/run/NetworkManager/no-stub-resolv.conf";
  std::string nm_dropin = "/run/NetworkManager/conf.d/zz-roamd.conf";
};

/// One file the takeover writes (whole content; roamd never edits a file partly in place except a bind mount).
struct file_edit {
  std::string path;
  std::string content;
};

/// What a takeover will do, or why it must not happen.
struct takeover_plan {
  backend_kind backend = backend_kind::file;
  resolv_owner owner = resolv_owner::plain_file;
  std::vector<file_edit> edits;
  std::vector<std::string> apply_command;    // run after the edits (empty: none)
  std::vector<std::string> restore_command;  // run after the files are back (empty: none)
  resolv_settings original;                  // what the system resolved with before
  std::string listen;                        // the address written as the nameserver
  std::string refusal;                       // non-empty: do not take over, and this says why
};

/// The owner of the resolv.conf at `path` as `st` shows it (a relative symlink is resolved against its directory).
resolv_owner owner_of(const std::string& path, const file_state& st);

/// Chooses the backend for `mode` ("auto" picks by owner, falling back to the plain file when the owner's service is
/// not running) and builds the plan that points the system at `listen` (an IP address), keeping search domains and
/// options.
takeover_plan plan_takeover(std::string_view mode, const system_paths& paths, file_system& fs,
                            const std::string& listen);

/// The resolv.conf text roamd writes: its marker line, a note where the original is, the nameserver, the original's
/// search list and options.
std::string render_resolv_conf(const resolv_settings& original, const std::string& listen,
                               const std::string& journal_hint);

} // namespace roamd::os
