// roamctl: asks a running roamd what it is doing and why, through its debug port (see README, "Remote inspection").
// Exit codes: 0 answered, 1 the agent answered with an error, 2 bad usage, 3 cannot connect, 4 authentication refused
// (token, Unix peer, or a TLS certificate refused by either side).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <csignal>
#include <unistd.h>

#include "tools/inspect/auth.hpp"
#include "tools/inspect/client.hpp"
#include "tools/roamctl/render.hpp"

namespace {

using namespace roamd;

enum exit_code { ok = 0, agent_error = 1, usage = 2, cannot_connect = 3, auth_refused = 4 };

int exit_for(const inspect::outcome& o) {
  switch (o.kind) {
    case inspect::failure::none: return ok;
    case inspect::failure::auth_refused: return auth_refused;
    case inspect::failure::cannot_connect:
    case inspect::failure::protocol: return cannot_connect;
  }
  return cannot_connect;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

struct settings {
  std::string socket = "/run/roamd/debug.sock";
  std::string tcp;
  std::string token_file = "/var/lib/roamd/debug.token";
  inspect::tls_files tls;  // --tls-cert, --tls-key, --tls-ca: mutual TLS instead of the token
  std::string tls_name;    // the name the agent's certificate must carry (default: the host of --tcp)
  bool json = false;
  double watch = 0;  // seconds between refreshes; 0 = once
  int count = 0;     // with --watch: stop after this many answers (0 = until interrupted)
  int timeout_ms = 10000;
  uint32_t limit = 50;  // queries: the newest this many (0 = all kept)
};

/// The host part of "HOST:PORT" or "[IPv6]:PORT".
std::string host_of(const std::string& host_port) {
  auto host = host_port.substr(0, host_port.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host;
}

inspect::outcome connect(inspect::client& c, const settings& s) {
  if (s.tcp.empty())
    return c.connect_unix(s.socket);
  if (s.tls.enabled())
    return c.connect_tls(s.tcp, s.tls, s.tls_name.empty() ? host_of(s.tcp) : s.tls_name);
  std::ifstream f{s.token_file};
  std::stringstream text;
  text << f.rdbuf();
  auto token = f ? inspect::token_from_text(text.str()) : std::nullopt;
  if (!token)
    return {inspect::failure::auth_refused,
            "cannot read the token from " + s.token_file + (f ? " (not 64 hex digits)" : " (missing or not readable)")};
  return c.connect_tcp(s.tcp, token);
}

int run(proto::Query query, const settings& s) {
  inspect::client c{std::chrono::milliseconds(s.timeout_ms)};
  if (auto o = connect(c, s); !o) {
    std::fprintf(stderr, "roamctl: %s\n", o.message.c_str());
    return exit_for(o);
  }
  bool tty = ::isatty(STDOUT_FILENO);
  for (int n = 1;; ++n) {
    proto::InspectResponse r;
    if (auto o = c.ask(query, r, query == proto::QUERY_QUERIES ? s.limit : 0); !o) {
      std::fprintf(stderr, "roamctl: %s\n", o.message.c_str());
      return exit_for(o);
    }
    if (r.has_error()) {
      std::fprintf(stderr, "roamctl: the agent answered with an error (%s): %s\n",
                   proto::InspectError::Code_Name(r.error().code()).c_str(), r.error().message().c_str());
      return agent_error;
    }
    if (s.watch > 0 && tty)
      std::fputs("\033[H\033[2J", stdout);
    // --watch --json: one compact object per line (a stream jq and friends read line by line).
    auto text = s.json ? roamctl::render_json(r, s.watch <= 0) : roamctl::render_text(r, now_ms());
    std::fputs(text.c_str(), stdout);
    if (!text.empty() && text.back() != '\n')
      std::fputc('\n', stdout);
    std::fflush(stdout);
    if (s.watch <= 0 || (s.count > 0 && n >= s.count))
      return ok;
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(s.watch * 1000)));
  }
}

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with write(): a closed TLS connection is an error, not a signal
  CLI::App app{"roamctl: shows what a running roamd is doing and why (read-only).\n"
               "Exit status: 0 answered, 1 the agent answered with an error, 2 bad usage, 3 cannot connect (agent "
               "not running?), 4 authentication refused (token, Unix peer, or a TLS certificate on either side)."};
  app.set_version_flag("--version", "roamctl " ROAMD_VERSION);
  settings s;
  std::string watch_text;
  app.add_option("--socket", s.socket, "the agent's Unix socket")->capture_default_str();
  auto* tcp = app.add_option("--tcp", s.tcp, "connect to HOST:PORT (TCP: token, or mutual TLS with --tls-*) instead");
  auto* token = app.add_option("--token-file", s.token_file, "the token for --tcp (written by roamd at start)")
                  ->capture_default_str()
                  ->needs(tcp);
  auto* cert = app.add_option("--tls-cert", s.tls.cert, "mutual TLS for --tcp: roamctl's certificate (PEM)")
                 ->type_name("FILE")
                 ->needs(tcp)
                 ->excludes(token);
  auto* key = app.add_option("--tls-key", s.tls.key, "its private key (PEM)")->type_name("FILE")->needs(cert);
  auto* ca = app.add_option("--tls-ca", s.tls.ca, "the CA the agent's certificate must chain to (PEM)")
               ->type_name("FILE")
               ->needs(cert);
  cert->needs(key)->needs(ca);
  app.add_option("--tls-name", s.tls_name,
                 "the name (DNS or IP) the agent's certificate must carry (default: the host of --tcp)")
    ->needs(cert);
  app.add_flag("--json", s.json, "print the answer as JSON (protobuf field names)");
  auto* watch = app.add_option("--watch", watch_text, "refresh every SECONDS (default 2) until interrupted")
                  ->expected(0, 1)
                  ->type_name("[SECONDS]");
  app.add_option("--count", s.count, "with --watch: stop after N answers")->check(CLI::PositiveNumber);
  app.add_option("--timeout", s.timeout_ms, "milliseconds to wait for each answer")->check(CLI::Range(100, 600000));
  app.require_subcommand(1, 1);
  app.fallthrough();
  static const std::map<std::string, std::pair<proto::Query, const char*>> commands = {
    {"status", {proto::QUERY_STATUS, "protection state, why and since when; version, uptime, configuration"}},
    {"adapters", {proto::QUERY_ADAPTERS, "links, their addresses, DNS settings and the kernel routes"}},
    {"settings", {proto::QUERY_SETTINGS, "the recorded original resolver settings and the settings now"}},
    {"routes", {proto::QUERY_ROUTES, "the routing snapshot: domain -> resolvers -> interface/egress"}},
    {"upstreams", {proto::QUERY_UPSTREAMS, "health of every upstream resolver"}},
    {"events", {proto::QUERY_EVENTS, "the arbiter's recent decisions, oldest first"}},
    {"stats", {proto::QUERY_STATS, "query, answer, cache, drop counters and latency since start"}},
    {"queries", {proto::QUERY_QUERIES, "the most recent answered queries (needs debug.recent_queries)"}},
  };
  for (const auto& [name, what] : commands) {
    auto* sub = app.add_subcommand(name, what.second);
    if (name == "queries")
      sub->add_option("-n,--limit", s.limit, "show the newest N (0 = all the agent keeps)")->capture_default_str();
  }
  try {
    app.parse(argc, argv);
    if (watch->count() > 0) {
      s.watch = 2;
      if (!watch_text.empty()) {
        size_t used = 0;
        s.watch = std::stod(watch_text, &used);
        if (used != watch_text.size() || !(s.watch >= 0.1 && s.watch <= 3600))
          throw CLI::ValidationError("--watch", "SECONDS must be a number from 0.1 to 3600, got " + watch_text);
      }
    }
  } catch (const CLI::ParseError& e) {
    // CLI11 says "A subcommand is required" for a command it does not know: name it and the known ones instead.
    if (auto extras = app.remaining(); !extras.empty() && app.get_subcommands().empty() && e.get_exit_code() != 0) {
      std::string known;
      for (const auto& c : commands)
        known += (known.empty() ? "" : ", ") + c.first;
      std::fprintf(stderr, "roamctl: unknown command '%s' (commands: %s)\nRun with --help for more information.\n",
                   extras.front().c_str(), known.c_str());
      return usage;
    }
    int rc = app.exit(e);
    return rc == 0 ? ok : usage;
  } catch (const std::exception&) {
    std::fprintf(stderr, "roamctl: --watch: SECONDS must be a number from 0.1 to 3600, got %s\n", watch_text.c_str());
    return usage;
  }
  auto* sub = app.get_subcommands().front();
  return run(commands.at(sub->get_name()).first, s);
}
