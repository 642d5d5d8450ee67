// cloudsim: the reference cloud for roamd's tests and evaluation (see README, "Cloud API"). An HTTPS server for
// one organisation: device registration, the policy with ETags, heartbeats, and faults to inject.
// Exit codes: 0 stopped by SIGINT/SIGTERM (or certificates made), 1 cannot listen or write, 2 bad options or files.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "tools/cloudsim/api.hpp"
#include "tools/cloudsim/certs.hpp"
#include "proto/json.hpp"
#include "tools/cloudsim/server.hpp"
#include "tools/inspect/loopback.hpp"

namespace {

using namespace roamd::cloudsim;

void os_random(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1)
    throw std::runtime_error("no random bytes from OpenSSL");
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"cloudsim: the reference cloud for roamd's tests (HTTPS; registration, policy, heartbeats)"};
  server_options opts;
  faults f;
  std::string certs_dir, name = "cloud.roamd.test", org_file;
  unsigned delay_ms = 0;
  app.add_option("--listen", opts.listen, "IP:PORT to serve on (port 0: any free port)")->capture_default_str();
  app.add_option("--cert", opts.cert, "the server's certificate chain (PEM)");
  app.add_option("--key", opts.key, "its private key (PEM)");
  app.add_option("--make-certs", certs_dir,
                 "write a test CA (ca.pem) and a server certificate for the --listen IP and --name "
                 "(server.pem, server.key) into DIR, then exit");
  app.add_option("--name", name, "with --make-certs: the DNS name in the server certificate")->capture_default_str();
  app.add_option("--org", org_file, "the organisation served (OrgInfo JSON, as in Umbrella's OrgInfo.json)");
  app.add_option("--policy", opts.policy_file, "the policy (Policy JSON); re-read on SIGHUP and when it changes");
  app.add_option("--state", opts.state_file, "registered devices are kept in this file across restarts");
  app.add_option("--max-connections", opts.max_connections, "open connections at most")->capture_default_str();
  app.add_flag("--forget-devices", f.forget_devices, "fault: every device is unknown (404 unknown_device)");
  app.add_option("--delay-ms", delay_ms, "fault: every answer waits this long");
  app.add_option("--status", f.status, "fault: answer every API request with this HTTP status")
    ->check(CLI::Range(100, 599));
  app.add_flag("--oversized", f.oversized, "fault: every API answer is 200 with a 10 MiB body");
  app.add_flag("--garbage", f.garbage, "fault: every API answer is 200 with a body that is not JSON");
  CLI11_PARSE(app, argc, argv);
  opts.delay = std::chrono::milliseconds(delay_ms);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e cloudsim %l: %v");

  if (!certs_dir.empty()) {
    auto ep = roamd::inspect::tcp_endpoint(opts.listen);
    if (!ep) {
      std::cerr << "cloudsim: --listen " << opts.listen << ": not an \"IP:PORT\"\n";
      return 2;
    }
    if (auto why = make_certs(certs_dir, ep->address().to_string(), name); !why.empty()) {
      std::cerr << "cloudsim: --make-certs " << certs_dir << ": " << why << "\n";
      return 1;
    }
    std::cout << "cloudsim: wrote " << certs_dir << "/ca.pem, server.pem, server.key (IP:"
              << ep->address().to_string() << ", DNS:" << name << ")" << std::endl;
    return 0;
  }
  for (auto [value, option] : {std::pair{&org_file, "--org"}, {&opts.policy_file, "--policy"},
                               {&opts.cert, "--cert"}, {&opts.key, "--key"}})
    if (value->empty()) {
      std::cerr << "cloudsim: " << option << " is required (or --make-certs DIR)\n";
      return 2;
    }

  roamd::proto::OrgInfo org;
  auto why = roamd::proto::read_json_file(org_file, org);
  if (why.empty() && (org.organization_id().empty() || org.fingerprint().empty()))
    why = org_file + ": organizationId and fingerprint must both be set";
  if (!why.empty()) {
    std::cerr << "cloudsim: --org " << why << "\n";
    return 2;
  }
  cloud_api api{org, {}, f, os_random};
  struct stat st {};
  if (!opts.state_file.empty() && ::stat(opts.state_file.c_str(), &st) == 0) {
    roamd::proto::CloudState state;
    if (auto bad = roamd::proto::read_json_file(opts.state_file, state); !bad.empty()) {
      std::cerr << "cloudsim: --state " << bad << "\n";
      return 2;
    }
    spdlog::info("{} registered devices from {}", api.restore(state), opts.state_file);
  }

  server srv{opts, api};
  bool config_error = false;
  if (auto bad = srv.open(config_error); !bad.empty()) {
    std::cerr << "cloudsim: " << bad << "\n";
    return config_error ? 2 : 1;
  }
  std::cout << "cloudsim listening on " << srv.url() << std::endl;
  srv.run();
  return 0;
}
