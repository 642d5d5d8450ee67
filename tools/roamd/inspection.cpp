#include "tools/roamd/inspection.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/debug_inspector.hpp"
#include "os/text.hpp"
#include "tools/inspect/debug_port.hpp"

namespace roamd {

namespace {

class running_inspection : public inspection {
public:
  running_inspection(caf::actor_system& sys, actors::debug_inspector_actor actor, inspect::debug_port_options opts)
      : actor_(actor), port_(std::move(opts), actors::inspect_through(sys, actor, std::chrono::seconds(12))) {}

  ~running_inspection() override {
    port_.stop();  // first: no request reaches the actor after this
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
  }

  inspect::debug_port& port() { return port_; }

private:
  actors::debug_inspector_actor actor_;
  inspect::debug_port port_;
};

} // namespace

std::unique_ptr<inspection> start_inspection(caf::actor_system& sys, const proto::Config& cfg,
                                             std::shared_ptr<actors::peers> directory, int64_t started_unix_ms) {
  const auto& d = cfg.debug();
  if (!d.enabled() || (d.socket().empty() && d.tcp().empty()))
    return nullptr;
  actors::debug_inspector_options io;
  io.version = ROAMD_VERSION;
  io.started_unix_ms = started_unix_ms;
  io.config = actors::config_summary(cfg);
  auto actor = sys.spawn(actors::debug_inspector, io, std::move(directory), std::function<int64_t()>{os::unix_ms_now});
  inspect::debug_port_options po;
  po.socket_path = d.socket();
  po.tcp = d.tcp();
  po.token_file = cfg.system().state_dir() + "/debug.token";
  po.tls = {d.tls_cert(), d.tls_key(), d.tls_client_ca(), {d.tls_client_names().begin(), d.tls_client_names().end()}};
  po.version = ROAMD_VERSION;
  auto running = std::make_unique<running_inspection>(sys, actor, po);
  if (auto err = running->port().open(); !err.empty()) {
    spdlog::error("roamd: the inspection port is off: {}", err);
    return nullptr;  // the destructor stops the actor
  }
  running->port().start();
  std::string where = d.socket();
  if (!d.tcp().empty())
    where += (where.empty() ? "" : " and ") + d.tcp() +
             (po.tls.enabled() ? " (mutual TLS, clients of " + po.tls.ca + ")" : " (token in " + po.token_file + ")");
  spdlog::info("roamd: inspection port on {}", where);
  return running;
}

} // namespace roamd
