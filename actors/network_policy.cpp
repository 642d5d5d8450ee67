#include "actors/network_policy.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>

namespace roamd::actors {

namespace {

std::chrono::milliseconds or_default(uint32_t ms, std::chrono::milliseconds fallback) {
  return ms == 0 ? fallback : std::chrono::milliseconds(ms);
}

/// "corp.example -> 10.1.2.3" for reasons.
std::string answered(const std::string& name, const std::string& address) {
  return name + " \u2192 " + address;
}

} // namespace

const char* to_string(net_state s) {
  switch (s) {
    case net_state::probing:
      return "probing";
    case net_state::protected_:
      return "protected";
    case net_state::open:
      return "open";
    case net_state::closed:
      return "closed";
    case net_state::trusted:
      return "trusted network";
    case net_state::behind_protected:
      return "behind a protected network";
    case net_state::off:
      return "off";
  }
  return "?";
}

network_settings settings_from(const proto::Config::Network& cfg) {
  network_settings s;
  s.detection = cfg.detection();
  s.fail_closed = cfg.fail_mode() == "closed";
  s.trusted_domain = cfg.trusted_domain();
  s.probe_name = cfg.protected_probe_name();
  s.probe_address = cfg.protected_probe_address();
  s.unsettled = or_default(cfg.probe_interval_ms(), s.unsettled);
  s.stable = or_default(cfg.stable_probe_interval_ms(), s.stable);
  s.open = or_default(cfg.open_probe_interval_ms(), s.open);
  return s;
}

network_settings with_policy(network_settings s, const proto::Policy& p) {
  if (p.fail_mode() == proto::Policy::FAIL_OPEN)
    s.fail_closed = false;
  else if (p.fail_mode() == proto::Policy::FAIL_CLOSED)
    s.fail_closed = true;
  if (!p.trusted_network_domain().empty())
    s.trusted_domain = p.trusted_network_domain();
  if (!p.protected_probe().name().empty() && !p.protected_probe().expect_address().empty()) {
    s.probe_name = p.protected_probe().name();
    s.probe_address = p.protected_probe().expect_address();
  }
  return s;
}

bool is_private_address(const std::string& text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(text, ec);
  if (ec)
    return false;
  if (a.is_v6()) {
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped())
      return is_private_address(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string());
    return (v6.to_bytes()[0] & 0xfe) == 0xfc;  // fc00::/7
  }
  auto v = a.to_v4().to_uint();
  return (v >> 24) == 10 || (v >> 20) == (172u << 4 | 1) || (v >> 16) == (192u << 8 | 168) ||
         (v >> 22) == (100u << 2 | 1);  // 100.64.0.0/10
}

bool is_encrypted(const std::string& resolver) {
  return resolver.rfind("tls://", 0) == 0 || resolver.rfind("https://", 0) == 0;
}

network_policy::network_policy(network_settings s) : settings_(std::move(s)) {
  if (!settings_.detection) {
    state_ = net_state::off;
    reason_ = "network detection is switched off (network.detection = false)";
  }
}

std::chrono::milliseconds network_policy::next_delay() const {
  if (suspect_)
    return settings_.confirm;
  if (state_ == net_state::open || state_ == net_state::closed)
    return std::min(settings_.open, settings_.unsettled);
  return same_rounds_ >= settings_.settle_rounds ? settings_.stable : settings_.unsettled;
}

network_verdict network_policy::move(net_state next, std::string reason, bool encrypted) {
  network_verdict v;
  v.changed = next != state_ || encrypted != encrypted_;
  if (next != state_)
    same_rounds_ = 0;
  state_ = next;
  reason_ = std::move(reason);
  encrypted_ = encrypted;
  v.state = state_;
  v.reason = reason_;
  v.encrypted = encrypted_;
  v.next = next_delay();
  return v;
}

network_verdict network_policy::configure(network_settings s) {
  settings_ = std::move(s);
  same_rounds_ = 0;
  if (!settings_.detection)
    return move(net_state::off, "network detection is switched off", false);
  if (state_ == net_state::off)
    return move(net_state::probing, "network detection switched on", false);
  return move(state_, reason_, encrypted_);
}

void network_policy::on_links_changed() {
  same_rounds_ = 0;
}

network_verdict network_policy::on_round(const probe_round& r) {
  if (!settings_.detection)
    return move(net_state::off, reason_, false);
  ++same_rounds_;  // reset by move() when the state changes
  if (!settings_.trusted_domain.empty() && r.trusted && r.trusted->ok)
    for (const auto& a : r.trusted->addresses)
      if (is_private_address(a))
        return move(net_state::trusted, "trusted network (" + answered(settings_.trusted_domain, a) + ")", false);
  if (!settings_.probe_name.empty() && r.protected_probe && r.protected_probe->ok) {
    const auto& as = r.protected_probe->addresses;
    if (std::find(as.begin(), as.end(), settings_.probe_address) != as.end())
      return move(net_state::behind_protected,
                  "behind a protected network (" + answered(settings_.probe_name, settings_.probe_address) + ")",
                  false);
  }
  if (!r.cloud_answered.empty()) {
    suspect_ = false;
    bool enc = is_encrypted(r.cloud_answered);
    return move(net_state::protected_,
                std::string{"the cloud answers over "} + (enc ? "an encrypted transport (" : "plain DNS (") +
                  r.cloud_answered + ")",
                enc);
  }
  if (r.cloud_probed == 0)
    return move(state_ == net_state::probing ? net_state::protected_ : state_,
                "no cloud resolver to probe: the routes stay as configured", encrypted_);
  std::string why = "no cloud resolver answered (" + std::to_string(r.cloud_probed) + " probed" +
                    (r.cloud_error.empty() ? "" : ": " + r.cloud_error) + ")";
  if ((state_ == net_state::protected_ || state_ == net_state::probing) && !r.evidence && !suspect_) {
    // One failed probe round (often during link churn, a VPN connecting) is no evidence that the cloud is gone.
    suspect_ = true;
    --same_rounds_;
    return move(state_, why + "; not yet taken as the cloud being gone: probing again in " +
                          std::to_string(settings_.confirm.count()) + " ms", encrypted_);
  }
  if (suspect_)
    why += ", twice in a row";
  else if (r.evidence)
    why += ", and real queries to it failed";
  suspect_ = false;
  if (settings_.fail_closed)
    return move(net_state::closed, why + "; fail-closed: names for the cloud get SERVFAIL", false);
  return move(net_state::open, why + "; fail-open: names for the cloud go to the network's own resolvers, untagged",
              false);
}

network_verdict network_policy::on_cloud_down(const std::string& why) {
  if (state_ != net_state::protected_ && state_ != net_state::probing)
    return move(state_, reason_, encrypted_);  // already open/closed, stood down or off
  suspect_ = false;
  if (settings_.fail_closed)
    return move(net_state::closed, why + "; fail-closed: names for the cloud get SERVFAIL", false);
  return move(net_state::open, why + "; fail-open: names for the cloud go to the network's own resolvers, untagged",
              false);
}

} // namespace roamd::actors
