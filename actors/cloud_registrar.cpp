#include "actors/cloud_registrar.hpp"

#include <unistd.h>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cloud_policy.hpp"
#include "actors/conflict_arbiter.hpp"
#include "actors/upstream_io.hpp"
#include "proto/json.hpp"

namespace roamd::actors {

namespace {

using call = cloud_registrar_state::call;
using std::chrono::milliseconds;

constexpr size_t org_file_limit = 64 << 10;
constexpr size_t state_file_limit = 4 << 20;

int64_t now(cloud_registrar_ptr self) {
  return self->state.deps.now_unix_ms();
}

void set_state(cloud_registrar_ptr self, const std::string& state, const std::string& reason) {
  self->state.status.set_state(state);
  self->state.status.set_reason(reason);
}

/// The ErrorBody's code and message of a refusal, for log lines ("" when the body is not one).
std::string error_text(const std::string& body) {
  proto::ErrorBody e;
  if (body.empty() || !proto::from_json(body, e).empty() || (e.code().empty() && e.message().empty()))
    return "";
  std::string out = e.code();
  if (!e.message().empty())
    out += (out.empty() ? "" : ": ") + e.message().substr(0, 200);
  return out;
}

std::string describe(int status, const std::string& body) {
  auto text = error_text(body);
  return "HTTP " + std::to_string(status) + (text.empty() ? "" : " (" + text + ")");
}

void persist(cloud_registrar_ptr self) {
  auto& st = self->state;
  if (auto err = st.deps.fs->make_dirs(st.opts.state_dir, 0700)) {
    spdlog::error("cloud_registrar: cannot keep the registration: {}", err.message);
    return;
  }
  if (auto err = st.deps.fs->write_atomic(st.path(), st.reg.SerializeAsString(), 0600, ::geteuid(), ::getegid()))
    spdlog::error("cloud_registrar: cannot keep the registration in {}: {}", st.path(), err.message);
}

/// Puts the registration's identity and policy in force: the router's "cloud" route set and the network-state actor.
void publish(cloud_registrar_ptr self) {
  auto& st = self->state;
  const proto::Policy* policy = st.reg.has_policy() ? &st.reg.policy() : nullptr;
  auto update = to_route_update(st.reg.device_id(), policy, st.opts.transport);
  st.deps.directory->send_routes(update);
  if (policy)
    if (auto net = st.deps.directory->get<caf::actor>(peers::role::network))
      caf::anon_send(net, *policy);
  auto& s = st.status;
  s.set_device_id(st.reg.device_id());
  s.set_policy_revision(policy ? policy->revision() : "");
  s.set_policy_unix_ms(policy ? st.reg.policy_unix_ms() : 0);
  s.set_internal_domains(policy ? static_cast<uint32_t>(policy->internal_domains_size()) : 0);
  s.clear_resolvers();
  for (const auto& r : update.routes())
    if (r.domain().empty())  // the default route: the policy's usable resolvers
      *s.mutable_resolvers() = r.resolvers();
}

void schedule(cloud_registrar_ptr self, milliseconds delay) {
  auto& st = self->state;
  st.status.set_next_attempt_unix_ms(now(self) + delay.count());
  if (delay.count() <= 0)
    self->send(self, sync_atom::value, ++st.sync_gen);
  else
    self->delayed_send(self, delay, sync_atom::value, ++st.sync_gen);
}

/// The regular sync period: the policy's when it sets one, else the configuration's.
void schedule_regular(cloud_registrar_ptr self) {
  auto& st = self->state;
  std::chrono::seconds interval = st.opts.sync_interval, jitter = st.opts.sync_jitter;
  if (st.reg.has_policy() && st.reg.policy().sync_interval_s() != 0) {
    interval = std::chrono::seconds{st.reg.policy().sync_interval_s()};
    jitter = std::chrono::seconds{st.reg.policy().sync_jitter_s()};
  }
  schedule(self, st.resync ? st.opts.after_change : sync_delay(interval, jitter, st.deps.random()));
  st.resync = false;
}

/// A failed request: backoff (at least a minute after a refusal: asking again at once will not change the answer).
void failed(cloud_registrar_ptr self, const std::string& what, bool refused = false) {
  auto& st = self->state;
  st.status.set_failures(st.status.failures() + 1);
  st.status.set_last_error(what);
  if (st.reg.device_id().empty() && st.status.state() != "refused")
    set_state(self, "unregistered", what);
  auto delay = backoff_delay(st.status.failures(), st.opts.retry_first, st.opts.retry_max, st.deps.random());
  if (refused)
    delay = std::max(delay, std::min<milliseconds>(st.opts.retry_max, std::chrono::minutes(1)));
  // The first failure is worth a warning (a refusal an error); repeats are the same story until something changes.
  if (refused && st.status.failures() == 1)
    spdlog::error("cloud_registrar: {}; retrying in {} s", what, (delay.count() + 999) / 1000);
  else if (st.status.failures() == 1)
    spdlog::warn("cloud_registrar: {}; retrying in {} s, the policy in force stays", what, (delay.count() + 999) / 1000);
  else
    spdlog::debug("cloud_registrar: {} (failure {}); retrying in {} ms", what, st.status.failures(), delay.count());
  if (st.resync) {  // the network changed meanwhile: a new network deserves a fresh try
    st.resync = false;
    st.status.set_failures(0);
    delay = st.opts.after_change;
  }
  schedule(self, delay);
}

void succeeded(cloud_registrar_ptr self) {
  auto& st = self->state;
  if (st.status.failures() > 0)
    spdlog::info("cloud_registrar: the cloud answers again after {} failed attempt(s)", st.status.failures());
  st.status.set_failures(0);
  st.status.set_last_error("");
}

uint64_t send(cloud_registrar_ptr self, call kind, net::https_request req) {
  auto& st = self->state;
  auto serial = ++st.serial;
  st.pending[serial] = kind;
  auto handle = caf::actor_cast<cloud_registrar_actor>(self);
  st.deps.http(std::move(req), [handle, serial](net::https_response r) {
    caf::anon_send(handle, http_atom::value, serial, static_cast<int32_t>(r.status), std::move(r.etag),
                   std::move(r.body), std::move(r.error));
  });
  self->delayed_send(self, st.opts.api_timeout + std::chrono::seconds(5), guard_atom::value, serial);
  return serial;
}

void bearer(const cloud_registrar_state& st, net::https_request& req) {
  req.headers.emplace_back("Authorization", "Bearer " + st.reg.device_token());
}

/// Reads the organisation file; a registration kept for another organisation or API is dropped (with its policy:
/// the device moved). nullopt with the reason when the file cannot be used.
std::optional<proto::OrgInfo> read_org(cloud_registrar_ptr self, std::string& why) {
  auto& st = self->state;
  std::string text;
  if (auto err = st.deps.fs->read(st.opts.org_file, text, org_file_limit)) {
    why = "organisation file " + st.opts.org_file + ": " + err.message;
    return std::nullopt;
  }
  proto::OrgInfo org;
  if (auto bad = proto::from_json(text, org); !bad.empty()) {
    why = "organisation file " + st.opts.org_file + ": " + bad;
    return std::nullopt;
  }
  if (auto bad = org_problem(org); !bad.empty()) {
    why = "organisation file " + st.opts.org_file + ": " + bad;
    return std::nullopt;
  }
  return org;
}

void start_register(cloud_registrar_ptr self) {
  auto& st = self->state;
  std::string why;
  auto org = read_org(self, why);
  if (!org) {
    set_state(self, "unregistered", why);
    return failed(self, why);
  }
  if (!st.reg.organization_id().empty() && st.reg.organization_id() != org->organization_id()) {
    spdlog::warn("cloud_registrar: the organisation file now names organisation {} (was {}): the old registration "
                 "and its policy are dropped", org->organization_id(), st.reg.organization_id());
    st.reg.Clear();
    persist(self);
    publish(self);
  }
  st.status.set_organization_id(org->organization_id());
  proto::RegisterRequest body;
  body.set_organization_id(org->organization_id());
  body.set_fingerprint(org->fingerprint());
  body.set_user_id(org->user_id());
  body.set_hostname(st.opts.hostname);
  body.set_os(st.opts.os);
  body.set_agent_version(st.opts.agent_version);
  net::https_request req;
  req.method = "POST";
  req.path = "/v1/devices";
  req.body = proto::to_json(body);
  set_state(self, "registering", "registering with organisation " + org->organization_id());
  st.syncing = true;
  send(self, call::register_device, std::move(req));
}

void start_sync(cloud_registrar_ptr self) {
  auto& st = self->state;
  net::https_request req;
  req.path = "/v1/devices/" + st.reg.device_id() + "/policy";
  bearer(st, req);
  if (st.reg.has_policy())
    req.headers.emplace_back("If-None-Match", "\"" + st.reg.policy().revision() + "\"");
  st.syncing = true;
  send(self, call::policy, std::move(req));
}

void step(cloud_registrar_ptr self) {
  auto& st = self->state;
  if (st.syncing)
    return;  // the answer schedules the next step
  if (st.reg.device_id().empty())
    start_register(self);
  else
    start_sync(self);
}

/// The cloud does not know the device (any more): register again, keeping the policy in force meanwhile.
void forget_device(cloud_registrar_ptr self, const std::string& why) {
  auto& st = self->state;
  spdlog::warn("cloud_registrar: {}: registering again", why);
  st.reg.clear_device_id();
  st.reg.clear_device_token();
  persist(self);
  set_state(self, "unregistered", why);
}

void on_register(cloud_registrar_ptr self, int status, const std::string& body) {
  auto& st = self->state;
  if (status == 403) {
    auto why = "the cloud refused the registration: " + describe(status, body) +
               "; check the organisation file's organizationId and fingerprint";
    set_state(self, "refused", why);
    return failed(self, why, true);
  }
  if (status != 200 && status != 201)
    return failed(self, "registration: " + describe(status, body));
  proto::RegisterResponse r;
  std::string bad = proto::from_json(body, r);
  if (bad.empty())
    bad = registration_problem(r.device_id(), r.device_token());
  if (!bad.empty())
    return failed(self, "registration answer refused: " + bad);
  succeeded(self);
  st.reg.set_organization_id(st.status.organization_id());
  st.reg.set_api(st.opts.api);
  st.reg.set_device_id(r.device_id());
  st.reg.set_device_token(r.device_token());
  st.reg.set_registered_unix_ms(now(self));
  st.status.set_registrations(st.status.registrations() + 1);
  persist(self);
  publish(self);
  set_state(self, "registered", "registered as device " + r.device_id());
  st.resync = false;  // the policy is asked for at once anyway
  spdlog::info("cloud_registrar: registered with organisation {} as device {}", st.reg.organization_id(), r.device_id());
  schedule(self, milliseconds{0});  // the policy at once
}

void on_policy(cloud_registrar_ptr self, int status, const std::string& etag, const std::string& body) {
  auto& st = self->state;
  if (status == 401 || status == 404) {
    // At once, unless the device registered just now: a cloud that forgets every device must not get a loop.
    bool fresh = now(self) - st.reg.registered_unix_ms() < 60'000;
    auto why = "the cloud does not know device " + st.reg.device_id() + ": " + describe(status, body);
    forget_device(self, why);
    return fresh ? failed(self, why) : schedule(self, milliseconds{0});
  }
  if (status == 304 && st.reg.has_policy()) {
    succeeded(self);
    st.status.set_syncs(st.status.syncs() + 1);
    st.status.set_last_sync_unix_ms(now(self));
    return schedule_regular(self);
  }
  if (status != 200)
    return failed(self, "policy sync: " + describe(status, body));
  proto::Policy p;
  std::string bad = proto::from_json(body, p);
  if (bad.empty())
    bad = policy_problem(p, st.opts.transport);
  if (bad.empty() && !etag.empty() && etag != "\"" + p.revision() + "\"" && etag != "W/\"" + p.revision() + "\"")
    spdlog::debug("cloud_registrar: the ETag {} differs from the policy's revision {}", etag, p.revision());
  succeeded(self);
  st.status.set_syncs(st.status.syncs() + 1);
  st.status.set_last_sync_unix_ms(now(self));
  if (!bad.empty()) {
    st.status.set_refused_policies(st.status.refused_policies() + 1);
    st.status.set_last_error("policy refused: " + bad);
    spdlog::error("cloud_registrar: policy refused, {}: {}", st.reg.has_policy() ? "the last good one stays in force"
                                                                                  : "the configuration's settings stay",
                  bad);
    return schedule_regular(self);
  }
  bool changed = !st.reg.has_policy() || st.reg.policy().SerializeAsString() != p.SerializeAsString();
  if (changed) {
    *st.reg.mutable_policy() = p;
    st.reg.set_policy_unix_ms(now(self));
    persist(self);
    publish(self);
    spdlog::info("cloud_registrar: policy {} in force: {} internal domain(s), cloud resolvers {}", p.revision(),
                 p.internal_domains_size(), st.status.resolvers_size() == 0 ? "as configured" : "from the policy");
  }
  schedule_regular(self);
}

void schedule_beat(cloud_registrar_ptr self) {
  auto& st = self->state;
  if (st.opts.heartbeat_interval.count() > 0)
    self->delayed_send(self, sync_delay(st.opts.heartbeat_interval, st.opts.heartbeat_interval / 10, st.deps.random()),
                       beat_atom::value, ++st.beat_gen);
}

void send_heartbeat(cloud_registrar_ptr self, const proto::ArbiterStatus& arbiter, const proto::StatsBatch& totals) {
  auto& st = self->state;
  if (st.reg.device_id().empty()) {  // forgotten while the state was gathered: the next beat will tell
    st.beating = false;
    schedule_beat(self);
    return;
  }
  proto::Heartbeat hb;
  hb.set_device_id(st.reg.device_id());
  hb.set_state(arbiter.state());
  hb.set_reason(arbiter.reason());
  hb.set_agent_version(st.opts.agent_version);
  hb.set_uptime_s(static_cast<uint64_t>(std::max<int64_t>(0, now(self) - st.started_unix_ms) / 1000));
  hb.set_policy_revision(st.reg.has_policy() ? st.reg.policy().revision() : "");
  auto& c = *hb.mutable_counters();
  c["queries"] = totals.queries_udp() + totals.queries_tcp();
  c["answers"] = totals.answers();
  c["cache_hits"] = totals.cache_hits();
  c["servfail_sent"] = totals.servfail_sent();
  c["fallback_used"] = totals.fallback_used();
  c["untagged_cloud"] = totals.untagged_cloud();
  net::https_request req;
  req.method = "POST";
  req.path = "/v1/devices/" + st.reg.device_id() + "/heartbeat";
  bearer(st, req);
  req.body = proto::to_json(hb);
  send(self, call::heartbeat, std::move(req));
}

/// Gathers the state and counters (each bounded by a second; what does not come is left out), then sends.
void heartbeat(cloud_registrar_ptr self) {
  auto& st = self->state;
  if (st.beating)
    return;  // the one out reschedules when it is answered
  if (st.reg.device_id().empty()) {
    schedule_beat(self);  // nothing to say before registering; ask again next period
    return;
  }
  st.beating = true;
  auto totals = std::make_shared<proto::StatsBatch>();
  auto after_arbiter = [self, totals](const proto::ArbiterStatus& a) {
    auto io = self->state.deps.directory->get<upstream_io_actor>(peers::role::upstream_io);
    if (!io)
      return send_heartbeat(self, a, *totals);
    self->request(io, std::chrono::seconds(1), caf::get_atom::value, totals_atom::value)
      .then([self, a](const proto::StatsBatch& t) { send_heartbeat(self, a, t); },
            [self, a, totals](caf::error&) { send_heartbeat(self, a, *totals); });
  };
  auto arbiter = st.deps.directory->get<conflict_arbiter_actor>(peers::role::arbiter);
  if (!arbiter)
    return after_arbiter(proto::ArbiterStatus{});
  self->request(arbiter, std::chrono::seconds(1), caf::get_atom::value, status_atom::value)
    .then([after_arbiter](const proto::ArbiterStatus& a) { after_arbiter(a); },
          [after_arbiter](caf::error&) { after_arbiter(proto::ArbiterStatus{}); });
}

void on_heartbeat(cloud_registrar_ptr self, int status, const std::string& body, const std::string& error) {
  auto& st = self->state;
  st.beating = false;
  schedule_beat(self);
  if (!error.empty()) {
    spdlog::debug("cloud_registrar: heartbeat: {}", error);
    return;
  }
  if (status >= 200 && status < 300) {
    st.status.set_heartbeats(st.status.heartbeats() + 1);
    return;
  }
  if ((status == 401 || status == 404) && !st.syncing && !st.reg.device_id().empty()) {
    forget_device(self, "the cloud does not know device " + st.reg.device_id() + " (heartbeat: " +
                          describe(status, body) + ")");
    schedule(self, milliseconds{0});
    return;
  }
  spdlog::debug("cloud_registrar: heartbeat: {}", describe(status, body));
}

void on_answer(cloud_registrar_ptr self, uint64_t serial, int status, const std::string& etag, const std::string& body,
               const std::string& error) {
  auto& st = self->state;
  auto it = st.pending.find(serial);
  if (it == st.pending.end())
    return;  // late: its guard already gave up on it
  auto kind = it->second;
  st.pending.erase(it);
  if (kind == call::heartbeat)
    return on_heartbeat(self, status, body, error);
  st.syncing = false;
  auto what = kind == call::register_device ? "registration" : "policy sync";
  if (!error.empty())
    return failed(self, std::string{what} + ": " + error);
  if (kind == call::register_device)
    on_register(self, status, body);
  else
    on_policy(self, status, etag, body);
}

/// Takes the kept registration when it belongs to the configured API (the organisation is checked at the next
/// registration or, while registered, left to the cloud).
void load(cloud_registrar_ptr self) {
  auto& st = self->state;
  std::string bytes;
  auto err = st.deps.fs->read(st.path(), bytes, state_file_limit);
  if (err) {
    if (err.code != ENOENT)
      spdlog::warn("cloud_registrar: cannot read {}: {}; registering afresh", st.path(), err.message);
    return;
  }
  proto::CloudRegistration reg;
  if (!reg.ParseFromString(bytes)) {
    spdlog::warn("cloud_registrar: {} is damaged; registering afresh", st.path());
    return;
  }
  if (reg.api() != st.opts.api) {
    spdlog::info("cloud_registrar: the kept registration is for {}, not {}; registering afresh", reg.api(), st.opts.api);
    return;
  }
  if (reg.has_policy()) {
    if (auto bad = policy_problem(reg.policy(), st.opts.transport); !bad.empty()) {
      spdlog::warn("cloud_registrar: the kept policy is not usable ({}); waiting for a fresh one", bad);
      reg.clear_policy();
    }
  }
  if (!reg.device_id().empty() && !registration_problem(reg.device_id(), reg.device_token()).empty()) {
    reg.clear_device_id();
    reg.clear_device_token();
  }
  std::string why;
  if (auto org = read_org(self, why); org && org->organization_id() != reg.organization_id()) {
    spdlog::info("cloud_registrar: the kept registration is for organisation {}, the organisation file names {}; "
                 "registering afresh", reg.organization_id(), org->organization_id());
    return;
  }
  st.reg = std::move(reg);
  st.status.set_organization_id(st.reg.organization_id());
  if (!st.reg.device_id().empty())
    set_state(self, "registered", "registered as device " + st.reg.device_id() + " (kept from an earlier run)");
  spdlog::info("cloud_registrar: kept from an earlier run: {}{}",
               st.reg.device_id().empty() ? "no registration" : "device " + st.reg.device_id(),
               st.reg.has_policy() ? ", policy " + st.reg.policy().revision() : "");
  if (!st.reg.device_id().empty() || st.reg.has_policy())
    publish(self);
}

} // namespace

cloud_registrar_actor::behavior_type cloud_registrar(cloud_registrar_ptr self, cloud_registrar_options opts,
                                                     cloud_registrar_deps deps) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.deps = std::move(deps);
  st.started_unix_ms = now(self);
  st.status.set_api(st.opts.api);
  set_state(self, "unregistered", "not yet registered");
  load(self);
  schedule(self, milliseconds{0});
  schedule_beat(self);
  return {
    [self](const proto::AdapterSnapshot&) {
      auto& st = self->state;
      if (st.syncing) {
        st.resync = true;
        return;
      }
      st.status.set_failures(0);  // a new network: no reason to wait out the old one's backoff
      schedule(self, st.opts.after_change);
    },
    [self](sync_atom) {
      auto& st = self->state;
      st.status.set_failures(0);
      if (st.syncing)
        st.resync = true;
      else
        schedule(self, milliseconds{0});
    },
    [self](sync_atom, uint64_t gen) {
      if (gen == self->state.sync_gen)
        step(self);
    },
    [self](beat_atom, uint64_t gen) {
      if (gen == self->state.beat_gen)
        heartbeat(self);
    },
    [self](http_atom, uint64_t serial, int32_t status, const std::string& etag, const std::string& body,
           const std::string& error) { on_answer(self, serial, status, etag, body, error); },
    [self](guard_atom, uint64_t serial) {
      if (self->state.pending.count(serial) != 0)
        on_answer(self, serial, 0, "", "",
                  "no answer within " + std::to_string(self->state.opts.api_timeout.count()) + " ms");
    },
    [self](caf::get_atom, status_atom) -> proto::CloudStatus { return self->state.status; },
    [self](caf::get_atom, policy_atom) -> proto::Policy {
      return self->state.reg.has_policy() ? self->state.reg.policy() : proto::Policy{};
    },
  };
}

} // namespace roamd::actors
