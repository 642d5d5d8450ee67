#include "actors/arbitration_policy.hpp"

#include <algorithm>

#include "actors/egress.hpp"
#include "os/text.hpp"

namespace roamd::actors {

namespace {

/// "VPN script (tun0) set 10.8.0.1 for corp.example" for the record.
std::string who(const situation& s) {
  std::string out = s.owner.empty() ? "someone else" : s.owner;
  if (!s.link.empty())
    out += " (" + s.link + ")";
  if (!s.problem.empty())
    return out + " wrote a settings file " + s.problem;
  if (s.nameservers.empty())
    return out + " removed the nameservers";
  out += " set " + os::join(s.nameservers);
  if (!s.search.empty())
    out += " for " + os::join(s.search);
  if (all_loopback(s.nameservers))
    out += " (a competing local DNS proxy)";
  return out;
}

} // namespace

const char* to_string(protection p) {
  switch (p) {
    case protection::settings:
      return "protected by settings";
    case protection::interception:
      return "protected by interception";
    case protection::yielded:
      return "yielded";
  }
  return "unknown";
}

const char* to_string(action a) {
  switch (a) {
    case action::none:
      return "none";
    case action::adopt_and_retake:
      return "adopt and take back";
    case action::retake:
      return "take back";
    case action::adopt:
      return "adopt";
    case action::intercept:
      return "intercept";
    case action::yield:
      return "yield";
    case action::return_to_settings:
      return "return to settings";
  }
  return "unknown";
}

decision arbitration_policy::stop_writing(const situation& s, const std::string& why) {
  decision d;
  claim_ = s.settings_ours && !s.claims_all.empty();
  proxy_ = !s.settings_ours && all_loopback(s.nameservers);
  if (opts_.interception_enabled && s.interception_available) {
    state_ = protection::interception;
    vpn_link_ = s.link;
    d.what = action::intercept;
    d.next = state_;
    d.reason = why + ": roamd stops writing the settings and intercepts port 53 instead";
    return d;
  }
  state_ = protection::yielded;
  backoff_ = backoff_.count() == 0 ? opts_.yield_backoff : std::min(backoff_ * 2, opts_.yield_backoff_max);
  retry_at_ = s.now + backoff_;
  links_at_yield_ = s.links_signature;
  d.what = action::yield;
  d.next = state_;
  d.retry_at = retry_at_;
  d.reason = why + ": interception is " + (opts_.interception_enabled ? "not available" : "disabled") +
             ", so roamd yields and tries again in " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(backoff_).count()) +
             " s or when the links change";
  return d;
}

decision arbitration_policy::from_settings(const situation& s) {
  decision d;
  d.next = state_;
  if (s.settings_ours && !s.claims_all.empty())
    return stop_writing(s, s.claims_all);
  if (s.settings_ours)
    return d;
  while (!contests_.empty() && s.now - contests_.front() > opts_.contest_window)
    contests_.pop_front();
  contests_.push_back(s.now);
  auto what = who(s);
  if (contests_.size() >= opts_.contest_limit)
    return stop_writing(s, what + "; the settings were contested " + std::to_string(contests_.size()) +
                             " times within " +
                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(opts_.contest_window).count()) +
                             " s");
  if (s.nameservers.empty()) {
    d.what = action::retake;
    d.reason = what + ": roamd takes the settings back";
    return d;
  }
  d.what = action::adopt_and_retake;
  d.reason = what + ": roamd learns them as internal resolvers" +
             (s.link.empty() ? std::string{} : " bound to " + s.link) + " and takes the settings back once";
  return d;
}

decision arbitration_policy::interception_failed(const situation& s, const std::string& why) {
  auto without = s;
  without.interception_available = false;
  return stop_writing(without, why);
}

decision arbitration_policy::decide(const situation& s) {
  switch (state_) {
    case protection::settings:
      return from_settings(s);
    case protection::interception: {
      decision d;
      bool vpn_gone = !vpn_link_.empty() && !(s.link == vpn_link_ && s.link_present);
      if (claim_)  // without a claim the situation names no link: the claim went, whether or not its link did
        vpn_gone = s.link == vpn_link_ && !s.link_present;
      if (s.settings_ours && !s.claims_all.empty() && !vpn_gone) {
        d.next = state_;
        return d;  // the claim holds: keep intercepting
      }
      // A competing local proxy leaves by handing the settings to someone else (its manager restoring the network's
      // servers); a dead one that still holds them is reported with no servers (see the arbiter).
      bool proxy_left = proxy_ && !s.settings_ours && !s.nameservers.empty() && !all_loopback(s.nameservers);
      if (s.settings_ours || vpn_gone || s.nameservers.empty() || proxy_left) {
        state_ = protection::settings;
        contests_.clear();
        d.what = action::return_to_settings;
        d.next = state_;
        d.handed_over = proxy_left;
        d.reason = claim_ && vpn_gone     ? "the VPN link " + vpn_link_ + " is gone"
                   : s.settings_ours      ? std::string{claim_ ? "no link claims every name any more"
                                                           : "the settings are roamd's again"}
                   : vpn_gone             ? "the VPN link " + vpn_link_ + " is gone"
                   : proxy_left           ? "the local DNS proxy gave up the settings (" + who(s) + ")"
                   : proxy_               ? std::string{"the local DNS proxy is gone"}
                                          : std::string{"the foreign settings were withdrawn"};
        d.reason += ": interception off, protection by settings";
        vpn_link_.clear();
        proxy_ = false;
        return d;
      }
      d.what = action::adopt;
      d.next = state_;
      d.reason = who(s) + ": learnt while intercepting (no write)";
      return d;
    }
    case protection::yielded: {
      decision d;
      d.next = state_;
      bool links_changed = s.links_signature != links_at_yield_;
      if (s.now < retry_at_ && !links_changed)
        return d;
      state_ = protection::settings;
      contests_.clear();
      if (!s.settings_ours)
        contests_.push_back(s.now);  // the retry is itself contested: two more contests and roamd yields again
      d.what = s.settings_ours ? action::none : (s.nameservers.empty() ? action::retake : action::adopt_and_retake);
      d.next = state_;
      d.reason = std::string{links_changed ? "the links changed" : "the backoff expired"} + " after yielding: " +
                 (s.settings_ours ? "the settings are roamd's again" : who(s) + "; roamd tries again");
      return d;
    }
  }
  return {};
}

} // namespace roamd::actors
