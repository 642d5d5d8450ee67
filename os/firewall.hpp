#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "os/file_system.hpp"
#include "os/os_error.hpp"

/// Interception: keeping the machine's DNS protected without owning its resolver settings, by redirecting outbound
/// port-53 traffic (UDP and TCP) to roamd's listener with nftables. roamd's own upstream traffic carries a socket
/// mark and is exempt, or it would loop.
namespace roamd::os {

/// The conntrack zone of intercepted clients' DNS flows (roamd's own upstream flows stay in zone 0); a lookup of a
/// redirected flow's original destination names it.
constexpr uint16_t intercepted_zone = 1;

struct interception_plan {
  std::string table = "roamd";  // nftables table (family inet) that holds every rule
  std::string to_v4;            // "127.0.2.53:53": IPv4 port-53 traffic goes there; "" = IPv4 is not intercepted
  std::string to_v6;            // "[::1]:53": the same for IPv6; "" = IPv6 is not intercepted
  uint32_t exempt_mark = 0;     // packets with this socket mark pass untouched (roamd's own upstream sockets)
};

/// "" when `plan` can be rendered safely, else what is wrong with it: the table must be a plain identifier (at most
/// 32 characters of [A-Za-z0-9_], not starting with a digit), the targets `a.b.c.d:port` and `[v6]:port`, and at
/// least one of them set. The guard refuses a plan that fails this, so configuration text never reaches nftables'
/// parser as anything but an address.
std::string check_interception_plan(const interception_plan& plan);

/// The ruleset for `plan` as nftables text: one table with a nat output chain. With `owned`, the table carries
/// `flags owner`: the kernel deletes it when the netlink socket that made it closes, so the rules die with roamd
/// (even on kill -9) and never black-hole DNS. The chain (nat, hook output, priority -100) lets packets with the
/// exempt mark through, leaves traffic already addressed to a target's address alone and DNATs UDP and TCP port 53
/// of each family that has a target (also to a 127.x address other than 127.0.0.1, which `redirect` cannot do).
/// Statements are separated by newlines: libnftables 1.0.6 rejects some `;`-separated forms.
std::string render_interception(const interception_plan& plan, bool owned);

/// Installs and removes interception rules. The Linux implementation uses libnftables in-process and keeps its
/// netlink socket open for the life of the object (the owner of `flags owner` tables).
class firewall {
public:
  virtual ~firewall() = default;

  /// "" when rules can be installed here, otherwise why not (the kernel has no nf_tables, no permission, ...).
  virtual std::string probe() = 0;

  /// Installs `plan`, replacing a table of the same name. The error names the step and nftables' message.
  virtual os_error install(const interception_plan& plan) = 0;

  /// Removes table `table`; a missing table is not an error.
  virtual os_error remove(const std::string& table) = 0;
};

std::unique_ptr<firewall> make_nftables_firewall();

/// Interception held to the takeover's standard: the table is journaled (`<state_dir>/interception.journal`)
/// before it is installed, removed before the journal is, and a journal left by a crashed run is acted on at start
/// and by `roamd --restore`.
class interception_guard {
public:
  interception_guard(std::shared_ptr<file_system> fs, std::shared_ptr<firewall> fw, std::string state_dir);

  /// Journal, then install. On failure nothing stays installed or journaled; the error says why.
  os_error engage(const interception_plan& plan);

  /// Remove the rules, then the journal. Idempotent.
  os_error release();

  bool engaged() const {
    return engaged_;
  }

  /// A journal of an earlier run: remove the table it names (table `roamd` when the journal is damaged or
  /// unreadable), then the journal. Returns what was done ("" when there was nothing to do); `error` is set when
  /// the rules could not be removed (the journal is then kept). Call it before engage, never while engaged.
  std::string recover(os_error& error);

  const std::string& journal_path() const {
    return path_;
  }

private:
  std::shared_ptr<file_system> fs_;
  std::shared_ptr<firewall> fw_;
  std::string dir_;
  std::string path_;
  std::string table_;
  bool engaged_ = false;
};

} // namespace roamd::os
