#include "tools/roamd/inspection.hpp"

#include <atomic>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/debug_inspector.hpp"
#include "net/stats.hpp"
#include "os/text.hpp"
#include "tools/inspect/debug_port.hpp"
#include "tools/inspect/metrics_http.hpp"

namespace roamd {

namespace {

/// Opens `server` and starts it, logging "<what> on <where>"; when it cannot open, logs why and drops it.
template <class Server>
bool open_and_start(std::unique_ptr<Server>& server, const char* what, const std::string& where) {
  if (auto err = server->open(); !err.empty()) {
    spdlog::error("roamd: no {}: {}", what, err);
    server.reset();
    return false;
  }
  server->start();
  spdlog::info("roamd: {} on {}", what, where);
  return true;
}

/// The inspection port and the metrics endpoint, each optional, over one debug actor.
class running_inspection : public inspection {
public:
  running_inspection(caf::actor_system& sys, actors::debug_inspector_actor actor) : sys_(sys), actor_(actor) {}

  ~running_inspection() override {
    if (port_)
      port_->stop();  // first: no request reaches the actor after this
    if (metrics_)
      metrics_->stop();
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
  }

  /// Opens and starts the debug port; false (logged) when it cannot open. When the TCP listener cannot open (a port
  /// in use, an unusable TLS file), the Unix socket is still served: local inspection is what helps then.
  bool start_port(inspect::debug_port_options opts) {
    auto where = opts.socket_path;
    if (!opts.tcp.empty())
      where += (where.empty() ? "" : " and ") + opts.tcp +
               (opts.tls.enabled() ? " (mutual TLS, clients of " + opts.tls.ca + ")" : " (token in " + opts.token_file + ")");
    auto local_only = opts;
    local_only.tcp.clear();
    port_ = std::make_unique<inspect::debug_port>(std::move(opts),
                                                  actors::inspect_through(sys_, actor_, std::chrono::seconds(12)));
    if (open_and_start(port_, "inspection port", where))
      return true;
    if (local_only.socket_path.empty() || where == local_only.socket_path)
      return false;
    where = local_only.socket_path + " only (the TCP listener is off, see above)";
    port_ = std::make_unique<inspect::debug_port>(std::move(local_only),
                                                  actors::inspect_through(sys_, actor_, std::chrono::seconds(12)));
    return open_and_start(port_, "inspection port", where);
  }

  /// Opens and starts the metrics endpoint; false (logged) when it cannot open.
  bool start_metrics(inspect::metrics_http_options opts) {
    auto where = opts.address;
    // Each question is bounded below the endpoint's gather bound, so a silent actor is reported by name.
    metrics_ = std::make_unique<inspect::metrics_http>(
      std::move(opts), actors::inspect_through(sys_, actor_, std::chrono::milliseconds(2500)));
    return open_and_start(metrics_, "metrics", where);
  }

private:
  caf::actor_system& sys_;
  actors::debug_inspector_actor actor_;
  std::unique_ptr<inspect::debug_port> port_;
  std::unique_ptr<inspect::metrics_http> metrics_;
};

/// Label values the metrics always show, also at zero: the data plane's drop reasons and the supervised actors.
inspect::metrics_names metrics_names() {
  inspect::metrics_names n;
  for (size_t i = 0; i < net::drop_reason_count; ++i)
    n.drop_reasons.emplace_back(net::to_string(static_cast<net::drop_reason>(i)));
  for (size_t i = 0; i < static_cast<size_t>(actors::peers::role::count); ++i)
    if (auto r = static_cast<actors::peers::role>(i); r != actors::peers::role::arbiter)  // the supervisor itself
      n.actors.emplace_back(actors::peers::name(r));
  return n;
}

} // namespace

std::unique_ptr<inspection> start_inspection(caf::actor_system& sys, const proto::Config& cfg,
                                             std::shared_ptr<actors::peers> directory, int64_t started_unix_ms,
                                             std::shared_ptr<const net::query_ring> recent,
                                             std::function<proto::DnstapStatus()> dnstap) {
  const auto& d = cfg.debug();
  bool port = d.enabled() && (!d.socket().empty() || !d.tcp().empty());
  bool metrics = !d.metrics().empty();
  if (!port && !metrics)
    return nullptr;
  actors::debug_inspector_options io;
  io.version = ROAMD_VERSION;
  io.started_unix_ms = started_unix_ms;
  io.config = actors::config_summary(cfg);
  io.recent = std::move(recent);
  io.dnstap = std::move(dnstap);
  auto port_counters = std::make_shared<inspect::debug_port_counters>();
  auto port_open = std::make_shared<std::atomic<bool>>(false);  // a port that could not open shows no counters
  io.debug_port = [port_counters, port_open]() -> std::optional<proto::DebugPortStatus> {
    if (!*port_open)
      return std::nullopt;
    return inspect::to_proto(*port_counters);
  };
  auto actor = sys.spawn(actors::debug_inspector, io, std::move(directory), std::function<int64_t()>{os::unix_ms_now});
  auto running = std::make_unique<running_inspection>(sys, actor);
  if (port) {
    inspect::debug_port_options po;
    po.socket_path = d.socket();
    po.tcp = d.tcp();
    po.token_file = cfg.system().state_dir() + "/debug.token";
    po.tls = {d.tls_cert(), d.tls_key(), d.tls_client_ca(), {d.tls_client_names().begin(), d.tls_client_names().end()}};
    po.version = ROAMD_VERSION;
    po.counters = port_counters;
    port = running->start_port(std::move(po));
    *port_open = port;
  }
  if (metrics) {
    inspect::metrics_http_options mo;
    mo.address = d.metrics();
    mo.names = metrics_names();
    metrics = running->start_metrics(std::move(mo));
  }
  if (!port && !metrics)
    return nullptr;  // the destructor stops the actor
  return running;
}

} // namespace roamd
