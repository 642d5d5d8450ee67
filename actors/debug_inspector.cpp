#include "actors/debug_inspector.hpp"

#include <caf/event_based_actor.hpp>

#include "actors/adapter_monitor.hpp"
#include "actors/cloud_registrar.hpp"
#include "actors/conflict_arbiter.hpp"
#include "actors/dns_enforcer.hpp"
#include "actors/network_state.hpp"
#include "actors/query_router.hpp"
#include "actors/upstream_io.hpp"

namespace roamd::actors {

namespace {

using code = proto::InspectError;
using promise = caf::typed_response_promise<proto::InspectResponse>;

/// The answer to a failed question to `role`: not running, too slow, or something else.
proto::InspectResponse failed(debug_inspector_ptr self, uint64_t id, peers::role role, std::chrono::milliseconds t,
                              const caf::error& e) {
  std::string who = peers::name(role);
  if (e == caf::sec::request_timeout)
    return inspect_error(id, code::TIMEOUT, who + " did not answer within " + std::to_string(t.count()) + " ms");
  if (e == caf::sec::request_receiver_down)
    return inspect_error(id, code::UNAVAILABLE, who + " stopped before answering (restarting or stopping)");
  return inspect_error(id, code::INTERNAL, who + ": " + self->system().render(e));
}

proto::InspectResponse unavailable(uint64_t id, peers::role role) {
  return inspect_error(id, code::UNAVAILABLE,
                       std::string{peers::name(role)} + " is not running (being restarted, or the agent is stopping)");
}

/// Asks `role` (as `Handle`) `xs...`; `fill` puts its `Reply` into the answer to request `id`.
template <class Handle, class Reply, class Fill, class... Ts>
promise ask(debug_inspector_ptr self, uint64_t id, peers::role role, std::chrono::milliseconds t, Fill fill,
            Ts... xs) {
  auto rp = self->make_response_promise<proto::InspectResponse>();
  auto target = self->state.directory->template get<Handle>(role);
  if (!target) {
    rp.deliver(unavailable(id, role));
    return rp;
  }
  self->request(target, t, xs...).then(
    [rp, id, fill](const Reply& reply) mutable {
      proto::InspectResponse r;
      r.set_id(id);
      fill(r, reply);
      rp.deliver(std::move(r));
    },
    [self, rp, id, role, t](caf::error& e) mutable { rp.deliver(failed(self, id, role, t, e)); });
  return rp;
}

using status_step = void (*)(debug_inspector_ptr, promise, proto::InspectResponse);

void deliver(debug_inspector_ptr, promise rp, proto::InspectResponse r) {
  rp.deliver(std::move(r));
}

/// Adds the part of the actor in `role` to a status answer when it runs and answers in time (the rest still tells
/// without it), then goes on with `next`.
template <class Handle, class Part, class Set>
void add_part(debug_inspector_ptr self, peers::role role, promise rp, proto::InspectResponse r, Set set,
              status_step next) {
  auto handle = self->state.directory->get<Handle>(role);
  if (!handle)
    return next(self, rp, std::move(r));
  self->request(handle, self->state.opts.timeout, caf::get_atom::value, status_atom::value)
    .then(
      [self, rp, r, set, next](const Part& part) mutable {
        set(*r.mutable_status(), part);
        next(self, rp, std::move(r));
      },
      [self, rp, r, next](caf::error&) mutable { next(self, rp, std::move(r)); });
}

/// The network-state actor's part, then the answer goes out.
void with_network(debug_inspector_ptr self, promise rp, proto::InspectResponse r) {
  add_part<network_state_actor, proto::NetworkStatus>(
    self, peers::role::network, rp, std::move(r),
    [](proto::AgentStatus& s, const proto::NetworkStatus& n) { *s.mutable_network() = n; }, deliver);
}

/// The cloud registrar's part, then the network-state actor's.
void with_cloud(debug_inspector_ptr self, promise rp, proto::InspectResponse r) {
  add_part<cloud_registrar_actor, proto::CloudStatus>(
    self, peers::role::cloud, rp, std::move(r),
    [](proto::AgentStatus& s, const proto::CloudStatus& c) { *s.mutable_cloud() = c; }, with_network);
}

/// The adapters answer: the link monitor's snapshot, and what the backend's manager holds per link (from the
/// enforcer's fresh look; left out when it does not answer in time).
promise adapters(debug_inspector_ptr self, uint64_t id) {
  auto rp = self->make_response_promise<proto::InspectResponse>();
  auto monitor = self->state.directory->get<adapter_monitor_actor>(peers::role::adapters);
  if (!monitor) {
    rp.deliver(unavailable(id, peers::role::adapters));
    return rp;
  }
  auto t = self->state.opts.timeout;
  self->request(monitor, t, caf::get_atom::value, adapters_atom::value)
    .then(
      [self, rp, id](const proto::AdapterSnapshot& snap) mutable {
        proto::InspectResponse r;
        r.set_id(id);
        *r.mutable_adapters() = snap;
        auto enforcer = self->state.directory->get<dns_enforcer_actor>(peers::role::enforcer);
        if (!enforcer) {
          rp.deliver(std::move(r));
          return;
        }
        self->request(enforcer, self->state.opts.settings_timeout, caf::get_atom::value, settings_atom::value)
          .then(
            [rp, r](const proto::EnforcerStatus& e) mutable {
              for (const auto& i : e.interfaces())
                *r.mutable_adapters()->add_dns() = i;
              rp.deliver(std::move(r));
            },
            [rp, r](caf::error&) mutable { rp.deliver(std::move(r)); });
      },
      [self, rp, id, t](caf::error& e) mutable { rp.deliver(failed(self, id, peers::role::adapters, t, e)); });
  return rp;
}

/// The status answer: the arbiter's state, then (when it runs) the enforcer's, plus version, uptime and configuration.
promise status(debug_inspector_ptr self, uint64_t id) {
  auto rp = self->make_response_promise<proto::InspectResponse>();
  auto& st = self->state;
  auto arbiter = st.directory->get<conflict_arbiter_actor>(peers::role::arbiter);
  if (!arbiter) {
    rp.deliver(unavailable(id, peers::role::arbiter));
    return rp;
  }
  auto t = st.opts.timeout;
  self->request(arbiter, t, caf::get_atom::value, status_atom::value)
    .then(
      [self, rp, id, t](const proto::ArbiterStatus& a) mutable {
        auto& st = self->state;
        proto::InspectResponse r;
        r.set_id(id);
        auto* s = r.mutable_status();
        s->set_version(st.opts.version);
        s->set_started_unix_ms(st.opts.started_unix_ms);
        s->set_uptime_ms(static_cast<uint64_t>(std::max<int64_t>(0, st.now_ms() - st.opts.started_unix_ms)));
        s->set_state(a.state());
        s->set_reason(a.reason());
        s->set_since_unix_ms(a.since_unix_ms());
        s->set_decisions(a.decisions());
        s->set_contests(a.contests());
        s->set_writes(a.writes());
        *s->mutable_restarts() = a.restarts();
        *s->mutable_config() = st.opts.config;
        if (st.opts.dnstap)
          *s->mutable_dnstap() = st.opts.dnstap();
        if (auto port = st.opts.debug_port ? st.opts.debug_port() : std::nullopt)
          *s->mutable_debug_port() = *port;
        auto enforcer = st.directory->get<dns_enforcer_actor>(peers::role::enforcer);
        if (!enforcer) {
          with_cloud(self, rp, std::move(r));
          return;
        }
        self->request(enforcer, t, caf::get_atom::value, status_atom::value)
          .then(
            [self, rp, r](const proto::EnforcerStatus& e) mutable {
              *r.mutable_status()->mutable_enforcer() = e;
              with_cloud(self, rp, std::move(r));
            },
            [self, rp, r](caf::error&) mutable { with_cloud(self, rp, std::move(r)); });  // the arbiter's part still tells
      },
      [self, rp, id, t](caf::error& e) mutable { rp.deliver(failed(self, id, peers::role::arbiter, t, e)); });
  return rp;
}

} // namespace

proto::InspectResponse inspect_error(uint64_t id, proto::InspectError::Code c, std::string message) {
  proto::InspectResponse r;
  r.set_id(id);
  r.mutable_error()->set_code(c);
  r.mutable_error()->set_message(std::move(message));
  return r;
}

proto::RecentQueries to_proto(const net::query_ring& ring, uint32_t limit) {
  proto::RecentQueries out;
  out.set_capacity(static_cast<uint32_t>(ring.capacity()));
  for (const auto& e : ring.snapshot(limit)) {
    auto* q = out.add_queries();
    q->set_time_unix_us(e.unix_us);
    q->set_client(net::address_text(reinterpret_cast<const sockaddr*>(&e.client), sizeof(e.client)));
    q->set_transport(e.tcp ? "tcp" : "udp");
    if (e.qname.size != 0) {
      auto name = e.qname.to_text();
      q->set_name(name.empty() ? "." : name);
    }
    q->set_qtype(e.qtype);
    q->set_rcode(e.rcode);
    q->set_source(net::to_string(e.source));
    q->set_route(e.route);
    q->set_resolver(e.resolver);
    q->set_nxdomain_fallback(net::to_string(e.fallback));
    q->set_latency_us(e.latency_us);
  }
  return out;
}

proto::ConfigSummary config_summary(const proto::Config& cfg) {
  proto::ConfigSummary s;
  s.set_source(cfg.source());
  *s.mutable_listen() = cfg.listen().addresses();
  *s.mutable_cloud_resolvers() = cfg.cloud().resolvers();
  for (const auto& i : cfg.internal())
    s.add_internal_domains(i.domain());
  s.set_identity(!cfg.cloud().device_id().empty());
  s.set_mode(cfg.system().mode());
  s.set_workers(cfg.daemon().workers());
  s.set_interception(cfg.arbitration().interception());
  s.set_debug_socket(cfg.debug().socket());
  s.set_debug_tcp(cfg.debug().tcp());
  return s;
}

debug_inspector_actor::behavior_type debug_inspector(debug_inspector_ptr self, debug_inspector_options opts,
                                                     std::shared_ptr<peers> directory,
                                                     std::function<int64_t()> now_ms) {
  self->state.opts = std::move(opts);
  self->state.directory = std::move(directory);
  self->state.now_ms = std::move(now_ms);
  using role = peers::role;
  return {
    [self](const proto::InspectRequest& req) -> promise {
      auto id = req.id();
      auto t = self->state.opts.timeout;
      if (req.body_case() != proto::InspectRequest::kQuery) {
        auto rp = self->make_response_promise<proto::InspectResponse>();
        rp.deliver(inspect_error(id, code::BAD_REQUEST, "not a query"));
        return rp;
      }
      switch (req.query()) {
        case proto::QUERY_STATUS:
          return status(self, id);
        case proto::QUERY_ADAPTERS:
          return adapters(self, id);
        case proto::QUERY_SETTINGS:
          return ask<dns_enforcer_actor, proto::EnforcerStatus>(
            self, id, role::enforcer, self->state.opts.settings_timeout,
            [](auto& r, const auto& x) { *r.mutable_settings() = x; }, caf::get_atom::value, settings_atom::value);
        case proto::QUERY_ROUTES:
          return ask<query_router_actor, proto::RoutingSnapshot>(
            self, id, role::router, t, [](auto& r, const auto& x) { *r.mutable_routes() = x; }, caf::get_atom::value,
            routes_atom::value);
        case proto::QUERY_UPSTREAMS:
          return ask<upstream_io_actor, proto::UpstreamHealthList>(
            self, id, role::upstream_io, t, [](auto& r, const auto& x) { *r.mutable_upstreams() = x; },
            caf::get_atom::value, health_atom::value);
        case proto::QUERY_EVENTS:
          return ask<conflict_arbiter_actor, proto::ArbiterStatus>(
            self, id, role::arbiter, t, [](auto& r, const auto& x) { *r.mutable_events() = x; }, caf::get_atom::value,
            status_atom::value);
        case proto::QUERY_STATS:
          return ask<upstream_io_actor, proto::StatsBatch>(
            self, id, role::upstream_io, t, [](auto& r, const auto& x) { *r.mutable_stats() = x; },
            caf::get_atom::value, totals_atom::value);
        case proto::QUERY_QUERIES: {
          auto rp = self->make_response_promise<proto::InspectResponse>();
          if (!self->state.opts.recent) {
            rp.deliver(inspect_error(id, code::DISABLED,
                                     "recent queries are not kept: set debug.recent_queries in the configuration"));
          } else {
            proto::InspectResponse r;
            r.set_id(id);
            *r.mutable_queries() = to_proto(*self->state.opts.recent, req.limit());
            rp.deliver(std::move(r));
          }
          return rp;
        }
        default: {
          auto rp = self->make_response_promise<proto::InspectResponse>();
          rp.deliver(inspect_error(id, code::BAD_REQUEST, "unknown query " + std::to_string(req.query())));
          return rp;
        }
      }
    },
  };
}

inspect_fn inspect_through(caf::actor_system& sys, debug_inspector_actor inspector, std::chrono::milliseconds bound) {
  return [&sys, inspector, bound](const proto::InspectRequest& req, std::function<void(proto::InspectResponse)> done) {
    sys.spawn(
      [req, done = std::move(done), bound](caf::event_based_actor* self, debug_inspector_actor target) {
        auto id = req.id();
        self->request(target, bound, req)
          .then([done](const proto::InspectResponse& r) { done(r); },
                [done, id, bound](caf::error& e) {
                  done(e == caf::sec::request_timeout
                         ? inspect_error(id, code::TIMEOUT, "no answer within " + std::to_string(bound.count()) + " ms")
                         : inspect_error(id, code::UNAVAILABLE, "the debug actor is not running"));
                });
      },
      inspector);
  };
}

} // namespace roamd::actors
