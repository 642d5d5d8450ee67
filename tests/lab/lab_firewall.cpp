// A test-only front end for interception, for lab scripts: the real os::interception_guard over libnftables and
// the real file system. It engages the plan given on the command line, prints "engaged", waits for SIGINT or
// SIGTERM and releases (prints "released"); with --recover it acts on a journal left by an earlier run instead,
// prints what it did ("nothing to recover" when there was no journal) and exits.
//
//   lab_firewall --state-dir DIR [--table NAME] [--to-v4 A.B.C.D:PORT] [--to-v6 [ADDR]:PORT] [--mark N]
//   lab_firewall --state-dir DIR --recover
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "os/firewall.hpp"

using namespace roamd;

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "lab_firewall: %s\nusage: lab_firewall --state-dir DIR [--table NAME] [--to-v4 EP] [--to-v6 EP] "
               "[--mark N] | --state-dir DIR --recover\n",
               why.c_str());
  std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
  os::interception_plan plan;
  plan.to_v4 = "127.0.2.53:53";
  std::string state_dir;
  bool recover = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--recover") {
      recover = true;
      continue;
    }
    if (i + 1 >= argc)
      usage("missing value after " + arg);
    std::string value = argv[++i];
    if (arg == "--state-dir")
      state_dir = value;
    else if (arg == "--table")
      plan.table = value;
    else if (arg == "--to-v4")
      plan.to_v4 = value;
    else if (arg == "--to-v6")
      plan.to_v6 = value;
    else if (arg == "--mark")
      plan.exempt_mark = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 0));
    else
      usage("unknown argument '" + arg + "'");
  }
  if (state_dir.empty())
    usage("--state-dir is required");

  std::shared_ptr<os::firewall> fw = os::make_nftables_firewall();
  os::interception_guard guard{os::make_linux_file_system(), fw, state_dir};
  if (recover) {
    os::os_error err;
    auto done = guard.recover(err);
    std::printf("%s\n", done.empty() ? "nothing to recover" : done.c_str());
    if (err)
      std::fprintf(stderr, "lab_firewall: %s\n", err.message.c_str());
    return err ? 1 : 0;
  }
  if (auto why = fw->probe(); !why.empty()) {
    std::fprintf(stderr, "lab_firewall: probe: %s\n", why.c_str());
    return 1;
  }

  // Blocked before engaging, so that a signal arriving at any point is taken by sigwait.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  if (auto err = guard.engage(plan)) {
    std::fprintf(stderr, "lab_firewall: engage: %s\n", err.message.c_str());
    return 1;
  }
  std::printf("engaged\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  if (auto err = guard.release()) {
    std::fprintf(stderr, "lab_firewall: release: %s\n", err.message.c_str());
    return 1;
  }
  std::printf("released\n");
  return 0;
}
