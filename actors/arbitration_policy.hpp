#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

/// The conflict-arbitration policy: what roamd does, once a burst of adapter and settings events has settled, when
/// someone else (a VPN client, a competing local proxy) has replaced its resolver settings. Pure and deterministic:
/// the arbiter actor feeds it one `situation` per debounced burst and executes the `decision`. Preference order:
/// adopt (learn their servers, take the settings back once), intercept (stop writing, redirect port 53), yield
/// (only when interception is impossible or disabled; retried with backoff and whenever the links change), and
/// return to settings mode when the VPN goes away. A link claiming every name in systemd-resolved (~.) while
/// roamd's settings are in force cannot be taken back by writing (they are the VPN's, not roamd's): roamd intercepts
/// at once (yields when it cannot) and returns to settings when the claim or the link goes.
namespace roamd::actors {

enum class protection { settings, interception, yielded };

const char* to_string(protection p);

struct arbitration_options {
  uint32_t contest_limit = 3;                        // this many contests within `contest_window` ...
  std::chrono::steady_clock::duration contest_window = std::chrono::seconds(20);  // ... stop writing
  bool interception_enabled = true;                  // configuration
  std::chrono::steady_clock::duration yield_backoff = std::chrono::seconds(5);   // first retry after yielding
  std::chrono::steady_clock::duration yield_backoff_max = std::chrono::minutes(5);
};

/// What the arbiter knows once a burst has settled.
struct situation {
  std::chrono::steady_clock::time_point now{};
  bool settings_ours = true;               // the settings are exactly what roamd wrote
  std::vector<std::string> nameservers;    // the foreign settings (when not ours)
  std::vector<std::string> search;
  std::string owner;                       // who wrote them (owner detection), for the record
  std::string problem;                     // the file could not be read: why ("" when it could)
  std::string link;                        // the link that carries their servers (a VPN tunnel), "" when none
  bool link_present = false;               // that link exists with carrier now
  uint64_t links_signature = 0;            // changes whenever the set of links changes
  bool interception_available = true;      // nftables usable (checked by the enforcer)
  // With roamd's settings in force, a link that claims every name in the resolver manager (systemd-resolved's
  // "~." routing domain: resolved then sends each query to that link's servers and to roamd alike, and the first
  // answer wins): what it claims, for the record ("" when none). `link` names that link.
  std::string claims_all;
};

enum class action {
  none,                // nothing to do
  adopt_and_retake,    // learn their servers for their domains (bound to `link`), write roamd's settings once
  retake,              // write roamd's settings (nothing to learn: the file was emptied or removed)
  adopt,               // learn their servers, write nothing (while intercepting)
  intercept,           // stop writing; redirect outbound port 53 to roamd
  yield,               // stop touching anything; retry at `retry_at` or when the links change
  return_to_settings,  // interception off (if on) and take the settings back
};

const char* to_string(action a);

struct decision {
  action what = action::none;
  protection next = protection::settings;
  std::string reason;                                   // one line: what happened, who did it, what roamd does
  std::chrono::steady_clock::time_point retry_at{};     // for yield
  /// For return_to_settings: a competing local proxy handed the settings to someone else (its manager putting the
  /// network's servers back), whose settings may become the recorded original. Never for a VPN that left its file.
  bool handed_over = false;
};

class arbitration_policy {
public:
  explicit arbitration_policy(arbitration_options opts) : opts_(opts) {
  }

  /// One decision for one settled burst.
  decision decide(const situation& s);

  /// Interception was decided but could not be put in place (nft refused, the canary failed): yield instead.
  decision interception_failed(const situation& s, const std::string& why);

  protection state() const {
    return state_;
  }

  /// Contests counted in the current window (for the record and the inspection port).
  size_t contests() const {
    return contests_.size();
  }

private:
  decision from_settings(const situation& s);
  decision stop_writing(const situation& s, const std::string& why);

  arbitration_options opts_;
  protection state_ = protection::settings;
  std::deque<std::chrono::steady_clock::time_point> contests_;
  std::chrono::steady_clock::duration backoff_{};
  std::chrono::steady_clock::time_point retry_at_{};
  uint64_t links_at_yield_ = 0;
  std::string vpn_link_;  // the link whose settings made roamd intercept
  bool claim_ = false;    // ... by claiming every name (situation::claims_all)
  bool proxy_ = false;    // ... or were a competing local proxy's (servers on loopback)
};

} // namespace roamd::actors
