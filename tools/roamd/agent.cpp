#include "tools/roamd/agent.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <optional>
#include <random>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/adapter_monitor.hpp"
#include "actors/cloud_policy.hpp"
#include "actors/cloud_registrar.hpp"
#include "actors/conflict_arbiter.hpp"
#include "actors/dns_enforcer.hpp"
#include "actors/network_state.hpp"
#include "actors/query_router.hpp"
#include "actors/upstream_io.hpp"
#include "net/dataplane.hpp"
#include "net/direct_lookup.hpp"
#include "net/dot_client.hpp"
#include "net/endpoint.hpp"
#include "net/https_client.hpp"
#include "os/command_runner.hpp"
#include "os/firewall.hpp"
#include "os/original_destination.hpp"
#include "os/link_monitor.hpp"
#include "os/settings_watcher.hpp"
#include "os/takeover.hpp"
#include "os/text.hpp"
#include "net/dnstap.hpp"
#include "net/query_ring.hpp"
#include "tools/roamd/health.hpp"
#include "tools/roamd/inspection.hpp"

namespace roamd {

namespace {

using udp = boost::asio::ip::udp;

/// How local clients reach a listener on `a`: a wildcard listener through the loopback address of its family.
boost::asio::ip::address reachable(const boost::asio::ip::address& a) {
  if (!a.is_unspecified())
    return a;
  return a.is_v4() ? boost::asio::ip::address{boost::asio::ip::address_v4::loopback()}
                   : boost::asio::ip::address{boost::asio::ip::address_v6::loopback()};
}

/// Where the interception rules redirect to: a listener of each family that only redirected queries reach (so that
/// only they pay for the conntrack lookup of their original destination), on the address of roamd's first listener
/// of that family (else the family's loopback address) and a port the kernel picks. IPv6 is redirected whether or
/// not roamd listens on an IPv6 address. None when roamd never intercepts.
std::vector<udp::endpoint> intercept_listeners(const proto::Config& cfg, const std::vector<udp::endpoint>& listen) {
  if (!cfg.arbitration().interception() || cfg.system().mode() == "none")
    return {};
  std::vector<udp::endpoint> out;
  for (bool v6 : {false, true}) {
    auto it = std::find_if(listen.begin(), listen.end(), [v6](const auto& ep) { return ep.address().is_v6() == v6; });
    auto a = it != listen.end() ? reachable(it->address())
             : v6             ? boost::asio::ip::address{boost::asio::ip::address_v6::loopback()}
                              : boost::asio::ip::address{boost::asio::ip::address_v4::loopback()};
    out.emplace_back(a, 0);
  }
  return out;
}

/// Per data-plane worker: a conntrack socket that finds where a redirected query was meant to go. Without one
/// (no CAP_NET_ADMIN), intercepted queries are routed by name alone.
net::original_destination_fn conntrack_finder() {
  std::string err;
  std::shared_ptr<os::original_destination> ct = os::make_conntrack_lookup(err);
  if (!ct) {
    spdlog::warn("roamd: intercepted queries are routed by name only (their original destination cannot be read: {})",
                 err);
    return nullptr;
  }
  return [ct](bool tcp, const udp::endpoint& local, const udp::endpoint& peer) -> std::optional<udp::endpoint> {
    auto to = ct->lookup(tcp, {local.address(), local.port()}, {peer.address(), peer.port()}, os::intercepted_zone);
    if (!to)
      return std::nullopt;
    return udp::endpoint{to->address, to->port};
  };
}

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
  o.tls_ca_file = cfg.cloud().ca_file();
  o.intercept_listen = intercept_listeners(cfg, o.listen);
  if (!o.intercept_listen.empty())
    o.original_destination = conntrack_finder;
  return o;
}

/// This machine's host name ("" when it cannot be read): the dnstap identity's default and the registration's.
std::string host_name() {
  char host[256] = {};
  return ::gethostname(host, sizeof(host) - 1) == 0 ? host : "";
}

std::shared_ptr<net::dnstap_writer> open_dnstap(const proto::Config& cfg, uint32_t workers, std::string& err) {
  const auto& d = cfg.dnstap();
  net::dnstap_options o;
  o.socket = d.socket();
  o.file = d.file();
  o.identity = d.identity();
  if (o.identity.empty())
    o.identity = host_name();
  o.version = std::string{"roamd "} + ROAMD_VERSION;
  o.client_queries = d.client_queries();
  o.client_responses = d.client_responses();
  o.workers = workers;
  return net::dnstap_writer::open(o, err);
}

/// The dnstap log's counters for the status answer (empty without a log).
std::function<proto::DnstapStatus()> dnstap_status(const proto::Config& cfg, std::shared_ptr<net::dnstap_writer> w) {
  if (!w)
    return {};
  auto target = cfg.dnstap().socket().empty() ? cfg.dnstap().file() : cfg.dnstap().socket();
  return [w, target] {
    proto::DnstapStatus s;
    s.set_target(target);
    s.set_written(w->written());
    s.set_dropped(w->dropped());
    return s;
  };
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
    auto a = reachable(ep.address());
    o.listen = a.to_string();
    if (ep.address().is_unspecified())  // never learn the address resolv.conf will name as a resolver: a loop
      o.own_addresses.push_back(net::to_string(boost::asio::ip::udp::endpoint{a, 53}));
  }
  return o;
}

