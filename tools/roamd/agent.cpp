#include "tools/roamd/agent.hpp"

#include <csignal>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/adapter_monitor.hpp"
#include "actors/dns_enforcer.hpp"
#include "actors/query_router.hpp"
#include "actors/upstream_io.hpp"
#include "net/dataplane.hpp"
#include "net/endpoint.hpp"
#include "os/command_runner.hpp"
#include "os/link_monitor.hpp"
#include "os/settings_watcher.hpp"
#include "os/takeover.hpp"
#include "os/text.hpp"

namespace roamd {

namespace {

net::dataplane_options to_options(const proto::Config& cfg) {
  net::dataplane_options o;
  for (const auto& a : cfg.listen().addresses())
    if (auto ep = net::parse_endpoint(a))
      o.listen.push_back(*ep);
  o.workers = cfg.daemon().workers();
  o.timeout_ms = cfg.upstream().timeout_ms();
  o.attempts = cfg.upstream().attempts();
  o.source_ports = cfg.upstream().source_ports();
  o.port_rotation_ms = cfg.upstream().port_rotation_ms();
  o.tcp_max_connections = cfg.tcp().max_connections();
  o.tcp_idle_timeout_ms = cfg.tcp().idle_timeout_ms();
  o.cache.capacity = cfg.cache().size();
  o.cache.max_ttl = cfg.cache().max_ttl();
  o.cache.negative_max_ttl = cfg.cache().negative_max_ttl();
  o.socket_mark = cfg.arbitration().socket_mark();
  return o;
}

/// The enforcer's options: the address resolv.conf will name is the first listen address on port 53 (a wildcard
/// listener is reached through loopback).
actors::dns_enforcer_options enforcer_options(const proto::Config& cfg, const std::vector<boost::asio::ip::udp::endpoint>& bound) {
  actors::dns_enforcer_options o;
  o.mode = cfg.system().mode();
  o.paths.resolv_conf = cfg.system().resolv_conf();
  o.state_dir = cfg.system().state_dir();
  o.canary_timeout = std::chrono::milliseconds(cfg.system().canary_timeout_ms());
  for (const auto& ep : bound) {
    o.own_addresses.push_back(net::to_string(ep));
    if (ep.port() != 53 || !o.listen.empty())
      continue;
    auto a = ep.address();
    if (a.is_unspecified()) {
      o.listen = a.is_v4() ? "127.0.0.1" : "::1";
      // Never learn the address resolv.conf will name as a resolver: that would be a loop.
      o.own_addresses.push_back(net::to_string(boost::asio::ip::udp::endpoint{
        boost::asio::ip::make_address(o.listen), 53}));
    } else {
      o.listen = a.to_string();
    }
  }
  return o;
}

/// Blocks until SIGINT or SIGTERM; SIGHUP is answered with a log line (reloading comes with the cloud policy).
void wait_for_stop_signal(boost::asio::io_context& ctx, boost::asio::signal_set& signals) {
  bool stop = false;
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int sig) {
    if (ec)
      return;
    if (sig == SIGHUP) {
      spdlog::info("roamd: SIGHUP ignored: configuration reload is not supported yet; restart to apply changes");
      signals.async_wait(on_signal);
      return;
    }
    spdlog::info("roamd: {} received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop = true;
  };
  signals.async_wait(on_signal);
  while (!stop && ctx.run_one() > 0) {
  }
}

} // namespace

int run_agent(const proto::Config& cfg) {
  // Signal handlers go in first: from here on SIGTERM means a clean stop, never the default abrupt exit.
  boost::asio::io_context signal_ctx;
  boost::asio::signal_set signals{signal_ctx, SIGINT, SIGTERM, SIGHUP};
  auto registry = std::make_shared<net::upstream_registry>();
  actors::upstream_io_actor io;  // assigned before the data plane starts, so the sink never sees it unset
  auto sink = [&io](net::worker_stats&& s) { caf::anon_send(io, actors::to_proto(s)); };
  net::dataplane dp{to_options(cfg), registry, sink};
  if (auto err = dp.open(); !err.empty()) {
    spdlog::error("roamd: {}", err);
    return 1;
  }
  caf::actor_system_config acfg;
  // The control plane is light: two scheduler threads, and no busy polling when idle. CAF's default polls for 25 ms
  // with 50 us sleeps after every job, which on a 2-core machine costs the data plane a visible share of a core;
  // an idle CAF worker here sleeps on its condition variable and is woken when a message arrives.
  acfg.set("scheduler.max-threads", 2);
  acfg.set("work-stealing.aggressive-poll-attempts", 10);
  acfg.set("work-stealing.moderate-poll-attempts", 0);
  acfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds(100)});
  {
    caf::actor_system sys{acfg};
    actors::upstream_io_options uo{cfg.upstream().down_after(), cfg.upstream().probe_interval_ms()};
    io = sys.spawn(actors::upstream_io, uo, registry, [&dp](uint32_t id, std::function<void(proto::ProbeResult)> done) {
      dp.probe(id, [done = std::move(done)](uint32_t uid, bool ok, uint64_t rtt) {
        proto::ProbeResult r;
        r.set_id(uid);
        r.set_ok(ok);
        r.set_rtt_us(rtt);
        done(std::move(r));
      });
    });
    auto router = sys.spawn(actors::query_router, cfg, registry,
                            [&dp](std::shared_ptr<const net::routing_table> t) { dp.set_routing(std::move(t)); });
    {
      // The first snapshot must be in place before the first query is read.
      caf::scoped_actor self{sys};
      self->request(router, std::chrono::seconds(5), caf::get_atom::value, actors::routes_atom::value)
        .receive([](const proto::RoutingSnapshot&) {},
                 [](caf::error& e) { spdlog::warn("roamd: routing actor did not answer at start"); });
    }
    dp.start();
    std::string listening;
    for (const auto& ep : dp.bound_endpoints())
      listening += (listening.empty() ? "" : ", ") + net::to_string(ep);
    spdlog::info("roamd: answering on {} (UDP and TCP); cloud resolvers {}; {} internal domain(s); identity {}",
                 listening, os::join(cfg.cloud().resolvers(), ", "), cfg.internal_size(),
                 cfg.cloud().device_id().empty() ? "off" : "on");
    // The system is pointed at roamd only once roamd answers (the canary lookup goes through it).
    auto fs = std::shared_ptr<os::file_system>{os::make_linux_file_system()};
    auto eopts = enforcer_options(cfg, dp.bound_endpoints());
    actors::dns_enforcer_deps deps{fs, std::shared_ptr<os::command_runner>{os::make_process_runner(std::chrono::seconds(20))},
                                   os::system_lookup, os::unix_ms_now, router};
    auto canary_timeout = eopts.canary_timeout;
    auto enforcer = sys.spawn(actors::dns_enforcer, std::move(eopts), std::move(deps));
    std::shared_ptr<os::settings_watcher> watcher;
    if (cfg.system().mode() != "none")
      watcher = os::make_inotify_settings_watcher(fs, std::chrono::seconds(2));
    auto adapters = sys.spawn(actors::adapter_monitor, std::shared_ptr<os::link_monitor>{os::make_netlink_link_monitor()},
                              watcher, cfg.system().resolv_conf(), router, enforcer);
    auto ask_enforcer = [&](auto atom, std::chrono::milliseconds bound) {
      caf::scoped_actor self{sys};
      self->request(enforcer, bound, atom)
        .receive([](const proto::EnforcerStatus&) {},  // the enforcer logs its own outcome
                 [&](caf::error& e) { spdlog::error("roamd: the DNS enforcer did not answer: {}", sys.render(e)); });
    };
    ask_enforcer(actors::take_atom::value, canary_timeout + std::chrono::seconds(30));
    wait_for_stop_signal(signal_ctx, signals);
    // Give the system its DNS back while roamd still answers, then stop answering.
    ask_enforcer(actors::restore_atom::value, std::chrono::seconds(30));
    caf::anon_send_exit(adapters, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(enforcer, caf::exit_reason::user_shutdown);
    dp.stop();
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(io, caf::exit_reason::user_shutdown);
    io = nullptr;
  }
  spdlog::info("roamd: stopped");
  return 0;
}

int run_restore(const proto::Config& cfg) {
  auto fs = std::shared_ptr<os::file_system>{os::make_linux_file_system()};
  auto store = std::make_shared<os::journal_store>(fs, cfg.system().state_dir());
  auto loaded = store->load();
  switch (loaded.state) {
    case os::journal_store::status::absent:
      spdlog::info("roamd: nothing to restore (no journal at {})", store->path());
      return 0;
    case os::journal_store::status::damaged:
    case os::journal_store::status::unreadable:
      spdlog::error("roamd: cannot restore: {}; the resolver settings are left as they are", loaded.problem);
      return 1;
    case os::journal_store::status::ok:
      break;
  }
  os::takeover_engine engine{fs, std::shared_ptr<os::command_runner>{os::make_process_runner(std::chrono::seconds(20))},
                             store};
  auto r = engine.restore(loaded.journal);
  if (!r.ok) {
    spdlog::error("roamd: restore failed: {}", r.reason);
    return 1;
  }
  spdlog::info("roamd: restored: {}", r.reason);
  return 0;
}

} // namespace roamd
