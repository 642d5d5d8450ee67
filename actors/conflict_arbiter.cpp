#include "actors/conflict_arbiter.hpp"

#include <algorithm>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cloud_registrar.hpp"
#include "actors/dns_enforcer.hpp"
#include "actors/egress.hpp"
#include "actors/query_router.hpp"
#include "net/endpoint.hpp"
#include "os/link_dns.hpp"
#include "os/text.hpp"

namespace roamd::actors {

namespace {

/// A link a VPN makes: a tunnel device or a point-to-point link.
bool is_tunnel(const proto::Link& l) {
  static const std::set<std::string> kinds{"tun", "tap", "wireguard", "ppp", "ipip", "gre", "sit", "vti", "xfrm"};
  return l.point_to_point() || kinds.count(l.kind()) > 0;
}

/// Whether the kernel's default route (lowest metric) leaves through the tunnel `link`: a full-tunnel VPN.
bool full_tunnel(const proto::AdapterSnapshot& snap, const std::string& link) {
  auto* l = find_link(snap, link);
  if (!l || !is_tunnel(*l))
    return false;
  const proto::KernelRoute* best = nullptr;
  for (const auto& r : snap.routes())
    if ((r.destination() == "0.0.0.0/0" || r.destination() == "::/0") && (r.table() == 0 || r.table() == 254) &&
        link_alive(snap, r.interface()) && (!best || r.metric() < best->metric()))
      best = &r;
  return best && best->interface() == link;
}

/// Whether the settings someone wrote become the original a restore puts back: yes for anyone's but a VPN's (a VPN
/// script's signature, or servers reached through a tunnel: used while the tunnel lives) and a competing local
/// proxy's (servers on loopback: used while it answers). An operator's edit or a DHCP client's new network are the
/// network's settings now.
bool becomes_original(const situation& s, const proto::AdapterSnapshot& snap) {
  if (s.owner == os::to_string(os::resolv_owner::vpn_script) || s.nameservers.empty() || all_loopback(s.nameservers))
    return false;
  auto* l = s.link.empty() ? nullptr : find_link(snap, s.link);
  return !(l && is_tunnel(*l));
}

void record(conflict_arbiter_ptr self, const std::string& action, const std::string& reason, const std::string& link,
            const std::string& owner, bool ok, uint32_t events = 0) {
  auto& st = self->state;
  auto* e = st.status.add_events();
  e->set_unix_ms(st.now_ms());
  e->set_action(action);
  e->set_state(st.status.state());
  e->set_reason(reason);
  e->set_link(link);
  e->set_owner(owner);
  e->set_events(events);
  e->set_ok(ok);
  auto* events_list = st.status.mutable_events();
  if (static_cast<size_t>(events_list->size()) > st.opts.history)
    events_list->DeleteSubrange(0, events_list->size() - static_cast<int>(st.opts.history));
  if (ok)
    spdlog::info("conflict_arbiter: {}: {} [{}]", action, reason, st.status.state());
  else
    spdlog::warn("conflict_arbiter: {} failed: {} [{}]", action, reason, st.status.state());
}

/// The headline state (roamctl status, the metrics, the cloud heartbeat) is the protection state, unless the cloud
/// does not answer while roamd protects: then it says so first ("open: unprotected ..." or "closed ..."), with the
/// resolver settings' state in the reason, never "protected by settings" with the truth further down.
void publish_headline(conflict_arbiter_ptr self) {
  auto& st = self->state;
  auto state = st.protection_state;
  auto reason = st.protection_reason;
  if (!st.network_mode.empty() && state.rfind("protected", 0) == 0) {
    state = st.network_mode == "open" ? "open: unprotected, the cloud does not answer"
                                      : "closed: the cloud does not answer, its names get SERVFAIL";
    reason = st.network_reason + " (resolver settings: " + st.protection_state + ")";
  }
  if (st.status.state() != state)
    st.status.set_since_unix_ms(st.now_ms());
  st.status.set_state(state);
  st.status.set_reason(reason);
}

void set_state(conflict_arbiter_ptr self, const std::string& state, const std::string& reason) {
  auto& st = self->state;
  st.protection_state = state;
  st.protection_reason = reason;
  publish_headline(self);
}

dns_enforcer_actor enforcer_of(conflict_arbiter_ptr self) {
  return self->state.directory->get<dns_enforcer_actor>(peers::role::enforcer);
}

// ---- supervision ----

void start_child(conflict_arbiter_ptr self, size_t index);

void after_restart(conflict_arbiter_ptr self, const supervised_child& child) {
  auto& st = self->state;
  switch (child.spec.role) {
    case peers::role::router: {
      // A new router knows only the configuration: give it back every learned route set and the adapters.
      auto router = st.directory->get<query_router_actor>(peers::role::router);
      for (const auto& [source, update] : st.directory->routes())
        self->send(router, update);
      if (st.adapters.links_size() > 0)
        self->send(router, st.adapters);
      if (auto reach = st.directory->reachability(); reach.mode() != proto::CloudReachability::NORMAL)
        self->send(router, reach);
      break;
    }
    case peers::role::network: {
      // A new network-state actor knows only the configuration: the policy in force comes from the registrar.
      auto cloud = st.directory->get<cloud_registrar_actor>(peers::role::cloud);
      auto network = st.directory->get<caf::actor>(peers::role::network);
      if (cloud && network)
        self->request(cloud, std::chrono::seconds(2), caf::get_atom::value, policy_atom::value)
          .then(
            [network](const proto::Policy& p) {
              if (!p.revision().empty())
                caf::anon_send(network, p);
            },
            [](caf::error&) {});
      break;
    }
    case peers::role::enforcer:
      // A new enforcer finds the journal on disk: while protecting by settings, take re-takes without writing when
      // the settings are still roamd's. While intercepting or yielded it loads the journal when it needs it.
      if (st.taken && st.policy->state() == protection::settings)
        self->request(enforcer_of(self), st.opts.enforcer_timeout, take_atom::value)
          .then([](const proto::EnforcerStatus&) {}, [](caf::error&) {});
      break;
    default:
      break;
  }
}

void start_child(conflict_arbiter_ptr self, size_t index) {
  auto& st = self->state;
  auto& child = st.children[index];
  auto handle = child.spec.spawn(self->system());
  auto actor = caf::actor_cast<caf::actor>(handle);
  child.addr = actor.address();
  st.directory->set(child.spec.role, actor);
  self->monitor(actor);
}

void on_child_down(conflict_arbiter_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  for (size_t i = 0; i < st.children.size(); ++i) {
    auto& child = st.children[i];
    if (child.addr != dm.source)
      continue;
    child.addr = caf::actor_addr{};
    st.directory->clear(child.spec.role);
    if (st.stopping)
      return;
    auto now = self->clock().now();
    while (!child.recent.empty() && now - child.recent.front() > st.opts.restart_window)
      child.recent.pop_front();
    auto delay = st.opts.restart_backoff;
    for (size_t k = 0; k < child.recent.size() && delay < st.opts.restart_backoff_max; ++k)
      delay *= 2;
    delay = std::min(delay, st.opts.restart_backoff_max);
    child.recent.push_back(now);
    ++child.restarts;
    (*st.status.mutable_restarts())[peers::name(child.spec.role)] = child.restarts;
    record(self, "restart", std::string{peers::name(child.spec.role)} + " ended (" + self->system().render(dm.reason) +
                              "); restart #" + std::to_string(child.restarts) + " in " +
                              std::to_string(delay.count()) + " ms",
           "", "", true);
    self->delayed_send(self, delay, respawn_atom::value, static_cast<uint32_t>(i));
    return;
  }
}

// ---- arbitration ----

void decide(conflict_arbiter_ptr self);

/// The bridge (interception put up at the first foreign write of a burst, so that queries are answered while the
/// burst settles) comes down once the decision is carried out, unless roamd now protects by interception. A bridge
/// behind a competing local proxy that contested the settings is held while its contests count (the contest window
/// after the last decision): its next write would otherwise find no rules for the milliseconds it takes to put them
/// up again, and the proxy's clients lose those queries.
void end_bridge(conflict_arbiter_ptr self, bool held_over = false) {
  auto& st = self->state;
  if (!st.bridging || st.policy->state() == protection::interception || st.opts.intercept_always)
    return;
  if (st.bridge_proxy && !held_over && st.policy->state() == protection::settings && st.policy->contests() > 0) {
    self->delayed_send(self, st.opts.policy.contest_window, bridge_atom::value, ++st.bridge_generation);
    return;
  }
  st.bridging = false;
  st.bridge_proxy = false;
  if (auto enforcer = enforcer_of(self))
    self->request(enforcer, st.opts.enforcer_timeout, release_atom::value)
      .then([](const proto::EnforcerStatus&) {}, [](caf::error&) {});
}

void on_verdict(conflict_arbiter_ptr self, const proto::NetworkVerdict& v);

void finish(conflict_arbiter_ptr self) {
  auto& st = self->state;
  if (st.policy->state() == protection::interception) {
    st.bridging = false;  // the bridge became the policy's interception
    st.bridge_proxy = false;
  }
  end_bridge(self);
  st.busy = false;
  if (st.pending_verdict) {
    auto v = std::move(*st.pending_verdict);
    st.pending_verdict.reset();
    on_verdict(self, v);
    if (st.busy)
      return;  // the stand-down or the take runs; it finishes (and decides again if asked) itself
  }
  if (st.again) {
    st.again = false;
    decide(self);
  }
}

/// The foreign servers of `settings` roamd may learn: parsed, with port, never roamd's own.
std::vector<std::string> learnable(conflict_arbiter_ptr self, const proto::ResolverSettings& settings) {
  std::vector<std::string> out;
  const auto& own = self->state.opts.own_addresses;
  for (const auto& ns : settings.nameservers()) {
    auto ep = net::parse_endpoint(ns);  // a bare address: port 53
    if (!ep || ns == self->state.opts.listen)
      continue;
    auto text = net::to_string(*ep);
    if (std::find(own.begin(), own.end(), text) == own.end())
      out.push_back(text);
  }
  return out;
}

/// The foreign search domains roamd may route to the foreign servers: not the ones the user's original settings
/// already had (a VPN script keeps the LAN's `search home.test` next to its own domain; the LAN's names must stay
/// with the LAN's resolver).
std::vector<std::string> new_domains(const proto::ResolverSettings& current, const proto::ResolverSettings& original) {
  std::vector<std::string> out;
  for (const auto& d : current.search())
    if (std::find(original.search().begin(), original.search().end(), d) == original.search().end())
      out.push_back(d);
  return out;
}

/// Routes `domains` to `servers` (bound to `link`, "" = unbound) as the adopted route set, remembering what for.
void adopt(conflict_arbiter_ptr self, const std::vector<std::string>& servers, const std::vector<std::string>& domains,
           const std::string& link) {
  auto& st = self->state;
  st.directory->send_routes(adopted_routes("adopted", servers, domains, link));
  st.adopted_link = link;
  st.adopted_servers = servers;
}

/// Withdraws the adopted route set.
void forget_adopted(conflict_arbiter_ptr self) {
  auto& st = self->state;
  st.directory->send_routes(adopted_routes("adopted", {}, {}, ""));
  st.adopted_link.clear();
  st.adopted_servers.clear();
}

/// The name of the link settings `i` belong to: their own link name, else the adapter with their ifindex (resolved
/// names links by index only); "" when neither is known.
std::string link_name(const proto::AdapterSnapshot& adapters, const proto::InterfaceSettings& i) {
  if (!i.link().empty())
    return i.link();
  for (const auto& l : adapters.links())
    if (i.ifindex() != 0 && l.index() == i.ifindex())
      return l.name();
  return {};
}

/// The backend's manager keeps every link's settings (openresolv's interfaces, resolved's links, NetworkManager's
/// devices) while the system resolver names only roamd: learn them as they are, without a contest (the learned set
/// named after the backend). Each link's search and routing domains go to its servers, bound to the link when roamd
/// knows it; its servers are NXDOMAIN fallbacks for any name, except the recorded original servers (the network's
/// own: they stay fallbacks for local names only, and none while they rewrite NXDOMAIN). Sent only when it changed.
void learn_interfaces(conflict_arbiter_ptr self, const proto::EnforcerStatus& now) {
  auto& st = self->state;
  auto backend = os::backend_from_string(now.backend());
  st.backend_has_links = backend && !os::link_settings_command(*backend).empty();
  st.backend = now.backend();
  proto::RouteUpdate update;
  update.set_source(now.backend().empty() ? std::string{"links"} : now.backend());
  auto original = learnable(self, st.original);
  for (const auto& i : now.interfaces()) {
    auto servers = learnable(self, i.settings());
    if (servers.empty())
      continue;
    auto link = link_name(st.adapters, i);
    if (!find_link(st.adapters, link))
      link.clear();
    std::vector<std::string> domains{i.settings().search().begin(), i.settings().search().end()};
    for (const auto& d : i.routing_domains())
      if (d != "." && std::find(domains.begin(), domains.end(), d) == domains.end())
        domains.push_back(d);
    auto part = adopted_routes(update.source(), servers, domains, link);
    for (auto& r : *part.mutable_routes()) {
      auto& fallback = *r.mutable_fallback_resolvers();
      fallback.erase(std::remove_if(fallback.begin(), fallback.end(),
                                    [&](const std::string& f) {
                                      return std::find(original.begin(), original.end(), f) != original.end();
                                    }),
                     fallback.end());
      if (!r.domain().empty() || r.fallback_resolvers_size() > 0)
        *update.add_routes() = r;
    }
  }
  if (!st.learned_source.empty() && st.learned_source != update.source()) {
    proto::RouteUpdate gone;  // another backend took over: its links' routes go
    gone.set_source(st.learned_source);
    st.directory->send_routes(gone);
  }
  auto serialized = update.SerializeAsString();
  if (serialized == st.learned_links)
    return;
  st.learned_links = std::move(serialized);
  st.learned_source = update.source();
  st.directory->send_routes(update);
}

/// The link that claims every name in systemd-resolved ("~." on a link with servers of its own, as a full-tunnel VPN
/// sets it: wg-quick through systemd's resolvconf -x, `resolvectl domain tun0 '~.'`; NetworkManager 1.42 gives a full
/// tunnel DefaultRoute=yes instead, which roamd's global ~. outranks), and what it claims in words; none (`link` "")
/// when no link does or the backend is not resolved.
struct claim {
  std::string link;
  std::vector<std::string> servers;
  std::string what;
};

claim claiming_link(conflict_arbiter_ptr self, const proto::EnforcerStatus& now) {
  if (now.backend() != "resolved")
    return {};
  for (const auto& i : now.interfaces()) {
    auto servers = learnable(self, i.settings());
    if (servers.empty() ||
        std::find(i.routing_domains().begin(), i.routing_domains().end(), ".") == i.routing_domains().end())
      continue;
    auto link = link_name(self->state.adapters, i);
    if (link.empty())
      link = i.name();  // "ifindex 7" until the adapter snapshot has the link
    auto what = link + " claims every name in systemd-resolved (~.) for " + os::join(servers) +
                ": resolved would ask them as well as roamd and take the first answer";
    return {link, servers, what};
  }
  return {};
}

void execute(conflict_arbiter_ptr self, const situation& s, decision d, uint32_t events);

void carry_out_yield(conflict_arbiter_ptr self, const decision& d) {
  auto& st = self->state;
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(d.retry_at - self->clock().now());
  self->delayed_send(self, std::max(delay, std::chrono::milliseconds(1)), retry_atom::value, ++st.retry_generation);
}

/// Someone's settings that are the network's (not a VPN's or a local proxy's) become the original even when roamd
/// does not write now (intercepting, yielded, or waiting out a yield's backoff): a stop, or a later take-back, then
/// puts back theirs. (An adopt-and-take-back records them itself, before writing.)
void record_original(conflict_arbiter_ptr self, const situation& s, const decision& d) {
  auto& st = self->state;
  auto enforcer = enforcer_of(self);
  if (!enforcer || s.settings_ours || !becomes_original(s, st.adapters) ||
      !(d.what == action::intercept || d.what == action::yield || d.what == action::adopt || d.what == action::none))
    return;
  self->request(enforcer, st.opts.enforcer_timeout, rebase_atom::value, false)
    .then([](const proto::EnforcerStatus&) {}, [](caf::error&) {});
}

void execute(conflict_arbiter_ptr self, const situation& s, decision d, uint32_t events) {
  auto& st = self->state;
  record_original(self, s, d);
  if (d.what == action::none) {
    finish(self);
    return;
  }
  if (d.what != action::intercept)  // interception is the state only once it is verified
    set_state(self, to_string(d.next), d.reason);
  st.status.set_contests(static_cast<uint32_t>(st.policy->contests()));
  auto what = std::string{to_string(d.what)};
  // A local proxy's domains are routed to it too: its upstream queries for them, if intercepted, go on to the server
  // it chose (net/interception.hpp), and one that forwards back to roamd is caught by the data plane's loop guard.
  auto learn = [&] { adopt(self, s.nameservers, s.search, s.link); };
  auto done = [self, what, s, events](const proto::EnforcerStatus& es, bool ok, const std::string& detail) {
    self->state.status.set_writes(es.writes());
    record(self, what, self->state.status.reason() + (detail.empty() ? "" : ": " + detail), s.link, s.owner, ok,
           events);
    finish(self);
  };
  auto on_error = [self, what, s, events](caf::error& e) {
    record(self, what, "the enforcer did not answer: " + self->system().render(e), s.link, s.owner, false, events);
    finish(self);
  };
  auto enforcer = enforcer_of(self);
  if (!enforcer && d.what != action::adopt && d.what != action::yield) {
    record(self, what, d.reason + ": the enforcer is restarting; decided again after the next burst", s.link, s.owner,
           false, events);
    finish(self);
    return;
  }
  switch (d.what) {
    case action::none:
      break;
    case action::adopt:
      learn();
      record(self, what, d.reason, s.link, s.owner, true, events);
      finish(self);
      return;
    case action::adopt_and_retake:
      learn();
      if (becomes_original(s, st.adapters)) {
        self->request(enforcer, st.opts.enforcer_timeout, rebase_atom::value)
          .then([done](const proto::EnforcerStatus& es) { done(es, es.state() == "protecting", es.reason()); },
                on_error);
        return;
      }
      [[fallthrough]];
    case action::retake:
      self->request(enforcer, st.opts.enforcer_timeout, reassert_atom::value)
        .then([done](const proto::EnforcerStatus& es) { done(es, es.state() == "protecting", es.reason()); }, on_error);
      return;
    case action::intercept:
      if (!s.nameservers.empty())
        learn();
      self->request(enforcer, st.opts.enforcer_timeout, intercept_atom::value)
        .then(
          [self, s, events, done, reason = d.reason](const proto::EnforcerStatus& es) {
            if (es.intercepting()) {
              set_state(self, to_string(protection::interception), reason);
              done(es, true, es.reason());
              return;
            }
            // Interception did not work: the next step down is to yield.
            auto& st = self->state;
            record(self, "intercept", es.reason(), s.link, s.owner, false, events);
            auto y = st.policy->interception_failed(s, es.reason());
            set_state(self, to_string(y.next), y.reason);
            st.status.set_writes(es.writes());
            carry_out_yield(self, y);
            record(self, to_string(y.what), y.reason, s.link, s.owner, true, events);
            finish(self);
          },
          on_error);
      return;
    case action::yield:
      carry_out_yield(self, d);
      record(self, what, d.reason, s.link, s.owner, true, events);
      finish(self);
      return;
    case action::return_to_settings:
      if (!st.adopted_link.empty() && !link_alive(st.adapters, st.adopted_link))
        forget_adopted(self);
      // Settings first, then the rules: a query between the two still reaches roamd one way or the other. The
      // network's servers a local proxy handed the settings to are the user's settings from now on (a VPN's file
      // left behind never is: the journal's original stays).
      {
        auto then_release = [self, enforcer, done, on_error](const proto::EnforcerStatus& written) {
            if (self->state.opts.intercept_always) {
              done(written, written.state() == "protecting", written.reason());
              return;
            }
            self->request(enforcer, self->state.opts.enforcer_timeout, release_atom::value)
              .then([done, written](const proto::EnforcerStatus& es) {
                      auto out = written;
                      out.set_intercepting(es.intercepting());
                      done(out, written.state() == "protecting" && !es.intercepting(), written.reason());
                    },
                    on_error);
        };
        if (d.handed_over && becomes_original(s, st.adapters))
          self->request(enforcer, st.opts.enforcer_timeout, rebase_atom::value).then(then_release, on_error);
        else
          self->request(enforcer, st.opts.enforcer_timeout, reassert_atom::value).then(then_release, on_error);
      }
      return;
  }
  finish(self);
}

/// Asks the enforcer how the settings are now, builds the situation and decides.
void decide(conflict_arbiter_ptr self) {
  auto& st = self->state;
  if (st.busy) {
    st.again = true;
    return;
  }
  if (!st.taken || st.stood_down)
    return;  // not protecting (before take, after restore, stood down): nothing to arbitrate
  auto enforcer = enforcer_of(self);
  if (!enforcer) {
    st.again = false;
    return;  // restarting: the respawned enforcer's take comes first, then the next burst
  }
  st.busy = true;
  auto events = st.burst->last_burst();
  st.status.set_decisions(st.status.decisions() + 1);
  st.status.set_coalesced_events(st.status.coalesced_events() + events);
  self->request(enforcer, st.opts.enforcer_timeout, caf::get_atom::value, settings_atom::value)
    .then(
      [self, events](const proto::EnforcerStatus& now) {
        auto& st = self->state;
        st.original = now.original();
        st.interception_available = now.interception_reason().empty();
        learn_interfaces(self, now);
        // The adopted routes follow their link: a VPN that went away takes its routes with it.
        if (!st.adopted_link.empty() && !link_alive(st.adapters, st.adopted_link) &&
            st.policy->state() == protection::settings) {
          record(self, "forget", "the link " + st.adopted_link + " is gone: its adopted routes are withdrawn",
                 st.adopted_link, "", true, events);
          forget_adopted(self);
        }
        situation s;
        s.now = self->clock().now();
        auto servers = learnable(self, now.current());
        // Settings that still name only roamd (openresolv regenerating the file, a search line added) are not a
        // contest, whatever their bytes.
        bool names_only_roamd = now.current().nameservers_size() > 0 && servers.empty();
        // A local proxy that upstream health marked down serves nobody: settings naming only it name no server.
        bool dead_proxy = !servers.empty() && std::all_of(servers.begin(), servers.end(), [&](const auto& a) {
          return st.dead_proxies.count(a) != 0;
        });
        s.settings_ours = now.settings_ours() || names_only_roamd;
        if (!s.settings_ours) {
          if (!dead_proxy)
            s.nameservers = servers;
          s.search = new_domains(now.current(), now.original());
          s.owner = now.current_owner();
          s.problem = now.current_problem();
          if (!servers.empty())
            s.link = owning_link(servers.front(), st.adapters);
        }
        auto claimed = claiming_link(self, now);
        st.claim = claimed.what;
        if (s.settings_ours && !claimed.link.empty()) {
          s.link = claimed.link;
          s.claims_all = claimed.what;
          s.owner = "systemd-resolved";
        }
        s.link_present = !s.link.empty() && link_alive(st.adapters, s.link);
        s.links_signature = st.links_signature;
        // A competing local proxy is intercepted behind it: its clients talk to it over loopback (left alone), its
        // own upstream queries are redirected to roamd. A link claiming every name for a local proxy's address is
        // not: resolved asks that proxy over loopback, which interception leaves alone.
        s.interception_available = now.interception_reason().empty() && !all_loopback(claimed.servers);
        auto d = st.policy->decide(s);
        bool learns = d.what == action::adopt_and_retake || d.what == action::adopt || d.what == action::intercept;
        if (learns && full_tunnel(st.adapters, s.link))
          d.reason += " (full tunnel: the default route and so the cloud resolvers are reached through " + s.link +
                      "; its servers are asked through it too)";
        execute(self, s, std::move(d), events);
      },
      [self](caf::error& e) {
        record(self, "inspect", "the enforcer did not answer: " + self->system().render(e), "", "", false);
        finish(self);
      });
}

/// Arms the decision timer for `due` (rounded up: a timer that fires early finds the burst not yet due).
void arm_decision(conflict_arbiter_ptr self, caf::actor_clock::time_point due) {
  auto& st = self->state;
  auto delay = std::chrono::ceil<std::chrono::microseconds>(due - self->clock().now());
  self->delayed_send(self, std::max(delay, std::chrono::microseconds(0)), decide_atom::value, ++st.decide_generation);
}

/// At the first foreign write while protecting by settings, before the burst is decided: learn the writer's
/// servers for its domains and redirect port 53 to roamd at once, so that the queries of the next few hundred
/// milliseconds are answered (by roamd, through the new routes) instead of going to a server that may refuse them.
void bridge(conflict_arbiter_ptr self, const proto::SettingsChanged& change) {
  auto& st = self->state;
  if (!st.taken || st.stood_down || st.bridging || st.opts.intercept_always || !st.opts.bridge ||
      st.policy->state() != protection::settings || !st.interception_available || change.ours())
    return;
  auto servers = learnable(self, change.new_settings());
  if (servers.empty())
    return;  // it still names only roamd, or nothing (a file caught half-written in place: glibc would ask
             // 127.0.0.1, which interception leaves alone anyway)
  // A competing local proxy is bridged behind: its upstream queries are redirected from its first write. Only under
  // the file and resolvconf backends: under resolved and networkmanager the managers' own stubs (resolved's
  // 127.0.0.53, NM's dnsmasq) regenerate their files as links change, and only the decision, with the enforcer's
  // view, tells those apart.
  if (all_loopback(servers) && st.backend != "file" && st.backend != "resolvconf")
    return;  // an unknown backend too: rather no bridge than one behind the system's own stub
  auto enforcer = enforcer_of(self);
  if (!enforcer)
    return;
  adopt(self, servers, new_domains(change.new_settings(), st.original), owning_link(servers.front(), st.adapters));
  st.bridging = true;
  st.bridge_proxy = all_loopback(servers);
  self->request(enforcer, st.opts.enforcer_timeout, intercept_atom::value)
    .then(
      [self](const proto::EnforcerStatus& es) {
        if (!es.intercepting())
          self->state.bridging = false;
      },
      [self](caf::error&) { self->state.bridging = false; });
}

/// Takes over (at the agent's start, or again after standing down); `why` goes into the event.
void take_over(conflict_arbiter_ptr self, const std::string& why, std::function<void(const proto::EnforcerStatus&)> then,
               std::function<void(caf::error&)> failed);

/// The network-state actor's verdict: every change is an event; standing down gives the user's settings back
/// through the enforcer's real restore (journal, interception rules) and stops arbitrating until the network
/// stops protecting, when roamd takes over again (the user's settings of then become the original).
void on_verdict(conflict_arbiter_ptr self, const proto::NetworkVerdict& v) {
  auto& st = self->state;
  bool unanswered = !v.stand_down() && (v.state() == "open" || v.state() == "closed");
  if (st.network_mode != (unanswered ? v.state() : "") || (unanswered && st.network_reason != v.reason())) {
    st.network_mode = unanswered ? v.state() : "";
    st.network_reason = unanswered ? v.reason() : "";
    publish_headline(self);
  }
  if (st.busy || st.taking) {
    st.pending_verdict = v;  // after the decision or take being carried out (no write may follow a restore)
    return;
  }
  if (v.stand_down() == st.stood_down) {
    if (st.stood_down)
      set_state(self, "stood down: " + v.reason(), v.reason());
    record(self, "network", v.state() + ": " + v.reason(), "", "", true);
    return;
  }
  st.stood_down = v.stand_down();
  st.stand_down_reason = v.reason();
  if (!st.wanted) {  // before take or after restore: the take (if it comes) follows the verdict
    record(self, "network", v.state() + ": " + v.reason(), "", "", true);
    return;
  }
  auto enforcer = enforcer_of(self);
  if (!enforcer) {
    record(self, v.stand_down() ? "stand down" : "take", v.reason() + ": the enforcer is restarting", "", "", false);
    return;
  }
  st.busy = true;
  if (v.stand_down()) {
    // From here on the settings are the user's: the restore's own write, seen by the watcher before the enforcer
    // answers, must not be bridged (bridge() checks stood_down).
    forget_adopted(self);
    self->request(enforcer, st.opts.enforcer_timeout, restore_atom::value)
      .then(
        [self, v](const proto::EnforcerStatus& es) {
          auto& st = self->state;
          st.taken = false;
          st.bridging = false;
          set_state(self, "stood down: " + v.reason(), v.reason());
          st.status.set_writes(es.writes());
          record(self, "stand down", v.reason() + ": " + es.reason(), "", "", es.state() != "failed");
          finish(self);
        },
        [self](caf::error& e) {
          record(self, "stand down", "the enforcer did not answer: " + self->system().render(e), "", "", false);
          finish(self);
        });
    return;
  }
  take_over(self, "network: " + v.reason(), [self](const proto::EnforcerStatus&) { finish(self); },
            [self](caf::error&) { finish(self); });
}

void on_event(conflict_arbiter_ptr self) {
  auto& st = self->state;
  auto before = st.burst->deadline();
  auto due = st.burst->on_event(self->clock().now());
  if (before && *before == due)
    return;  // the armed timer is still right
  arm_decision(self, due);
}

} // namespace

namespace {

void take_over(conflict_arbiter_ptr self, const std::string& why, std::function<void(const proto::EnforcerStatus&)> then,
               std::function<void(caf::error&)> failed) {
  self->state.taken = true;  // a respawned enforcer re-takes when this is still set
  auto enforcer = enforcer_of(self);
  if (!enforcer) {
    auto e = caf::make_error(caf::sec::request_receiver_down);
    failed(e);
    return;
  }
  // A network verdict that comes meanwhile waits for the take's outcome.
  auto done_taking = [self] {
    auto& st = self->state;
    st.taking = false;
    if (st.pending_verdict && !st.busy) {
      auto v = std::move(*st.pending_verdict);
      st.pending_verdict.reset();
      on_verdict(self, v);
    }
  };
  self->state.taking = true;
  self->request(enforcer, self->state.opts.enforcer_timeout, take_atom::value)
    .then(
      [self, why, then, done_taking](const proto::EnforcerStatus& es) {
        auto& st = self->state;
        bool ok = es.state() == "protecting";
        st.taken = ok;  // nothing to arbitrate without a takeover (mode "none", a refused or rolled-back take)
        set_state(self, ok ? to_string(protection::settings) : "not protecting", es.reason());
        st.status.set_writes(es.writes());
        st.original = es.original();
        st.interception_available = es.interception_reason().empty();
        st.backend = es.backend();  // known before the first foreign write (see bridge())
        // "off" is the configuration's choice (system.mode "none"), not a failed take.
        record(self, "take", why.empty() ? es.reason() : why + ": " + es.reason(), "", es.owner(),
               ok || es.state() == "off");
        if (ok && st.opts.intercept_always && st.interception_available)
          // Belt and braces: port 53 goes to roamd whatever the settings say, from now until restore.
          self->request(enforcer_of(self), st.opts.enforcer_timeout, intercept_atom::value)
            .then(
              [self](const proto::EnforcerStatus& i) {
                record(self, "intercept", i.intercepting() ? "always on (arbitration.intercept_always): " + i.reason()
                                                           : i.reason(),
                       "", "", i.intercepting());
              },
              [](caf::error&) {});
        then(es);
        done_taking();
      },
      [self, failed, done_taking](caf::error& e) {
        record(self, "take", "the enforcer did not answer: " + self->system().render(e), "", "", false);
        failed(e);
        done_taking();
      });
}

} // namespace

uint64_t links_signature(const proto::AdapterSnapshot& snap) {
  std::vector<std::string> parts;
  for (const auto& l : snap.links())
    parts.push_back(l.name() + "/" + std::to_string(l.index()) + (l.carrier() && l.up() ? "+" : "-"));
  std::sort(parts.begin(), parts.end());
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (const auto& p : parts)
    for (unsigned char c : p + ";")
      h = (h ^ c) * 1099511628211ull;
  return h;
}

proto::RouteUpdate adopted_routes(const std::string& source, const std::vector<std::string>& servers,
                                  const std::vector<std::string>& domains, const std::string& link) {
  proto::RouteUpdate update;
  update.set_source(source);
  if (servers.empty())
    return update;
  for (const auto& d : domains) {
    auto* r = update.add_routes();
    r->set_domain(d);
    r->set_interface(link);
    r->set_source(source);
    for (const auto& s : servers)
      r->add_resolvers(s);
  }
  auto* fallback = update.add_routes();
  fallback->set_domain("");
  fallback->set_interface(link);
  fallback->set_source(source);
  for (const auto& s : servers)
    fallback->add_fallback_resolvers(s);
  return update;
}

conflict_arbiter_actor::behavior_type conflict_arbiter(conflict_arbiter_ptr self, conflict_arbiter_options opts,
                                                       std::shared_ptr<peers> directory,
                                                       std::vector<child_spec> children,
                                                       std::function<int64_t()> now_ms) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.directory = std::move(directory);
  st.now_ms = std::move(now_ms);
  st.policy.emplace(st.opts.policy);
  st.burst.emplace(st.opts.quiet, st.opts.cap);
  if (st.opts.link_settings_poll.count() > 0)
    self->delayed_send(self, st.opts.link_settings_poll, links_atom::value);
  set_state(self, "starting", "not yet protecting");
  st.directory->set(peers::role::arbiter, self);
  for (auto& spec : children)
    st.children.push_back(supervised_child{std::move(spec), {}, 0, {}});
  for (size_t i = 0; i < st.children.size(); ++i)
    start_child(self, i);
  self->set_down_handler([self](caf::down_msg& dm) { on_child_down(self, dm); });
  // Children go when the supervisor goes, whatever the reason.
  self->attach_functor([directory = st.directory, self_addr = self->address()](const caf::error&) {
    for (size_t i = 0; i < static_cast<size_t>(peers::role::count); ++i)
      if (auto r = static_cast<peers::role>(i); r == peers::role::arbiter)
        continue;
      else if (auto h = directory->get<caf::actor>(r))
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    directory->clear_all();
  });
  return {
    [self](const proto::AdapterSnapshot& snap) {
      auto& st = self->state;
      st.adapters = snap;
      auto sig = links_signature(snap);
      if (sig == st.links_signature)
        return;  // addresses or routes moved, links did not: nothing to arbitrate
      st.links_signature = sig;
      // The cloud registrar syncs its policy and the network-state actor probes again after a link-set change.
      for (auto r : {peers::role::cloud, peers::role::network})
        if (auto h = st.directory->get<caf::actor>(r))
          caf::anon_send(h, snap);
      on_event(self);
    },
    [self](const proto::SettingsChanged& change) {
      bridge(self, change);
      on_event(self);
    },
    [self](decide_atom, uint64_t generation) {
      auto& st = self->state;
      if (generation != st.decide_generation)
        return;
      if (!st.burst->fire(self->clock().now())) {
        if (auto due = st.burst->deadline())
          arm_decision(self, *due);  // early: the clock's resolution is coarser than the deadline's
        return;
      }
      decide(self);
    },
    [self](links_atom) {
      // Between decisions (each learns them itself), while a backend that keeps per-link settings is in force.
      auto& st = self->state;
      self->delayed_send(self, st.opts.link_settings_poll, links_atom::value);
      auto enforcer = enforcer_of(self);
      if (st.busy || !st.taken || !st.backend_has_links || !enforcer)
        return;
      self->request(enforcer, st.opts.enforcer_timeout, caf::get_atom::value, settings_atom::value)
        .then(
          [self](const proto::EnforcerStatus& now) {
            auto& st = self->state;
            if (st.busy || !st.taken)
              return;
            learn_interfaces(self, now);
            if (claiming_link(self, now).what != st.claim)
              decide(self);  // a link began or stopped claiming every name, with no other event
          },
          [](caf::error&) {});
    },
    [self](bridge_atom, uint64_t generation) {
      if (generation == self->state.bridge_generation && !self->state.busy)
        end_bridge(self, true);  // no contest for a whole window (a decision in progress ends or holds it itself)
    },
    [self](retry_atom, uint64_t generation) {
      if (generation == self->state.retry_generation && self->state.policy->state() == protection::yielded)
        decide(self);
    },
    [self](health_atom, const std::string& address, bool up) {
      // A local proxy that stopped answering takes its adopted routes with it (a VPN's go with its link); names
      // of its domains then go to the cloud instead of timing out.
      auto& st = self->state;
      if (all_loopback({address})) {
        if (up)
          st.dead_proxies.erase(address);
        else
          st.dead_proxies.insert(address);
      }
      if (up || !all_loopback(st.adopted_servers) ||
          std::find(st.adopted_servers.begin(), st.adopted_servers.end(), address) == st.adopted_servers.end())
        return;
      record(self, "forget", "the local proxy at " + address + " stopped answering: its adopted routes are withdrawn",
             "", "", true);
      forget_adopted(self);
      if (st.policy->state() == protection::interception)
        decide(self);  // intercepting behind it: the settings that name it name nobody now
    },
    [self](respawn_atom, uint32_t index) {
      auto& st = self->state;
      if (st.stopping || index >= st.children.size() || st.children[index].addr != caf::actor_addr{})
        return;
      start_child(self, index);
      after_restart(self, st.children[index]);
    },
    [self](take_atom) -> caf::typed_response_promise<proto::EnforcerStatus> {
      auto rp = self->make_response_promise<proto::EnforcerStatus>();
      auto& st = self->state;
      st.wanted = true;
      if (st.stood_down) {
        proto::EnforcerStatus es;
        es.set_state("off");
        es.set_reason("stood down: " + st.stand_down_reason);
        set_state(self, "stood down: " + st.stand_down_reason, st.stand_down_reason);
        record(self, "take", "not taken: stood down (" + st.stand_down_reason + ")", "", "", true);
        rp.deliver(es);
        return rp;
      }
      take_over(
        self, "", [rp](const proto::EnforcerStatus& es) mutable { rp.deliver(es); },
        [rp](caf::error& e) mutable { rp.deliver(e); });
      return rp;
    },
    [self](const proto::NetworkVerdict& v) { on_verdict(self, v); },
    [self](restore_atom) -> caf::typed_response_promise<proto::EnforcerStatus> {
      auto rp = self->make_response_promise<proto::EnforcerStatus>();
      self->state.taken = false;
      self->state.wanted = false;
      auto enforcer = enforcer_of(self);
      if (!enforcer) {
        rp.deliver(caf::make_error(caf::sec::request_receiver_down));
        return rp;
      }
      self->request(enforcer, self->state.opts.enforcer_timeout, restore_atom::value)
        .then(
          [self, rp](const proto::EnforcerStatus& es) mutable {
            set_state(self, "restored", es.reason());
            record(self, "restore", es.reason(), "", "", es.state() != "failed");
            rp.deliver(es);
          },
          [self, rp](caf::error& e) mutable {
            record(self, "restore", "the enforcer did not answer: " + self->system().render(e), "", "", false);
            rp.deliver(e);
          });
      return rp;
    },
    [self](caf::get_atom, status_atom) -> proto::ArbiterStatus {
      auto& st = self->state;
      st.status.set_contests(static_cast<uint32_t>(st.policy->contests()));
      return st.status;
    },
  };
}

} // namespace roamd::actors