/// Blocks until SIGINT or SIGTERM. SIGHUP syncs the cloud policy now (when registering); the configuration file is
/// not reloaded.
void wait_for_stop_signal(boost::asio::io_context& ctx, boost::asio::signal_set& signals, const actors::peers& directory,
                          bool& stop) {
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int sig) {
    if (ec)
      return;
    if (sig == SIGHUP) {
      if (auto cloud = directory.get<actors::cloud_registrar_actor>(actors::peers::role::cloud)) {
        caf::anon_send(cloud, actors::sync_atom::value);
        spdlog::info("roamd: SIGHUP: syncing the cloud policy now (the configuration file is not reloaded; restart "
                     "to apply changes to it)");
      } else {
        spdlog::info("roamd: SIGHUP ignored: configuration reload is not supported; restart to apply changes");
      }
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

/// The interception plan: port-53 traffic goes to roamd's interception listener of its family, and roamd's own
/// upstream sockets carry the exempt mark.
os::interception_plan interception_plan(const proto::Config& cfg, const std::vector<udp::endpoint>& intercept) {
  os::interception_plan plan;
  plan.exempt_mark = cfg.arbitration().socket_mark();
  for (const auto& ep : intercept) {
    auto& slot = ep.address().is_v4() ? plan.to_v4 : plan.to_v6;
    if (slot.empty())
      slot = net::to_string(ep);
  }
  return plan;
}

/// Why interception cannot work with this configuration and machine ("" when it can).
std::string interception_unavailable(const proto::Config& cfg, const os::interception_plan& plan,
                                     const net::dataplane& dp, os::firewall& fw) {
  if (!cfg.arbitration().interception())
    return "disabled by arbitration.interception = false";
  if (plan.to_v4.empty() && plan.to_v6.empty())
    return "no interception listener could be opened";
  if (plan.exempt_mark == 0)
    return "arbitration.socket_mark = 0: roamd's own upstream queries could not be told apart from intercepted ones";
  if (!dp.socket_mark_ok())
    return "roamd's upstream sockets cannot carry the socket mark (SO_MARK needs CAP_NET_ADMIN)";
  return fw.probe();
}

/// Health probes (". NS") through the data plane, as the actors ask for them.
actors::probe_fn probe_through(net::dataplane& dp) {
  return [&dp](uint32_t id, std::function<void(proto::ProbeResult)> done) {
    dp.probe(id, [done = std::move(done)](uint32_t uid, bool ok, uint64_t rtt) {
      proto::ProbeResult r;
      r.set_id(uid);
      r.set_ok(ok);
      r.set_rtt_us(rtt);
      done(std::move(r));
    });
  };
}

/// The network-state actor: probes the cloud through the data plane and looks names up at the local resolvers.
std::function<caf::strong_actor_ptr(caf::actor_system&)> network_child(const proto::Config& cfg,
                                                                        std::shared_ptr<actors::peers> directory,
                                                                        std::shared_ptr<net::upstream_registry> registry,
                                                                        net::dataplane& dp) {
  actors::network_state_options opts;
  opts.settings = actors::settings_from(cfg.network());
  auto timeout = std::chrono::milliseconds(cfg.upstream().timeout_ms());
  auto mark = cfg.arbitration().socket_mark();
  return [opts, directory, registry, &dp, timeout, mark](caf::actor_system& s) {
    actors::network_state_deps deps;
    deps.directory = directory;
    deps.registry = registry;
    deps.probe = probe_through(dp);
    deps.lookup = [timeout, mark](const std::string& name, const std::vector<std::string>& resolvers,
                                  std::function<void(actors::lookup_outcome)> done) {
      net::direct_lookup(name, resolvers, timeout, mark, [done = std::move(done)](net::direct_answer a) {
        done(actors::lookup_outcome{a.ok, std::move(a.addresses), std::move(a.error), a.nxdomain});
      });
    };
    deps.now_ms = os::unix_ms_now;
    return caf::actor_cast<caf::strong_actor_ptr>(s.spawn(actors::network_state, opts, std::move(deps)));
  };
}

/// Where the self-check asks: the first listen endpoint, a wildcard one through loopback.
std::optional<boost::asio::ip::udp::endpoint> self_check_target(const std::vector<boost::asio::ip::udp::endpoint>& bound) {
  if (bound.empty())
    return std::nullopt;
  return boost::asio::ip::udp::endpoint{reachable(bound.front().address()), bound.front().port()};
}

/// The enforcer's state in one line, for systemd's STATUS=.
std::string enforcer_summary(caf::actor_system& sys, const std::shared_ptr<actors::peers>& directory) {
  std::string out = "answering";
  if (auto e = directory->get<actors::dns_enforcer_actor>(actors::peers::role::enforcer)) {
    caf::scoped_actor self{sys};
    self->request(e, std::chrono::seconds(2), caf::get_atom::value, actors::status_atom::value)
      .receive([&](const proto::EnforcerStatus& s) { out += "; system DNS: " + s.state(); }, [](caf::error&) {});
  }
  return out;
}

actors::conflict_arbiter_options arbiter_options(const proto::Config& cfg, const actors::dns_enforcer_options& e) {
  const auto& a = cfg.arbitration();
  actors::conflict_arbiter_options o;
  o.policy.contest_limit = a.contest_limit();
  o.policy.contest_window = std::chrono::milliseconds(a.contest_window_ms());
  o.policy.interception_enabled = a.interception();
  o.policy.yield_backoff = std::chrono::milliseconds(a.yield_backoff_ms());
  o.policy.yield_backoff_max = std::chrono::milliseconds(a.yield_backoff_max_ms());
  o.quiet = std::chrono::milliseconds(a.quiet_ms());
  o.cap = std::chrono::milliseconds(a.cap_ms());
  o.enforcer_timeout = e.canary_timeout + std::chrono::seconds(30);
  o.intercept_always = a.intercept_always();
  o.link_settings_poll = std::chrono::milliseconds(a.link_settings_poll_ms());
  o.listen = e.listen;
  o.own_addresses = e.own_addresses;
  return o;
}

/// The operating system as the cloud's administrator will see it: os-release's PRETTY_NAME and the kernel release.
std::string os_description() {
  std::string pretty;
  std::ifstream in{"/etc/os-release"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      pretty = line.substr(12);
      if (pretty.size() >= 2 && (pretty.front() == '"' || pretty.front() == '\''))
        pretty = pretty.substr(1, pretty.size() - 2);
    }
  struct utsname u {};
  std::string kernel = ::uname(&u) == 0 ? std::string{u.sysname} + " " + u.release : "";
  return pretty.empty() ? kernel : kernel.empty() ? pretty : pretty + "; " + kernel;
}

/// The cloud registrar's child spec (registration is on when cloud.org_file is set).
actors::child_spec registrar_spec(const proto::Config& cfg, std::shared_ptr<os::file_system> fs,
                                  std::shared_ptr<net::https_client> api, std::shared_ptr<actors::peers> directory) {
  const auto& c = cfg.cloud();
  actors::cloud_registrar_options o;
  o.org_file = c.org_file();
  o.api = c.api();
  o.state_dir = cfg.system().state_dir();
  o.hostname = host_name();
  o.os = os_description();
  o.agent_version = ROAMD_VERSION;
  o.sync_interval = std::chrono::seconds{c.sync_interval_s()};
  o.sync_jitter = std::chrono::seconds{c.sync_jitter_s()};
  o.heartbeat_interval = std::chrono::seconds{c.heartbeat_interval_s()};
  o.api_timeout = std::chrono::milliseconds{c.api_timeout_ms()};
  o.transport = actors::transport_mode(c.transport());
  return {actors::peers::role::cloud, [o, fs, api, directory](caf::actor_system& s) {
            auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
            actors::cloud_registrar_deps deps{
              fs,
              [api](net::https_request req, std::function<void(net::https_response)> done) {
                api->request(std::move(req), std::move(done));
              },
              os::unix_ms_now,
              [rng] { return std::uniform_real_distribution<double>{0.0, 1.0}(*rng); },
              directory};
            return caf::actor_cast<caf::strong_actor_ptr>(s.spawn(actors::cloud_registrar, o, std::move(deps)));
          }};
}

} // namespace

int run_agent(const proto::Config& cfg) {
  auto started_ms = os::unix_ms_now();
  // Signal handlers go in first: from here on SIGTERM means a clean stop, never the default abrupt exit.
  boost::asio::io_context signal_ctx;
  boost::asio::signal_set signals{signal_ctx, SIGINT, SIGTERM, SIGHUP};
  auto registry = std::make_shared<net::upstream_registry>();
  auto directory = std::make_shared<actors::peers>();
  // Counters go to whichever upstream-I/O actor runs now (the supervisor may have restarted it).
  auto sink = [directory](net::worker_stats&& s) {
    if (auto io = directory->get<actors::upstream_io_actor>(actors::peers::role::upstream_io))
      caf::anon_send(io, actors::to_proto(s));
  };
  auto dpo = to_options(cfg);
  std::shared_ptr<net::query_ring> recent;
  if (cfg.debug().enabled() && cfg.debug().recent_queries() > 0) {
    recent = std::make_shared<net::query_ring>(cfg.debug().recent_queries(), dpo.workers);
    dpo.observers.push_back(recent);
  }
  std::shared_ptr<net::dnstap_writer> dnstap;
  if (const auto& d = cfg.dnstap(); !d.socket().empty() || !d.file().empty()) {
    std::string err;
    dnstap = open_dnstap(cfg, dpo.workers, err);
    if (!dnstap) {  // like the inspection port and the metrics endpoint: DNS service does not depend on it
      spdlog::error("roamd: no dnstap log: {}", err);
    } else {
      dpo.observers.push_back(dnstap);
      spdlog::info("roamd: dnstap to {}", d.socket().empty() ? d.file() : d.socket());
    }
  }
  if (!dpo.tls_ca_file.empty()) {
    std::string why;  // checked here to name the key; the data plane loads it again for itself
    if (!net::make_dot_tls(dpo.tls_ca_file, why)) {
      spdlog::error("roamd: cloud.ca_file: {}", why);
      return 1;
    }
  }
  std::shared_ptr<net::https_client> api;
  if (!cfg.cloud().org_file().empty()) {
    net::https_options ho;
    ho.base_url = cfg.cloud().api();
    ho.ca_file = cfg.cloud().api_ca_file();
    ho.proxy = cfg.cloud().api_proxy();
    ho.timeout = std::chrono::milliseconds{cfg.cloud().api_timeout_ms()};
    ho.user_agent = std::string{"roamd/"} + ROAMD_VERSION;
    std::string why;
    api = net::https_client::make(ho, why);
    if (!api) {
      spdlog::error("roamd: cloud.api_ca_file / cloud.api / cloud.api_proxy: {}", why);
      return 1;
    }
  }
  net::dataplane dp{dpo, registry, sink};
  if (auto err = dp.open(); !err.empty()) {
    spdlog::error("roamd: {}", err);
    return 1;
  }
  if (!dp.listen_private())
    spdlog::warn("roamd: the listen sockets could not be given an owner of their own (setfsuid needs CAP_SETUID): "
                 "another process of the same user could bind the listen address beside roamd with SO_REUSEPORT");
  auto fs = std::shared_ptr<os::file_system>{os::make_linux_file_system()};
  auto eopts = enforcer_options(cfg, dp.bound_endpoints());
  // Interception rules a crashed earlier run left behind go first (they redirect to a roamd that was not there).
  std::shared_ptr<os::firewall> fw{os::make_nftables_firewall()};
  auto guard = std::make_shared<os::interception_guard>(fs, fw, cfg.system().state_dir());
  if (cfg.system().mode() != "none" || cfg.arbitration().interception()) {
    os::os_error err;
    if (auto done = guard->recover(err); !done.empty())
      spdlog::info("roamd: interception left by an earlier run: {}", done);
    if (err)
      spdlog::error("roamd: removing the interception rules of an earlier run: {}", err.message);
  }
  eopts.interception = interception_plan(cfg, dp.bound_intercept());
  eopts.interception_unavailable = cfg.system().mode() == "none" ? "system.mode is \"none\""
                                                                  : interception_unavailable(cfg, eopts.interception, dp, *fw);
  if (!eopts.interception_unavailable.empty() && cfg.system().mode() != "none")
    spdlog::info("roamd: interception is not available ({}): a contested takeover yields instead", eopts.interception_unavailable);
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
    using role = actors::peers::role;
    std::vector<actors::child_spec> children;
    actors::upstream_io_options uo{cfg.upstream().down_after(), cfg.upstream().probe_interval_ms(),
                                   [directory](const std::string& address, bool up) {
                                     if (auto a = directory->get<actors::conflict_arbiter_actor>(role::arbiter))
                                       caf::anon_send(a, actors::health_atom::value, address, up);
                                     if (auto n = directory->get<actors::network_state_actor>(role::network))
                                       caf::anon_send(n, actors::health_atom::value, address, up);
                                   }};
    children.push_back({role::upstream_io, [uo, registry, &dp](caf::actor_system& s) {
                          return caf::actor_cast<caf::strong_actor_ptr>(s.spawn(
                            actors::upstream_io, uo, registry, probe_through(dp)));
                        }});
    children.push_back({role::router, [&cfg, registry, &dp](caf::actor_system& s) {
                          return caf::actor_cast<caf::strong_actor_ptr>(
                            s.spawn(actors::query_router, cfg, registry,
                                    [&dp](std::shared_ptr<const net::routing_table> t) { dp.set_routing(std::move(t)); }));
                        }});
    children.push_back({role::enforcer, [eopts, fs, guard, directory](caf::actor_system& s) {
                          actors::dns_enforcer_deps deps{
                            fs, std::shared_ptr<os::command_runner>{os::make_process_runner(std::chrono::seconds(20))},
                            os::system_lookup, os::unix_ms_now, directory, guard};
                          return caf::actor_cast<caf::strong_actor_ptr>(s.spawn(actors::dns_enforcer, eopts, std::move(deps)));
                        }});
    children.push_back({role::network, network_child(cfg, directory, registry, dp)});
    auto watch = cfg.system().mode() != "none";
    children.push_back({role::adapters, [fs, watch, directory, path = cfg.system().resolv_conf()](caf::actor_system& s) {
                          std::shared_ptr<os::settings_watcher> watcher;
                          if (watch)
                            watcher = os::make_inotify_settings_watcher(fs, std::chrono::seconds(2));
                          return caf::actor_cast<caf::strong_actor_ptr>(
                            s.spawn(actors::adapter_monitor, std::shared_ptr<os::link_monitor>{os::make_netlink_link_monitor()},
                                    watcher, path, directory));
                        }});
    if (api)
      children.push_back(registrar_spec(cfg, fs, api, directory));
    auto arbiter = sys.spawn(actors::conflict_arbiter, arbiter_options(cfg, eopts), directory, std::move(children),
                             std::function<int64_t()>{os::unix_ms_now});
    {
      // The children are spawned when the arbiter starts; the first snapshot must be in place before the first
      // query is read.
      caf::scoped_actor self{sys};
      self->request(arbiter, std::chrono::seconds(5), caf::get_atom::value, actors::status_atom::value)
        .receive([](const proto::ArbiterStatus&) {},
                 [](caf::error&) { spdlog::warn("roamd: the conflict arbiter did not answer at start"); });
      self->request(directory->get<actors::query_router_actor>(role::router), std::chrono::seconds(5),
                    caf::get_atom::value, actors::routes_atom::value)
        .receive([](const proto::RoutingSnapshot&) {},
                 [](caf::error&) { spdlog::warn("roamd: routing actor did not answer at start"); });
    }
    dp.start();
    std::string listening;
    for (const auto& ep : dp.bound_endpoints())
      listening += (listening.empty() ? "" : ", ") + net::to_string(ep);
    spdlog::info("roamd: answering on {} (UDP and TCP); cloud resolvers {}; {} internal domain(s); identity {}",
                 listening, os::join(cfg.cloud().resolvers(), ", "), cfg.internal_size(),
                 cfg.cloud().device_id().empty() ? "off" : "on");
    // The system is pointed at roamd only once roamd answers (the canary lookup goes through it).
    auto ask_arbiter = [&](auto atom, std::chrono::milliseconds bound) {
      caf::scoped_actor self{sys};
      self->request(arbiter, bound, atom)
        .receive([](const proto::EnforcerStatus&) {},  // the enforcer and the arbiter log the outcome
                 [&](caf::error& e) { spdlog::error("roamd: the DNS enforcer did not answer: {}", sys.render(e)); });
    };
    // Inspection (roamctl) from here until the settings are back; its port goes before the actors do.
    auto inspection = start_inspection(sys, cfg, directory, started_ms, recent, dnstap_status(cfg, dnstap));
    ask_arbiter(actors::take_atom::value, eopts.canary_timeout + std::chrono::seconds(40));
    bool stop = false;
    std::string wedged;
    std::unique_ptr<data_plane_watch> health;
    if (auto target = self_check_target(dp.bound_endpoints())) {
      health = std::make_unique<data_plane_watch>(signal_ctx, dp, *target, [&](const std::string& why) {
        wedged = why;
        stop = true;
      });
      if (auto err = health->start(); !err.empty()) {
        spdlog::error("roamd: no self-check of the data plane: {}", err);
        health.reset();
      }
    }
    // Ready for systemd (Type=notify) once the takeover is decided: verified by its canary, or not taken and said why.
    notify_systemd("READY=1\nSTATUS=" + enforcer_summary(sys, directory));
    if (health)
      spdlog::info("roamd: self-check of the data plane every {} ms{}", health->interval().count(),
                   health->watchdog() ? "; systemd's watchdog is fed while it passes" : "");
    wait_for_stop_signal(signal_ctx, signals, *directory, stop);
    notify_systemd(wedged.empty() ? "STOPPING=1" : "STOPPING=1\nSTATUS=data plane wedged: " + wedged);
    if (!wedged.empty()) {
      // A worker that no longer runs (or a listener that no longer answers) cannot be stopped or joined: give the
      // system its DNS back while the actors still work, then leave for systemd to restart roamd.
      spdlog::error("roamd: the data plane is wedged ({}): giving the system its DNS settings back and exiting", wedged);
      ask_arbiter(actors::restore_atom::value, std::chrono::seconds(10));
      spdlog::error("roamd: exiting with status 1 (the unit restarts roamd)");
      spdlog::shutdown();
      ::_exit(1);
    }
    // Give the system its DNS back while roamd still answers, then stop answering.
    ask_arbiter(actors::restore_atom::value, std::chrono::seconds(40));
    health.reset();
    inspection.reset();
    caf::anon_send_exit(arbiter, caf::exit_reason::user_shutdown);  // its children go with it
    dp.stop();
  }
  spdlog::info("roamd: stopped");
  return 0;
}

