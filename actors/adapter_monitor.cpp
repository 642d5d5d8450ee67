#include "actors/adapter_monitor.hpp"

#include <chrono>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "os/resolv_conf.hpp"
#include "os/resolver_plan.hpp"
#include "os/sha256.hpp"
#include "os/text.hpp"

namespace roamd::actors {

namespace {

void fill(proto::ResolverSettings& out, const os::file_state& st) {
  if (st.readable)
    out = to_proto(os::parse_resolv_conf(st.content));
}

std::string hash_of(const os::file_state& st) {
  return st.readable ? os::to_hex(os::sha256(st.content)) : std::string{};
}

std::string describe_links(const proto::AdapterSnapshot& snap) {
  std::string out;
  for (const auto& l : snap.links()) {
    out += (out.empty() ? "" : ", ") + l.name() + (l.kind().empty() ? "" : "/" + l.kind()) +
           (l.up() && l.carrier() ? "" : l.up() ? " (no carrier)" : " (down)");
  }
  return out;
}

} // namespace

proto::SettingsChanged to_proto(const os::settings_event& e, int64_t unix_ms) {
  proto::SettingsChanged out;
  out.set_path(e.path);
  fill(*out.mutable_old_settings(), e.before);
  fill(*out.mutable_new_settings(), e.after);
  auto owner = os::owner_of(e.path, e.after);
  out.set_owner(e.after.exists ? os::to_string(owner) : "nobody (the file is gone)");
  out.set_ours(e.after.exists && owner == os::resolv_owner::roamd);
  out.set_seen_by(e.seen_by);
  out.set_old_sha256(hash_of(e.before));
  out.set_new_sha256(hash_of(e.after));
  out.set_unix_ms(unix_ms);
  return out;
}

adapter_monitor_actor::behavior_type adapter_monitor(adapter_monitor_ptr self, std::shared_ptr<os::link_monitor> links,
                                                     std::shared_ptr<os::settings_watcher> watcher,
                                                     std::string resolv_conf, std::shared_ptr<peers> directory) {
  auto& st = self->state;
  st.links = links;
  st.watcher = watcher;
  st.directory = std::move(directory);
  // The os objects call back from their own threads; they hold only a weak reference, so no cycle keeps this actor.
  caf::weak_actor_ptr weak = self->ctrl();
  auto deliver = [weak](auto msg) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<adapter_monitor_actor>(strong), std::move(msg));
  };
  if (links)
    if (auto err = links->start([deliver](proto::AdapterSnapshot s) { deliver(std::move(s)); }); !err.empty())
      spdlog::error("adapter_monitor: link monitor: {}; adapters are not watched", err);
  if (watcher)
    if (auto err = watcher->start(resolv_conf, [deliver](os::settings_event e) { deliver(to_proto(e, os::unix_ms_now())); });
        !err.empty())
      spdlog::error("adapter_monitor: settings watcher: {}; changes by others are not seen", err);
  self->attach_functor([links, watcher] {
    if (watcher)
      watcher->stop();
    if (links)
      links->stop();
  });
  return {
    [self](const proto::AdapterSnapshot& snap) {
      auto& st = self->state;
      if (describe_links(snap) != describe_links(st.latest))
        spdlog::info("adapter_monitor: links: {}", describe_links(snap));
      st.latest = snap;
      if (!st.directory)
        return;
      if (auto router = st.directory->get<query_router_actor>(peers::role::router))
        self->send(router, snap);
      if (auto arbiter = st.directory->get<arbiter_inbox>(peers::role::arbiter))
        self->send(arbiter, snap);
    },
    [self](const proto::SettingsChanged& change) {
      auto& st = self->state;
      ++st.settings_changes;
      spdlog::info("adapter_monitor: {} changed ({}, seen by {}): owner {}, nameservers [{}]", change.path(),
                   change.ours() ? "roamd's marker" : "not roamd's", change.seen_by(), change.owner(),
                   os::join(change.new_settings().nameservers()));
      if (!st.directory)
        return;
      if (auto enforcer = st.directory->get<dns_enforcer_actor>(peers::role::enforcer))
        self->send(enforcer, change);
      if (auto arbiter = st.directory->get<arbiter_inbox>(peers::role::arbiter))
        self->send(arbiter, change);
    },
    [self](caf::get_atom, adapters_atom) -> proto::AdapterSnapshot { return self->state.latest; },
  };
}

} // namespace roamd::actors
