#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/cloud.pb.h"
#include "proto/config.pb.h"

/// The pure decision behind the network-state actor: probe results in, state + reason + next probe delay out.
namespace roamd::actors {

/// Where the device stands. Only `trusted` and `behind_protected` make roamd stand down.
enum class net_state : uint8_t { probing, protected_, open, closed, trusted, behind_protected, off };

/// As the debug port and the metrics name it: "protected", "open", "trusted network", ...
const char* to_string(net_state s);

/// Whether `s` makes roamd give the system its settings back.
inline bool stands_down(net_state s) {
  return s == net_state::trusted || s == net_state::behind_protected;
}

/// What the detection does, from the configuration's [network] merged with the cloud's policy.
struct network_settings {
  bool detection = true;
  bool fail_closed = false;
  std::string trusted_domain;
  std::string probe_name;
  std::string probe_address;
  std::chrono::milliseconds unsettled{10'000};  // between rounds while unsettled
  std::chrono::milliseconds stable{60'000};     // once the state held for `settle_rounds` rounds
  std::chrono::milliseconds open{2'000};        // while the cloud does not answer
  std::chrono::milliseconds confirm{1'000};     // a failed round without the data plane's evidence is probed again
  uint32_t settle_rounds = 3;
};

/// The configured settings ([network]; an unset message gives the defaults).
network_settings settings_from(const proto::Config::Network& cfg);

/// `configured` with the policy's choices on top; zero values ("unspecified", "") keep the configured ones.
network_settings with_policy(network_settings configured, const proto::Policy& p);

/// An address in RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 4193 (fc00::/7) or shared address space (100.64/10).
bool is_private_address(const std::string& address);

/// A resolver reached over an encrypted transport (tls:// or https://).
bool is_encrypted(const std::string& resolver);

/// A name looked up through the network's own resolvers.
struct lookup_outcome {
  bool ok = false;                     // it resolved
  std::vector<std::string> addresses;  // A and AAAA
  std::string error;                   // why not
  bool nxdomain = false;               // the answer said the name does not exist
};

/// The results of one probe round.
struct probe_round {
  size_t cloud_probed = 0;        // cloud resolvers probed
  std::string cloud_answered;     // the first that answered ("" = none)
  std::string cloud_error;        // why none did (first failure)
  bool evidence = false;          // real queries failed too: the data plane marked a cloud resolver down
  std::optional<lookup_outcome> trusted;          // absent: not asked (no domain, or no local resolver)
  std::optional<lookup_outcome> protected_probe;  // absent: not asked
};

/// The outcome of an input: the state after it, why, whether it changed, and when to probe next.
struct network_verdict {
  net_state state = net_state::probing;
  std::string reason;
  bool changed = false;
  bool encrypted = false;
  std::chrono::milliseconds next{10'000};
};

/// The state machine. A round decides, in this order: a trusted network (the trusted domain resolves to a private
/// address), behind a protected network (the probe name resolves to the expected address), protected (a cloud
/// resolver answered), else open or closed by the fail mode -- but only with more than one failed probe: while
/// protected, a round whose cloud probes all failed opens only when real queries failed too (`evidence`), or when a
/// second round `confirm` later (the routes settled after a link change) fails as well. The cloud's resolvers all
/// going down (the data plane's evidence) opens at once without waiting for a round. Rounds come every `unsettled` until the state held for
/// `settle_rounds` rounds, then every `stable`; every `open` while the cloud does not answer.
class network_policy {
public:
  explicit network_policy(network_settings s);

  /// New settings (a policy arrived): unsettles, and switching detection off decides at once.
  network_verdict configure(network_settings s);
  network_verdict on_round(const probe_round& r);
  /// Every cloud resolver is down by the data plane's counters: open (or closed) now, unless stood down.
  network_verdict on_cloud_down(const std::string& why);
  /// The set of links changed: probe at once and unsettle.
  void on_links_changed();

  net_state state() const {
    return state_;
  }
  const std::string& reason() const {
    return reason_;
  }
  const network_settings& settings() const {
    return settings_;
  }
  std::chrono::milliseconds next_delay() const;
  /// A round failed without evidence and the next one confirms.
  bool confirming() const {
    return suspect_;
  }

private:
  network_verdict move(net_state next, std::string reason, bool encrypted);

  network_settings settings_;
  net_state state_ = net_state::probing;
  std::string reason_ = "no probe round finished yet";
  bool encrypted_ = false;
  uint32_t same_rounds_ = 0;  // consecutive rounds that ended in the current state
  bool suspect_ = false;      // the last round's cloud probes all failed, without evidence: confirming
};

} // namespace roamd::actors
