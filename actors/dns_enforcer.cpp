#include "actors/dns_enforcer.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/adapter_monitor.hpp"
#include "net/canary.hpp"
#include "net/endpoint.hpp"
#include "os/link_dns.hpp"
#include "os/text.hpp"

namespace roamd::actors {

namespace {

void set_status(dns_enforcer_ptr self, const std::string& state, const std::string& reason) {
  auto& st = self->state.status;
  if (st.state() != state)
    st.set_since_unix_ms(self->state.deps.now_ms());
  st.set_state(state);
  st.set_reason(reason);
  if (state == "failed" || state == "not_taken")
    spdlog::error("dns_enforcer: {}: {}", state, reason);
  else
    spdlog::info("dns_enforcer: {}: {}", state, reason);
}

void publish_routes(dns_enforcer_ptr self, const proto::ResolverSettings* original) {
  auto& st = self->state;
  if (!st.deps.directory)
    return;
  proto::RouteUpdate update;
  if (original)
    update = original_routes(*original, st.opts.own_addresses);
  update.set_source("system");
  st.deps.directory->send_routes(update);
}

/// The status plus a fresh look at the settings: what the resolver uses now, who owns it, whether every file is
/// still roamd's, and what the backend's manager holds per link (openresolv, resolved, NetworkManager).
proto::EnforcerStatus inspect_settings(dns_enforcer_ptr self) {
  auto& st = self->state;
  auto out = st.status;
  const auto& path = st.opts.paths.resolv_conf;
  auto now = st.deps.fs->inspect(path);
  *out.mutable_current() = to_proto(os::parse_resolv_conf(now.content));
  out.set_current_owner(os::to_string(os::owner_of(path, now)));
  if (now.exists && !now.readable)
    out.set_current_problem("roamd cannot read it (larger than 1 MiB, or not readable), so it cannot tell its servers");
  out.set_settings_ours(st.active && st.engine->all_ours(*st.active));
  auto backend = st.active ? os::backend_from_string(st.active->backend()) : std::nullopt;
  if (auto argv = backend ? os::link_settings_command(*backend) : std::vector<std::string>{};
      !argv.empty() && st.deps.cmd) {
    auto listed = st.deps.cmd->run(argv);
    if (listed.exit_code == 0)
      for (auto& i : os::parse_link_settings(*backend, listed.output)) {
        auto* x = out.add_interfaces();
        x->set_name(i.name);
        x->set_link(i.link);
        *x->mutable_settings() = to_proto(i.settings);
        x->set_ifindex(i.ifindex);
        for (auto& d : i.routing)
          x->add_routing_domains(d);
      }
  }
  return out;
}

void become_active(dns_enforcer_ptr self, proto::Journal journal) {
  auto& st = self->state;
  st.status.set_backend(journal.backend());
  st.status.set_owner(journal.owner());
  *st.status.mutable_original() = journal.original_settings();
  st.active = std::move(journal);
  publish_routes(self, &st.active->original_settings());
}

/// Answers a take or an interception waiting for its canary with the status now.
void answer_pending(dns_enforcer_ptr self) {
  auto& st = self->state;
  if (st.pending) {
    st.pending->deliver(st.status);
    st.pending.reset();
  }
}

/// Removes the interception rules (when there are any) and keeps the status in step.
os::os_error release_interception(dns_enforcer_ptr self) {
  auto& st = self->state;
  if (!st.deps.interception || !st.deps.interception->engaged())
    return {};
  auto err = st.deps.interception->release();
  st.status.set_intercepting(st.deps.interception->engaged());
  return err;
}

/// Restores the active takeover (if any); returns what happened.
std::string restore_active(dns_enforcer_ptr self, bool& ok) {
  auto& st = self->state;
  ok = true;
  if (auto err = release_interception(self)) {
    ok = false;
    return "removing the interception rules: " + err.message;
  }
  if (!st.active)
    return "nothing to restore";
  auto r = st.engine->restore(*st.active);
  ok = r.ok;
  if (r.ok) {
    st.active.reset();
    publish_routes(self, nullptr);
  }
  return r.reason;
}

/// Starts the canary lookup for the takeover (or interception) just made; the outcome comes back as a canary message.
void start_canary(dns_enforcer_ptr self, bool for_interception = false) {
  auto& st = self->state;
  st.canary_for_interception = for_interception;
  auto nonce = (static_cast<uint64_t>(st.deps.now_ms()) << 20) ^ ++st.canary_nonce;
  st.canary_nonce = nonce;
  auto name = net::canary_name(nonce);
  auto bytes = net::canary_address(name.substr(0, name.find('.')));
  std::string expected = bytes ? std::to_string((*bytes)[0]) + "." + std::to_string((*bytes)[1]) + "." +
                                   std::to_string((*bytes)[2]) + "." + std::to_string((*bytes)[3])
                               : std::string{};
  caf::weak_actor_ptr weak = self->ctrl();
  st.deps.lookup(name + ".", st.opts.canary_timeout, [weak, nonce, name, expected](os::lookup_result r) {
    bool ok = false;
    std::string detail;
    if (!r.ok)
      detail = r.error;
    else if (std::find(r.addresses.begin(), r.addresses.end(), expected) != r.addresses.end())
      ok = true;
    else
      detail = "answered " + r.addresses.front() + ", not roamd's " + expected + ": another resolver answers";
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<dns_enforcer_actor>(strong), canary_atom::value, nonce, ok,
                     ok ? name : name + ": " + detail);
  });
}

/// Recovers a journal left by an earlier run. Returns false (with the status set) when roamd must not go on.
bool recover(dns_enforcer_ptr self, bool& retaken) {
  auto& st = self->state;
  retaken = false;
  auto loaded = st.store->load();
  using status = os::journal_store::status;
  if (loaded.state == status::absent)
    return true;
  if (loaded.state != status::ok) {
    set_status(self, "failed",
               loaded.problem + ": roamd cannot tell what the original settings were and leaves " +
                 st.opts.paths.resolv_conf + " as it is; check that file, then move the journal away");
    return false;
  }
  auto& j = loaded.journal;
  std::string boot = j.boot_id() == st.deps.fs->boot_id() ? "" : " (journal from an earlier boot)";
  if (j.listen() == st.opts.listen && st.engine->all_ours(j)) {
    become_active(self, j);
    set_status(self, "verifying", "re-took after a restart: the settings are still roamd's" + boot);
    retaken = true;
    return true;
  }
  auto r = st.engine->restore(j);
  if (!r.ok) {
    set_status(self, "failed", "recovering the journal" + boot + ": " + r.reason);
    return false;
  }
  spdlog::info("dns_enforcer: recovered the journal of an earlier run{}: {}", boot, r.reason);
  return true;
}

/// The active takeover's original changed (edits taken in, a new original recorded): status and routes follow.
void original_changed(dns_enforcer_ptr self) {
  auto& st = self->state;
  *st.status.mutable_original() = st.active->original_settings();
  st.status.set_owner(st.active->owner());
  publish_routes(self, &st.active->original_settings());
}

/// Takes someone's edits to roamd's files into the active takeover (os::takeover_engine::absorb_edits): the
/// original they change is published again as routes.
void absorb_edits(dns_enforcer_ptr self) {
  auto& st = self->state;
  if (!st.active)
    return;
  auto kept = st.engine->absorb_edits(*st.active);
  if (kept.empty())
    return;
  spdlog::info("dns_enforcer: {}", kept);
  original_changed(self);
}

/// Writes roamd's settings again (`rebase`: first recording the settings in force as the new original).
proto::EnforcerStatus take_back(dns_enforcer_ptr self, bool rebase) {
  auto& st = self->state;
  if (!st.active) {
    // A restarted enforcer finds the takeover in its journal.
    if (auto loaded = st.store->load(); loaded.state == os::journal_store::status::ok)
      become_active(self, loaded.journal);
  }
  if (!st.active) {
    set_status(self, st.status.state(), "nothing to take back: roamd holds no takeover");
    return st.status;
  }
  auto before = st.active->original_settings().SerializeAsString();
  auto r = rebase ? st.engine->rebase(*st.active) : st.engine->reassert(*st.active);
  st.status.set_writes(st.status.writes() + r.writes);
  if (st.active->original_settings().SerializeAsString() != before)
    original_changed(self);
  if (r.ok)
    set_status(self, "protecting", "took the settings back: " + r.reason);
  else
    set_status(self, "contested", "could not take the settings back: " + r.reason);
  return st.status;
}

} // namespace

