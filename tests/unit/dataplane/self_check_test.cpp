// The data plane's self-check (net/self_check), for the watchdog: a round passes when every worker runs a posted
// task and a canary query through the listener is answered; a wedged worker or a listener that does not answer
// fails it, named; and the self-check's own queries are never counted as clients' queries.
#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <optional>

#include <boost/asio/io_context.hpp>

#include "fake_dns.hpp"
#include "net/canary.hpp"
#include "net/dataplane.hpp"
#include "net/endpoint.hpp"
#include "net/self_check.hpp"

using namespace roamd;
using namespace std::chrono_literals;

namespace {

class self_check_test : public ::testing::Test {
protected:
  void SetUp() override {
    net::dataplane_options opts;
    opts.listen = {boost::asio::ip::udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
    opts.workers = 2;
    opts.stats_interval_ms = 20;
    dp_ = std::make_unique<net::dataplane>(opts, std::make_shared<net::upstream_registry>(), [this](net::worker_stats&& s) {
      {
        std::lock_guard<std::mutex> g{mtx_};
        queries_ += s.queries_udp;
        local_answers_ += s.local_answers;

      }
      waiter_.notify();
    });
    ASSERT_EQ(dp_->open(), "");
    dp_->start();
    target_ = dp_->bound_endpoints().at(0);
  }
  void TearDown() override {
    release_.set_value();  // a worker held by a test goes on
    dp_->stop();
  }

  /// One round on a private io_context, run here until it reports.
  net::self_check_result round(std::shared_ptr<net::self_check>& check, boost::asio::ip::udp::endpoint target,
                               std::chrono::milliseconds timeout = 300ms) {
    if (!check) {
      std::string err;
      check = net::self_check::make(ctx_, *dp_, target, timeout, err);
      EXPECT_TRUE(check) << err;
    }
    std::optional<net::self_check_result> out;
    check->run([&](net::self_check_result r) { out = r; });
    ctx_.restart();
    while (!out && ctx_.run_one_for(3s) > 0) {
    }
    EXPECT_TRUE(out) << "the round never reported";
    return out.value_or(net::self_check_result{});
  }

  boost::asio::io_context ctx_;
  std::unique_ptr<net::dataplane> dp_;
  boost::asio::ip::udp::endpoint target_;
  std::mutex mtx_;
  uint64_t queries_ = 0, local_answers_ = 0;
  test::waiter waiter_;
  std::promise<void> release_;
};

TEST_F(self_check_test, a_round_passes_and_its_queries_are_not_counted_as_clients) {
  std::shared_ptr<net::self_check> check;
  for (int i = 0; i < 5; ++i) {
    auto r = round(check, target_);
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_NE(r.detail.find("answered in"), std::string::npos) << r.detail;
  }
  // 32 clients' canary queries, each from its own socket (so both workers get some, but for a 2^-31 chance), after
  // the self-checks: a worker's counters are published as a whole, so what it counted for the self-checks would
  // come with its clients' queries. Exactly the clients' are counted.
  for (int i = 0; i < 32; ++i)
    ASSERT_FALSE(test::udp_exchange(net::to_string(target_), test::make_query(0x1234, net::canary_name(42 + i), 1)).empty());
  EXPECT_TRUE(waiter_.wait_for([&] { std::lock_guard<std::mutex> g{mtx_}; return local_answers_ >= 32; }, 3000));
  std::lock_guard<std::mutex> g{mtx_};
  EXPECT_EQ(queries_, 32u);
  EXPECT_EQ(local_answers_, 32u);
}

TEST_F(self_check_test, a_worker_that_does_not_run_its_loop_fails_the_round_named) {
  auto held = release_.get_future().share();
  dp_->heartbeat([held](uint32_t worker) {
    if (worker == 1)
      held.wait();  // worker 1 is stuck in a task until the test ends
  });
  std::shared_ptr<net::self_check> check;
  auto r = round(check, target_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "worker 1 did not run a posted task within 300 ms");
}

TEST_F(self_check_test, a_listener_that_does_not_answer_fails_the_round) {
  // A socket bound where the self-check asks, that never answers.
  boost::asio::io_context other;
  boost::asio::ip::udp::socket mute{other, boost::asio::ip::udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
  std::shared_ptr<net::self_check> check;
  auto r = round(check, mute.local_endpoint());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("got no answer within 300 ms"), std::string::npos) << r.detail;
}

} // namespace
