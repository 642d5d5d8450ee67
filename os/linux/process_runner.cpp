#include "os/command_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace roamd::os {

namespace {

constexpr size_t output_cap = 16 * 1024;

class process_runner : public command_runner {
public:
  explicit process_runner(std::chrono::milliseconds timeout) : timeout_(timeout) {
  }

  command_result run(const std::vector<std::string>& argv) override {
    command_result out;
    if (argv.empty())
      return out;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
      out.output = std::string{"pipe: "} + std::strerror(errno);
      return out;
    }
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      out.output = std::string{"fork: "} + std::strerror(errno);
      close(pipefd[0]);
      close(pipefd[1]);
      return out;
    }
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec. A process group of its own, so a timeout kills the
      // helper's children too; no inherited descriptors (roamd's port-53 sockets must not outlive roamd in some
      // daemon a helper starts).
      setpgid(0, 0);
      int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (devnull >= 0)
        dup2(devnull, 0);
      dup2(pipefd[1], 1);
      dup2(pipefd[1], 2);
      close_range(3, ~0U, 0);
      execvp(args[0], args.data());
      const char msg[] = "cannot execute\n";
      (void)!write(2, msg, sizeof msg - 1);
      _exit(127);
    }
    close(pipefd[1]);
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    char buf[4096];
    bool timed_out = false;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        break;
      }
      pollfd p{pipefd[0], POLLIN, 0};
      int rc = poll(&p, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc <= 0) {
        timed_out = rc == 0;
        if (timed_out) {
          kill(-pid, SIGKILL);
          kill(pid, SIGKILL);
        }
        break;
      }
      ssize_t n = read(pipefd[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      if (out.output.size() < output_cap)
        out.output.append(buf, static_cast<size_t>(n));
    }
    close(pipefd[0]);
    // A helper that closed its output but keeps running is waited for until the same deadline, never forever.
    int status = 0;
    bool reaped = false;
    while (!reaped) {
      pid_t r = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
      if (r == pid) {
        reaped = true;
      } else if (r < 0 && errno != EINTR) {
        break;
      } else if (r == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
          timed_out = true;
          kill(-pid, SIGKILL);
          kill(pid, SIGKILL);
        } else {
          poll(nullptr, 0, 10);
        }
      }
    }
    if (timed_out)
      kill(-pid, SIGKILL);  // the helper's own children, if any are left
    if (timed_out) {
      out.exit_code = -1;
      out.output = "timed out after " + std::to_string(timeout_.count()) + " ms";
    } else if (WIFEXITED(status)) {
      out.exit_code = WEXITSTATUS(status);
    }
    return out;
  }

private:
  std::chrono::milliseconds timeout_;
};

} // namespace

std::unique_ptr<command_runner> make_process_runner(std::chrono::milliseconds timeout) {
  return std::make_unique<process_runner>(timeout);
}

} // namespace roamd::os
