#include "actors/network_state.hpp"

#include <algorithm>
#include <random>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/conflict_arbiter.hpp"
#include "actors/query_router.hpp"
#include "net/resolver_address.hpp"
#include "os/text.hpp"

namespace roamd::actors {

namespace {

void start_round(network_state_ptr self);

/// The upstream for a cloud resolver as written in the routes ("IP:PORT", "tls://..."), or null.
std::shared_ptr<net::upstream> upstream_of(network_state_ptr self, const std::string& text) {
  auto r = net::parse_resolver(text);
  return r ? self->state.deps.registry->get(*r) : nullptr;
}

/// Arms the next round `delay` from now (a newer arming or an immediate round makes it stale).
void schedule(network_state_ptr self, std::chrono::milliseconds delay) {
  auto& st = self->state;
  self->delayed_send(self, delay, round_atom::value, ++st.timer);
  st.status.set_next_probe_unix_ms(st.deps.now_ms() + delay.count());
}

proto::CloudReachability::Mode mode_of(net_state s) {
  if (s == net_state::open)
    return proto::CloudReachability::FAIL_OPEN;
  if (s == net_state::closed)
    return proto::CloudReachability::FAIL_CLOSED;
  return proto::CloudReachability::NORMAL;
}

/// Tells the router (through the directory, which remembers it for a restarted router) what the default route does,
/// when that or the network's NXDOMAIN rewriting changed.
void send_reach(network_state_ptr self, net_state state, const std::string& reason) {
  auto& st = self->state;
  proto::CloudReachability reach;
  reach.set_mode(mode_of(state));
  reach.set_reason(reason);
  reach.set_local_rewrites_nxdomain(st.rewriting);
  reach.set_rewriting(st.rewriting ? st.status.nxdomain_probe() : std::string{});
  auto last = st.deps.directory->reachability();
  if (reach.mode() != last.mode() || reach.local_rewrites_nxdomain() != last.local_rewrites_nxdomain())
    st.deps.directory->send_reachability(reach);
}

/// A random name that does not exist under a real top-level domain (NXDOMAIN rewriters monetise typos of .com
/// names): twelve random letters, as Chromium's intranet-redirect detector does for single labels.
std::string nonexistent_name() {
  std::random_device rd;
  std::uniform_int_distribution<int> letter{'a', 'z'};
  std::string out(12, 'a');
  for (auto& c : out)
    c = static_cast<char>(letter(rd));
  return out + ".com";
}

/// The "nxdomain" probe came back: a name that cannot exist resolved (the network rewrites NXDOMAIN), or it got
/// NXDOMAIN (honest). Anything else (a timeout, SERVFAIL) proves nothing: asked again the next round.
void on_nxdomain_probe(network_state_ptr self, const proto::NetworkProbe& p) {
  auto& st = self->state;
  if (!p.ok() && !p.nxdomain())
    return;
  st.nx_probed = st.locals;  // the ones this round asked: locals change only when a round starts
  bool was = st.rewriting;
  st.rewriting = p.ok();
  st.status.set_rewrites_nxdomain(st.rewriting);
  st.status.set_nxdomain_probe(p.detail() + " (asked " + os::join(st.locals, ", ") + ")");
  if (st.rewriting == was)
    return;
  if (st.rewriting)
    spdlog::warn("network_state: the network's resolvers rewrite NXDOMAIN ({}): they are no NXDOMAIN fallback on "
                 "this network", st.status.nxdomain_probe());
  else
    spdlog::info("network_state: the network's resolvers answer NXDOMAIN honestly again ({})", st.status.nxdomain_probe());
  send_reach(self, st.policy->state(), st.status.reason());
}

/// Records a verdict in the status and, when the state changed, tells the router and the arbiter.
void carry_out(network_state_ptr self, const network_verdict& v) {
  auto& st = self->state;
  st.status.set_reason(v.reason);
  st.status.set_encrypted(v.encrypted);
  st.status.set_fail_mode(st.policy->settings().fail_closed ? "closed" : "open");
  if (!v.changed)
    return;
  bool state_changed = st.status.state() != to_string(v.state);
  st.status.set_state(to_string(v.state));
  if (state_changed) {
    st.status.set_since_unix_ms(st.deps.now_ms());
    st.status.set_transitions(st.status.transitions() + 1);
  }
  spdlog::info("network_state: {}: {}", to_string(v.state), v.reason);
  send_reach(self, v.state, v.reason);
  proto::NetworkVerdict verdict;
  verdict.set_stand_down(stands_down(v.state));
  verdict.set_state(to_string(v.state));
  verdict.set_reason(v.reason);
  if (auto arbiter = st.deps.directory->get<conflict_arbiter_actor>(peers::role::arbiter))
    self->send(arbiter, verdict);
}

void finish_round(network_state_ptr self) {
  auto& st = self->state;
  if (!st.in_flight)
    return;
  st.in_flight = false;
  probe_round r;
  for (const auto& p : st.results) {
    if (p.kind() == "nxdomain") {
      on_nxdomain_probe(self, p);
      continue;
    }
    if (p.kind() == "cloud") {
      ++r.cloud_probed;
      if (p.ok() && r.cloud_answered.empty())
        r.cloud_answered = p.target();
      if (!p.ok() && r.cloud_error.empty())
        r.cloud_error = p.target() + ": " + p.detail();
      continue;
    }
    lookup_outcome o;
    o.ok = p.ok();
    o.addresses.assign(p.addresses().begin(), p.addresses().end());
    o.error = p.detail();
    (p.kind() == "trusted" ? r.trusted : r.protected_probe) = std::move(o);
  }
  // Probes that never came back (deadline) count as failed cloud probes.
  for (const auto& c : st.targets.cloud_resolvers())
    if (std::none_of(st.results.begin(), st.results.end(), [&](const auto& p) { return p.target() == c; })) {
      ++r.cloud_probed;
      if (r.cloud_error.empty())
        r.cloud_error = c + ": no answer within the round's deadline";
    }
  r.evidence = !st.cloud_down.empty();  // real queries to a cloud resolver failed (the data plane's counters)
  st.status.set_rounds(st.status.rounds() + 1);
  *st.status.mutable_probes() = {st.results.begin(), st.results.end()};
  auto v = st.policy->on_round(r);
  if (!v.changed && st.policy->confirming())
    spdlog::info("network_state: {}", v.reason);
  carry_out(self, v);
  if (!v.changed && v.state != net_state::off)
    spdlog::debug("network_state: round {}: still {}", st.round, to_string(v.state));
  auto next = v.next;
  const auto& s = st.policy->settings();
  if ((!s.trusted_domain.empty() || !s.probe_name.empty()) && st.locals.empty())
    next = std::min(next, s.open);  // the network's own resolvers are not known yet (before the takeover learns them)
  if (v.state != net_state::off)
    schedule(self, next);
  if (st.again) {
    st.again = false;
    start_round(self);
  }
}

void on_result(network_state_ptr self, uint64_t round, proto::NetworkProbe p) {
  auto& st = self->state;
  if (round != st.round || !st.in_flight)
    return;  // a late answer of an earlier round
  p.set_unix_ms(st.deps.now_ms());
  st.results.push_back(std::move(p));
  if (st.results.size() >= st.expected)
    finish_round(self);
}

/// Sends the round's probes to `targets`.
void launch(network_state_ptr self, const proto::NetworkTargets& targets) {
  auto& st = self->state;
  st.targets = targets;
  // Standing down gives the settings back and so withdraws the recorded local resolvers from the routes: the
  // network's own resolvers stay the last ones known until the router knows others.
  if (targets.local_resolvers_size() > 0)
    st.locals.assign(targets.local_resolvers().begin(), targets.local_resolvers().end());
  const auto& s = st.policy->settings();
  auto round = st.round;
  auto handle = caf::actor_cast<network_state_actor>(self);
  std::vector<std::pair<std::string, std::string>> lookups;  // kind, name
  if (!s.trusted_domain.empty() && !st.locals.empty())
    lookups.emplace_back("trusted", s.trusted_domain);
  if (!s.probe_name.empty() && !st.locals.empty())
    lookups.emplace_back("protected", s.probe_name);
  if (!st.locals.empty() && st.locals != st.nx_probed)
    lookups.emplace_back("nxdomain", nonexistent_name());
  std::vector<std::pair<std::string, std::shared_ptr<net::upstream>>> cloud;
  for (const auto& c : targets.cloud_resolvers())
    if (auto up = upstream_of(self, c))
      cloud.emplace_back(c, up);
  st.expected = cloud.size() + lookups.size();
  if (st.expected == 0 || !st.deps.probe) {
    finish_round(self);
    return;
  }
  self->delayed_send(self, st.quick ? st.opts.quick_deadline : st.opts.round_deadline, decide_atom::value, round);
  st.quick = false;
  for (const auto& [text, up] : cloud)
    st.deps.probe(up->id, [handle, round, text = text](proto::ProbeResult r) {
      proto::NetworkProbe p;
      p.set_kind("cloud");
      p.set_target(text);
      p.set_ok(r.ok());
      p.set_detail(r.ok() ? "answered in " + std::to_string(r.rtt_us() / 1000) + " ms" : "no answer");
      caf::anon_send(handle, result_atom::value, round, std::move(p));
    });
  for (const auto& [kind, name] : lookups)
    st.deps.lookup(name, st.locals, [handle, round, kind = kind, name = name](lookup_outcome o) {
      proto::NetworkProbe p;
      p.set_kind(kind);
      p.set_target(name);
      p.set_ok(o.ok);
      p.set_nxdomain(o.nxdomain);
      std::string detail = o.ok ? name + " \u2192" : o.error;
      for (const auto& a : o.addresses) {
        p.add_addresses(a);
        detail += " " + a;
      }
      p.set_detail(detail);
      caf::anon_send(handle, result_atom::value, round, std::move(p));
    });
}

void start_round(network_state_ptr self) {
  auto& st = self->state;
  if (st.policy->state() == net_state::off)
    return;
  if (st.in_flight) {
    st.again = true;
    return;
  }
  st.in_flight = true;
  ++st.round;
  ++st.timer;  // the armed timer is superseded: the round arms the next one when it ends
  st.results.clear();
  auto router = st.deps.directory->get<query_router_actor>(peers::role::router);
  if (!router) {
    launch(self, st.targets);  // restarting: the last known targets
    return;
  }
  auto round = st.round;
  self->request(router, st.opts.router_timeout, caf::get_atom::value, network_atom::value)
    .then(
      [self, round](const proto::NetworkTargets& t) {
        if (round == self->state.round && self->state.in_flight)
          launch(self, t);
      },
      [self, round](caf::error&) {
        if (round == self->state.round && self->state.in_flight)
          launch(self, self->state.targets);
      });
}

/// Learned routes changed: when the network's own resolvers are others now (roamd recorded them at takeover, the
/// network changed), a round asks them (the lookups and the nxdomain probe need them) rather than the next tick.
void on_routes(network_state_ptr self) {
  auto& st = self->state;
  auto router = st.deps.directory->get<query_router_actor>(peers::role::router);
  if (!router || st.policy->state() == net_state::off)
    return;
  // The directory sent the update to the router first: its answer includes it.
  self->request(router, st.opts.router_timeout, caf::get_atom::value, network_atom::value)
    .then(
      [self](const proto::NetworkTargets& t) {
        auto& st = self->state;
        std::vector<std::string> locals(t.local_resolvers().begin(), t.local_resolvers().end());
        if (!locals.empty() && locals != st.locals)
          start_round(self);
      },
      [](caf::error&) {});  // the next tick asks again
}

/// Whether `address` (as the upstream-I/O actor names it: "IP:PORT", link suffix removed) is a cloud resolver.
bool is_cloud(network_state_ptr self, const std::string& address) {
  for (const auto& c : self->state.targets.cloud_resolvers())
    if (auto up = upstream_of(self, c); up && up->name.substr(0, up->name.find('%')) == address)
      return true;
  return false;
}

void on_health(network_state_ptr self, const std::string& address, bool up) {
  auto& st = self->state;
  if (!is_cloud(self, address))
    return;
  if (up) {
    st.cloud_down.erase(address);
    auto s = st.policy->state();
    if (s == net_state::open || s == net_state::closed)
      start_round(self);  // confirm with a probe round now rather than at the next tick
    return;
  }
  st.cloud_down.insert(address);
  for (const auto& c : st.targets.cloud_resolvers())
    if (auto u = upstream_of(self, c); u && !st.cloud_down.count(u->name.substr(0, u->name.find('%')))) {
      // Another cloud resolver is not down yet: ask them all now, and give them little time (real queries to this
      // one failed already). Waiting for each to fail its own queries would take a query timeout per resolver.
      auto s = st.policy->state();
      if (s == net_state::protected_ || s == net_state::probing) {
        st.quick = true;
        start_round(self);
      }
      return;
    }
  auto v = st.policy->on_cloud_down("every cloud resolver stopped answering queries (last: " + address + ")");
  carry_out(self, v);
  if (v.changed)
    schedule(self, v.next);
}

} // namespace

network_state_actor::behavior_type network_state(network_state_ptr self, network_state_options opts,
                                                 network_state_deps deps) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.deps = std::move(deps);
  st.policy.emplace(st.opts.settings);
  st.status.set_state(to_string(st.policy->state()));
  st.status.set_reason(st.policy->reason());
  st.status.set_since_unix_ms(st.deps.now_ms());
  st.status.set_fail_mode(st.opts.settings.fail_closed ? "closed" : "open");
  self->send(self, round_atom::value, ++st.timer);  // the first round at once
  return {
    [self](const proto::Policy& p) {
      auto& st = self->state;
      auto v = st.policy->configure(with_policy(st.opts.settings, p));
      carry_out(self, v);
      if (v.state == net_state::off)
        ++st.timer;  // no more rounds
      else
        start_round(self);
    },
    [self](const proto::AdapterSnapshot&) {
      self->state.nx_probed.clear();  // another network, perhaps behind the same resolver addresses: ask again
      self->state.policy->on_links_changed();
      start_round(self);
    },
    [self](const proto::RouteUpdate&) { on_routes(self); },
    [self](health_atom, const std::string& address, bool up) { on_health(self, address, up); },
    [self](round_atom, uint64_t generation) {
      if (generation == self->state.timer)
        start_round(self);
    },
    [self](result_atom, uint64_t round, const proto::NetworkProbe& p) { on_result(self, round, p); },
    [self](decide_atom, uint64_t round) {
      if (round == self->state.round)
        finish_round(self);
    },
    [self](caf::get_atom, status_atom) -> proto::NetworkStatus { return self->state.status; },
  };
}

} // namespace roamd::actors