proto::RouteUpdate original_routes(const proto::ResolverSettings& original,
                                   const std::vector<std::string>& own_addresses) {
  proto::RouteUpdate update;
  update.set_source("system");
  std::vector<std::string> servers;
  for (const auto& ns : original.nameservers()) {
    auto ep = net::parse_endpoint(ns);  // a bare address: port 53
    if (!ep)
      continue;
    auto canonical = net::to_string(*ep);
    if (std::find(own_addresses.begin(), own_addresses.end(), canonical) == own_addresses.end())
      servers.push_back(canonical);
  }
  if (servers.empty())
    return update;
  for (const auto& domain : original.search()) {
    auto* r = update.add_routes();
    r->set_domain(domain);
    for (const auto& s : servers)
      r->add_resolvers(s);
  }
  auto* fallback = update.add_routes();
  fallback->set_domain("");
  for (const auto& s : servers)
    fallback->add_fallback_resolvers(s);
  return update;
}

dns_enforcer_actor::behavior_type dns_enforcer(dns_enforcer_ptr self, dns_enforcer_options opts,
                                               dns_enforcer_deps deps) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.deps = std::move(deps);
  st.store = std::make_shared<os::journal_store>(st.deps.fs, st.opts.state_dir);
  st.engine = std::make_unique<os::takeover_engine>(st.deps.fs, st.deps.cmd, st.store);
  st.status.set_state("off");
  st.status.set_since_unix_ms(st.deps.now_ms());
  st.status.set_interception_reason(!st.opts.interception_unavailable.empty() ? st.opts.interception_unavailable
                                    : st.deps.interception                   ? std::string{}
                                                                             : std::string{"no firewall"});
  st.status.set_intercepting(st.deps.interception && st.deps.interception->engaged());
  return {
    [self](take_atom) -> caf::typed_response_promise<proto::EnforcerStatus> {
      auto& st = self->state;
      auto rp = self->make_response_promise<proto::EnforcerStatus>();
      answer_pending(self);
      if (st.opts.mode == "none") {
        // A journal left by a run in another mode is still honoured: the user's settings come back.
        std::string leftover;
        if (auto loaded = st.store->load(); loaded.state == os::journal_store::status::ok)
          leftover = "; the journal of an earlier run was restored: " + st.engine->restore(loaded.journal).reason;
        set_status(self, "off", "system.mode is \"none\": the system's resolver settings are not touched" + leftover);
        rp.deliver(st.status);
        return rp;
      }
      if (st.active && st.engine->all_ours(*st.active)) {
        rp.deliver(st.status);
        return rp;
      }
      if (st.opts.listen.empty()) {
        set_status(self, "not_taken", "no listen address on port 53 (resolv.conf cannot name a port): add one to "
                                      "listen.addresses, or set system.mode = \"none\"");
        rp.deliver(st.status);
        return rp;
      }
      bool retaken = false;
      if (!recover(self, retaken)) {
        rp.deliver(st.status);
        return rp;
      }
      if (!retaken) {
        // A copy of roamd's file left naming a roamd that was not running (a VPN restoring its backup after roamd
        // stopped) is the user's settings again before they are recorded as the original.
        if (auto repaired = st.engine->repair(st.opts.paths.resolv_conf); !repaired.reason.empty())
          spdlog::log(repaired.ok ? spdlog::level::info : spdlog::level::err, "dns_enforcer: {}", repaired.reason);
        auto plan = os::plan_takeover(st.opts.mode, st.opts.paths, *st.deps.fs, st.opts.listen);
        auto res = st.engine->take(plan, st.deps.now_ms());
        if (!res.ok) {
          set_status(self, "not_taken", res.reason);
          rp.deliver(st.status);
          return rp;
        }
        st.status.set_writes(st.status.writes() + 1);
        become_active(self, std::move(res.journal));
        set_status(self, "verifying", res.reason + "; checking with a canary lookup");
      }
      st.pending = rp;
      start_canary(self);
      return rp;
    },
    [self](restore_atom) -> proto::EnforcerStatus {
      auto& st = self->state;
      if (!st.active) {
        auto loaded = st.store->load();
        if (loaded.state == os::journal_store::status::ok)
          st.active = loaded.journal;
      }
      if (!st.active && !(st.deps.interception && st.deps.interception->engaged()))
        return st.status;
      bool ok = false;
      auto reason = restore_active(self, ok);
      set_status(self, ok ? "restored" : "failed", ok ? reason : "restoring: " + reason);
      answer_pending(self);
      return st.status;
    },
    [self](canary_atom, uint64_t nonce, bool ok, const std::string& detail) {
      auto& st = self->state;
      if (nonce != st.canary_nonce)
        return;
      if (st.canary_for_interception) {
        if (!st.deps.interception->engaged()) {
          // Released before its canary came back (a bridge the arbiter no longer needed): nothing to verify.
        } else if (ok) {
          set_status(self, "intercepting", "verified: " + detail + " resolved through the system resolver reached "
                                           "roamd through the interception rules");
        } else {
          auto err = release_interception(self);
          set_status(self, "not_intercepting",
                     "the canary lookup of " + detail + " failed with the interception rules in place: removed them" +
                       (err ? " (but: " + err.message + ")" : std::string{}));
        }
        answer_pending(self);
        return;
      }
      if (!st.active)
        return;
      if (ok) {
        set_status(self, "protecting", "verified: " + detail + " resolved through the system resolver");
      } else {
        bool restored = false;
        auto reason = restore_active(self, restored);
        set_status(self, restored ? "not_taken" : "failed",
                   "the canary lookup of " + detail + " through the system resolver failed, so the system does not "
                   "reach roamd: rolled back (" + reason + ")");
      }
      answer_pending(self);
    },
    [self](const proto::SettingsChanged& change) {
      auto& st = self->state;
      if (!st.active)
        return;
      absorb_edits(self);
      if (st.engine->all_ours(*st.active)) {
        if (st.status.state() == "contested")
          set_status(self, "protecting", change.path() + " is roamd's again");
        return;
      }
      if (st.status.state() == "contested")
        return;
      set_status(self, "contested",
                 change.path() + " was changed by " + (change.owner().empty() ? "someone else" : change.owner()) +
                   " (nameservers now: " + os::join(change.new_settings().nameservers()) + ", seen by " +
                   change.seen_by() + "); the conflict arbiter decides what roamd does");
    },
    [self](caf::get_atom, status_atom) -> proto::EnforcerStatus { return self->state.status; },
    [self](caf::get_atom, settings_atom) -> proto::EnforcerStatus {
      absorb_edits(self);  // the arbiter asks at every decision: edits the watcher's report did not bring in yet
      return inspect_settings(self);
    },
    [self](reassert_atom) -> proto::EnforcerStatus { return take_back(self, false); },
    [self](rebase_atom) -> proto::EnforcerStatus { return take_back(self, true); },
    [self](rebase_atom, bool write) -> proto::EnforcerStatus {
      if (write)
        return take_back(self, true);
      auto& st = self->state;
      if (!st.active)
        if (auto loaded = st.store->load(); loaded.state == os::journal_store::status::ok)
          become_active(self, loaded.journal);
      if (!st.active)
        return st.status;
      auto before = st.active->original_settings().SerializeAsString();
      auto r = st.engine->rebase(*st.active, false);
      if (st.active->original_settings().SerializeAsString() != before) {
        spdlog::info("dns_enforcer: {}", r.reason);
        original_changed(self);
      }
      return st.status;
    },
    [self](intercept_atom) -> caf::typed_response_promise<proto::EnforcerStatus> {
      auto& st = self->state;
      auto rp = self->make_response_promise<proto::EnforcerStatus>();
      auto refuse = [&](const std::string& why) {
        set_status(self, "not_intercepting", why);
        rp.deliver(st.status);
        return rp;
      };
      if (!st.deps.interception)
        return refuse("interception is not possible here: " + (st.opts.interception_unavailable.empty()
                                                                   ? std::string{"no firewall"}
                                                                   : st.opts.interception_unavailable));
      if (!st.opts.interception_unavailable.empty())
        return refuse("interception is not possible here: " + st.opts.interception_unavailable);
      if (st.deps.interception->engaged()) {
        rp.deliver(st.status);
        return rp;
      }
      if (auto err = st.deps.interception->engage(st.opts.interception))
        return refuse("installing the interception rules failed: " + err.message);
      st.status.set_intercepting(true);
      answer_pending(self);
      st.pending = rp;
      std::vector<std::string> targets;
      for (const auto* t : {&st.opts.interception.to_v4, &st.opts.interception.to_v6})
        if (!t->empty())
          targets.push_back(*t);
      set_status(self, "verifying", "port-53 traffic is redirected to roamd (" + os::join(targets) +
                                      "); checking with a canary lookup");
      start_canary(self, true);
      return rp;
    },
    [self](release_atom) -> proto::EnforcerStatus {
      auto& st = self->state;
      if (!st.deps.interception || !st.deps.interception->engaged())
        return st.status;
      if (auto err = release_interception(self))
        set_status(self, "failed", "removing the interception rules: " + err.message);
      else
        set_status(self, !st.active ? "off" : st.engine->all_ours(*st.active) ? "protecting" : "contested",
                   "interception rules removed");
      return st.status;
    },
  };
}

} // namespace roamd::actors