int run_restore(const proto::Config& cfg) {
  auto fs = std::shared_ptr<os::file_system>{os::make_linux_file_system()};
  {
    // Interception first: rules that redirect port 53 to a roamd that is not running black-hole DNS.
    os::interception_guard guard{fs, std::shared_ptr<os::firewall>{os::make_nftables_firewall()},
                                 cfg.system().state_dir()};
    os::os_error err;
    if (auto done = guard.recover(err); !done.empty())
      spdlog::info("roamd: interception: {}", done);
    if (err) {
      spdlog::error("roamd: cannot remove the interception rules: {}", err.message);
      return 1;
    }
  }
  auto store = std::make_shared<os::journal_store>(fs, cfg.system().state_dir());
  auto loaded = store->load();
  os::takeover_engine engine{fs, std::shared_ptr<os::command_runner>{os::make_process_runner(std::chrono::seconds(20))},
                             store};
  switch (loaded.state) {
    case os::journal_store::status::absent: {
      // No takeover to undo, but a copy of roamd's file may name this stopped roamd (a VPN put its backup back).
      auto repaired = engine.repair(cfg.system().resolv_conf());
      if (repaired.reason.empty()) {
        spdlog::info("roamd: nothing to restore (no journal at {})", store->path());
        return 0;
      }
      if (!repaired.ok) {
        spdlog::error("roamd: {}", repaired.reason);
        return 1;
      }
      spdlog::info("roamd: repaired: {}", repaired.reason);
      return 0;
    }
    case os::journal_store::status::damaged:
    case os::journal_store::status::unreadable:
      spdlog::error("roamd: cannot restore: {}; the resolver settings are left as they are", loaded.problem);
      return 1;
    case os::journal_store::status::ok:
      break;
  }
  auto r = engine.restore(loaded.journal);
  if (!r.ok) {
    spdlog::error("roamd: restore failed: {}", r.reason);
    return 1;
  }
  spdlog::info("roamd: restored: {}", r.reason);
  return 0;
}

} // namespace roamd
