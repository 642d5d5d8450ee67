// A test-only front end for the data plane, for lab scripts: the real net::dataplane with routes given on the
// command line, including what roamd's configuration cannot express yet (an upstream's link, "EP%IF"). It prints
// each upstream's cumulative counters whenever they change, and stops on SIGINT or SIGTERM.
//
//   lab_dataplane --listen 127.0.2.53:53 --default 198.51.100.53:53 --route corp.test=198.51.100.53:53%vpn0
//                 [--route DOMAIN=EP[%IF],EP[%IF]...] [--timeout-ms N] [--attempts N] [--rotation-ms N] [--cache N]
//                 [--mark N]   (SO_MARK on upstream sockets; prints "socket mark: ok" or "socket mark: refused")
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "net/dataplane.hpp"
#include "net/endpoint.hpp"

using namespace roamd;

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "lab_dataplane: %s\nusage: lab_dataplane --listen EP --default EP[%%IF],... [--route DOMAIN=EP[%%IF],...]... "
               "[--timeout-ms N] [--attempts N] [--rotation-ms N] [--cache N] [--mark N]\n",
               why.c_str());
  std::exit(2);
}

/// "EP[%IF],EP[%IF]..." -> upstreams from the registry.
std::vector<std::shared_ptr<net::upstream>> parse_upstreams(const std::string& list, net::upstream_registry& reg) {
  std::vector<std::shared_ptr<net::upstream>> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos)
      comma = list.size();
    std::string item = list.substr(start, comma - start);
    std::string link;
    size_t pct = item.rfind('%');
    if (pct != std::string::npos && item.find(']', pct) == std::string::npos) {
      link = item.substr(pct + 1);
      item.resize(pct);
    }
    auto ep = net::parse_endpoint(item);
    if (!ep)
      usage("not an endpoint: '" + item + "'");
    out.push_back(reg.get(*ep, link));
    start = comma + 1;
  }
  return out;
}

uint32_t number(const char* text) {
  char* end = nullptr;
  unsigned long v = std::strtoul(text, &end, 0);
  if (!end || *end != '\0')
    usage(std::string("not a number: '") + text + "'");
  return static_cast<uint32_t>(v);
}

} // namespace

int main(int argc, char** argv) {
  auto registry = std::make_shared<net::upstream_registry>();
  net::dataplane_options opts;
  opts.timeout_ms = 500;
  opts.attempts = 2;
  opts.stats_interval_ms = 50;
  net::route def;
  def.source = "lab";
  std::vector<net::route> routes;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc)
      usage("missing value for " + arg);
    const char* value = argv[++i];
    if (arg == "--listen") {
      auto ep = net::parse_endpoint(value);
      if (!ep)
        usage(std::string("not an endpoint: '") + value + "'");
      opts.listen.push_back(*ep);
    } else if (arg == "--default") {
      def.resolvers = parse_upstreams(value, *registry);
    } else if (arg == "--route") {
      std::string spec = value;
      size_t eq = spec.find('=');
      if (eq == std::string::npos)
        usage("--route wants DOMAIN=EP[%IF],...");
      net::route r;
      r.domain = spec.substr(0, eq);
      r.source = "lab";
      r.resolvers = parse_upstreams(spec.substr(eq + 1), *registry);
      routes.push_back(std::move(r));
    } else if (arg == "--timeout-ms") {
      opts.timeout_ms = number(value);
    } else if (arg == "--attempts") {
      opts.attempts = number(value);
    } else if (arg == "--rotation-ms") {
      opts.port_rotation_ms = number(value);
    } else if (arg == "--cache") {
      opts.cache.capacity = number(value);
    } else if (arg == "--mark") {
      opts.socket_mark = number(value);
    } else {
      usage("unknown argument '" + arg + "'");
    }
  }
  if (opts.listen.empty() || def.resolvers.empty())
    usage("--listen and --default are required");

  // Signals are taken synchronously below; block them before any thread starts so every thread inherits the mask.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::mutex mtx;
  std::map<uint32_t, net::upstream_counters> totals;
  auto sink = [&](net::worker_stats&& s) {
    std::lock_guard<std::mutex> g{mtx};
    for (const auto& u : s.upstreams) {
      auto& t = totals[u.id];
      t.sent += u.sent;
      t.answered += u.answered;
      t.timeouts += u.timeouts;
      t.send_errors += u.send_errors;
      t.tcp_fallbacks += u.tcp_fallbacks;
      auto up = registry->find(u.id);
      std::printf("upstream %s sent=%llu answered=%llu timeouts=%llu send_errors=%llu tcp_fallbacks=%llu\n",
                  up ? up->name.c_str() : "?", static_cast<unsigned long long>(t.sent),
                  static_cast<unsigned long long>(t.answered), static_cast<unsigned long long>(t.timeouts),
                  static_cast<unsigned long long>(t.send_errors), static_cast<unsigned long long>(t.tcp_fallbacks));
    }
    std::fflush(stdout);
  };
  net::dataplane dp{opts, registry, sink};
  if (auto err = dp.open(); !err.empty()) {
    spdlog::error("lab_dataplane: {}", err);
    return 1;
  }
  if (opts.socket_mark != 0) {
    std::printf("socket mark: %s\n", dp.socket_mark_ok() ? "ok" : "refused");
    std::fflush(stdout);
  }
  dp.set_routing(std::make_shared<net::routing_table>(routes, def, std::nullopt, 1));
  dp.start();
  spdlog::info("lab_dataplane: answering on {}", net::to_string(dp.bound_endpoints().at(0)));
  int sig = 0;
  sigwait(&stop, &sig);
  dp.stop();
  return 0;
}
