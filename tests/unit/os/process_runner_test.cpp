// The helper-program runner: exit codes and output, a bounded wait whatever the helper does, its children killed
// on timeout, and no descriptor of roamd's inherited.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "os/command_runner.hpp"

using namespace roamd;
using namespace std::chrono_literals;

namespace {

TEST(process_runner, exit_code_and_output) {
  auto run = os::make_process_runner(5s);
  auto r = run->run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.output, "out\nerr\n");
  EXPECT_EQ(run->run({"/nonexistent/helper"}).exit_code, 127);
}

TEST(process_runner, a_hanging_helper_and_its_children_are_killed_at_the_deadline) {
  auto run = os::make_process_runner(300ms);
  auto start = std::chrono::steady_clock::now();
  // The child closes its output and waits; a grandchild keeps nothing open. Both must go.
  auto r = run->run({"sh", "-c", "exec >/dev/null 2>&1; sleep 30 & sleep 30"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.output.find("timed out"), std::string::npos) << r.output;
  EXPECT_LT(took, 5s);
  // The grandchild was in the helper's process group: nothing named "sleep 30" of ours is left.
  auto left = os::make_process_runner(5s)->run({"sh", "-c", "pgrep -f -x 'sleep 30' || true"});
  EXPECT_EQ(left.output, "");
}

TEST(process_runner, no_descriptor_is_inherited) {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC, like a socket Asio opened
  ASSERT_GE(fd, 3);
  auto r = os::make_process_runner(5s)->run({"sh", "-c", "ls /proc/self/fd"});
  ::close(fd);
  EXPECT_EQ(r.exit_code, 0);
  // 0, 1, 2 and the descriptor ls opens to read its own directory: nothing of ours.
  EXPECT_LE(std::count(r.output.begin(), r.output.end(), '\n'), 4) << r.output;
}

} // namespace
