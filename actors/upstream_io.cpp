#include "actors/upstream_io.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "os/text.hpp"

namespace roamd::actors {

namespace {

int64_t now_ms(upstream_io_ptr self) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now().time_since_epoch()).count();
}

void apply_change(upstream_io_ptr self, const std::optional<health_change>& change) {
  if (!change)
    return;
  auto up = self->state.registry->find(change->id);
  if (!up)
    return;
  up->up.store(change->up, std::memory_order_relaxed);
  if (change->up)
    spdlog::info("upstream_io: {} is up: {}", up->name, change->reason);
  else
    spdlog::warn("upstream_io: {} is down: {}", up->name, change->reason);
  if (self->state.on_change)
    self->state.on_change(up->name.substr(0, up->name.find('%')), change->up);
}

void add_histogram(proto::LatencyHistogram& t, const proto::LatencyHistogram& b) {
  if (b.counts_size() == 0)
    return;
  if (t.counts_size() != b.counts_size()) {  // the first batch (bounds never change within a run)
    *t.mutable_bounds_us() = b.bounds_us();
    t.mutable_counts()->Resize(b.counts_size(), 0);
  }
  for (int i = 0; i < b.counts_size(); ++i)
    t.set_counts(i, t.counts(i) + b.counts(i));
  t.set_sum_us(t.sum_us() + b.sum_us());
}

void to_proto(const net::latency_histogram& h, proto::LatencyHistogram& out) {
  if (h.count() == 0)
    return;
  for (auto b : net::latency_bounds_us)
    out.add_bounds_us(b);
  for (auto c : h.counts)
    out.add_counts(c);
  out.set_sum_us(h.sum_us);
}

void add_totals(proto::StatsBatch& t, const proto::StatsBatch& b) {
  t.set_queries_udp(t.queries_udp() + b.queries_udp());
  t.set_queries_tcp(t.queries_tcp() + b.queries_tcp());
  t.set_answers(t.answers() + b.answers());
  t.set_cache_hits(t.cache_hits() + b.cache_hits());
  t.set_cache_misses(t.cache_misses() + b.cache_misses());
  t.set_servfail_sent(t.servfail_sent() + b.servfail_sent());
  t.set_local_answers(t.local_answers() + b.local_answers());
  t.set_fallback_sent(t.fallback_sent() + b.fallback_sent());
  t.set_fallback_used(t.fallback_used() + b.fallback_used());
  t.set_intercepted(t.intercepted() + b.intercepted());
  t.set_original_kept(t.original_kept() + b.original_kept());
  t.set_loops_broken(t.loops_broken() + b.loops_broken());
  t.set_formerr_sent(t.formerr_sent() + b.formerr_sent());
  t.set_notimp_sent(t.notimp_sent() + b.notimp_sent());
  t.set_untagged_cloud(t.untagged_cloud() + b.untagged_cloud());
  for (const auto& [reason, n] : b.drops())
    (*t.mutable_drops())[reason] += n;
  for (const auto& [route, n] : b.route_answers())
    (*t.mutable_route_answers())[route] += n;
  add_histogram(*t.mutable_latency(), b.latency());
  add_histogram(*t.mutable_upstream_latency(), b.upstream_latency());
}

} // namespace

proto::StatsBatch to_proto(const net::worker_stats& s) {
  proto::StatsBatch b;
  b.set_worker(s.worker);
  b.set_queries_udp(s.queries_udp);
  b.set_queries_tcp(s.queries_tcp);
  b.set_answers(s.answers);
  b.set_cache_hits(s.cache_hits);
  b.set_cache_misses(s.cache_misses);
  b.set_servfail_sent(s.servfail_sent);
  b.set_local_answers(s.local_answers);
  b.set_fallback_sent(s.fallback_sent);
  b.set_fallback_used(s.fallback_used);
  b.set_intercepted(s.intercepted);
  b.set_original_kept(s.original_kept);
  b.set_loops_broken(s.loops_broken);
  b.set_formerr_sent(s.formerr_sent);
  b.set_notimp_sent(s.notimp_sent);
  b.set_untagged_cloud(s.untagged_cloud);
  to_proto(s.latency, *b.mutable_latency());
  to_proto(s.upstream_latency, *b.mutable_upstream_latency());
  for (const auto& [route, n] : s.route_answers)
    (*b.mutable_route_answers())[route] = n;
  for (size_t i = 0; i < net::drop_reason_count; ++i)
    if (s.drops[i] != 0)
      (*b.mutable_drops())[net::to_string(static_cast<net::drop_reason>(i))] = s.drops[i];
  for (const auto& u : s.upstreams) {
    auto* c = b.add_upstreams();
    c->set_id(u.id);
    c->set_sent(u.sent);
    c->set_answered(u.answered);
    c->set_timeouts(u.timeouts);
    c->set_bad_answers(u.bad_answers);
    c->set_servfail(u.servfail);
    c->set_rtt_sum_us(u.rtt_sum_us);
    c->set_rtt_count(u.rtt_count);
    c->set_tcp_fallbacks(u.tcp_fallbacks);
    c->set_send_errors(u.send_errors);
  }
  return b;
}

upstream_io_actor::behavior_type upstream_io(upstream_io_ptr self, upstream_io_options opts,
                                             std::shared_ptr<net::upstream_registry> registry, probe_fn probe) {
  auto& st = self->state;
  st.registry = std::move(registry);
  st.probe = std::move(probe);
  st.health = std::make_unique<upstream_health>(opts.down_after, opts.probe_interval_ms);
  st.on_change = std::move(opts.on_change);
  st.tick = std::chrono::milliseconds(std::max<uint32_t>(50, opts.probe_interval_ms / 4));
  self->delayed_send(self, st.tick, probe_atom::value);
  return {
    [self](const proto::StatsBatch& batch) {
      auto& st = self->state;
      add_totals(st.totals, batch);
      for (const auto& c : batch.upstreams()) {
        if (auto up = st.registry->find(c.id()))
          st.health->track(c.id(), up->name, up->interface);
        apply_change(self, st.health->on_counters(c, now_ms(self)));
      }
    },
    [self](const proto::ProbeResult& r) { apply_change(self, self->state.health->on_probe(r, now_ms(self))); },
    [self](probe_atom) {
      auto& st = self->state;
      auto handle = caf::actor_cast<upstream_io_actor>(self);
      for (uint32_t id : st.health->probes_due(now_ms(self)))
        if (st.probe)
          st.probe(id, [handle](proto::ProbeResult r) { caf::anon_send(handle, std::move(r)); });
      self->delayed_send(self, st.tick, probe_atom::value);
    },
    [self](caf::get_atom, health_atom) -> proto::UpstreamHealthList {
      // Health is kept on the actor's (monotonic) clock; the answer says when in Unix time.
      auto list = self->state.health->snapshot();
      auto now = now_ms(self);
      auto wall = os::unix_ms_now();
      for (auto& u : *list.mutable_upstreams())
        if (u.changed_unix_ms() != 0)
          u.set_changed_unix_ms(wall - (now - u.changed_unix_ms()));
      return list;
    },
    [self](caf::get_atom, totals_atom) -> proto::StatsBatch { return self->state.totals; },
  };
}

} // namespace roamd::actors
