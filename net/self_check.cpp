#include "net/self_check.hpp"

#include <algorithm>
#include <array>
#include <random>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/canary.hpp"
#include "net/dataplane.hpp"
#include "net/direct_lookup.hpp"
#include "net/endpoint.hpp"

namespace roamd::net {

namespace {

using udp = boost::asio::ip::udp;
using steady = std::chrono::steady_clock;

class self_check_impl final : public self_check {
public:
  self_check_impl(boost::asio::io_context& ctx, dataplane& dp, udp::endpoint target, std::chrono::milliseconds timeout)
    : ctx_(ctx), dp_(dp), target_(target), timeout_(timeout), timer_(ctx), rng_(std::random_device{}()) {
  }

  void run(std::function<void(self_check_result)> done) override {
    done_ = std::move(done);
    ++round_;
    started_ = steady::now();
    answered_ = false;
    answer_detail_.clear();
    // Every worker runs a task posted to its loop.
    std::weak_ptr<self_check> weak = shared_from_this();
    auto round = round_;
    beats_.assign(dp_.heartbeat([weak, round, &ctx = ctx_](uint32_t worker) {
      boost::asio::post(ctx, [weak, round, worker] {
        if (auto self = weak.lock())
          static_cast<self_check_impl&>(*self).beat(round, worker);
      });
    }), false);
    // A fresh canary name through the listener.
    send_query();
    timer_.expires_after(timeout_);
    timer_.async_wait([weak, round](const boost::system::error_code& ec) {
      if (ec)
        return;
      if (auto self = weak.lock())
        static_cast<self_check_impl&>(*self).finish(round, true);
    });
  }

private:
public:
  /// Opens the socket the rounds use (one source port for the process's life: the data plane answers canary
  /// queries from it without counting them as clients' queries). "" or why not.
  std::string open() {
    boost::system::error_code ec;
    socket_ = std::make_unique<udp::socket>(ctx_);
    socket_->open(target_.protocol(), ec);
    if (!ec)
      socket_->bind(udp::endpoint{target_.address(), 0}, ec);
    if (ec)
      return "cannot open a socket for the self-query: " + ec.message();
    dp_.set_self_check_port(socket_->local_endpoint().port());
    return {};
  }

  void start_receiving() {
    receive();
  }

private:
  void send_query() {
    boost::system::error_code ec;
    uint64_t nonce = rng_();
    name_ = canary_name(nonce);
    id_ = static_cast<uint16_t>(rng_());
    auto label = name_.substr(0, name_.find('.'));
    auto addr = canary_address(label);
    expected_ = addr ? std::to_string((*addr)[0]) + "." + std::to_string((*addr)[1]) + "." +
                         std::to_string((*addr)[2]) + "." + std::to_string((*addr)[3])
                     : std::string{};
    query_.resize(512);
    query_.resize(build_lookup_query(name_, 1, id_, query_.data(), query_.size()));
    socket_->send_to(boost::asio::buffer(query_), target_, 0, ec);
    if (ec)
      answer_detail_ = "sending the self-query to " + to_string(target_) + ": " + ec.message();
  }

  void receive() {
    std::weak_ptr<self_check> weak = shared_from_this();
    socket_->async_receive_from(boost::asio::buffer(buf_), from_, [weak](const boost::system::error_code& ec, size_t n) {
      auto self = weak.lock();
      if (!self || ec == boost::asio::error::operation_aborted)
        return;
      auto& me = static_cast<self_check_impl&>(*self);
      if (!ec)
        me.on_answer(n);
      me.receive();
    });
  }

  void on_answer(size_t n) {
    if (!done_ || answered_)
      return;
    auto a = from_ == target_ ? parse_lookup_answer(buf_.data(), n, id_) : std::nullopt;
    if (!a)
      return;  // not this round's answer (a late one, or someone else's datagram)
    auto round = round_;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started_).count();
    if (std::find(a->addresses.begin(), a->addresses.end(), expected_) == a->addresses.end()) {
      answer_detail_ = "the self-query " + name_ + " to " + to_string(target_) + " got an answer without roamd's "
                       "canary address (rcode " + std::to_string(a->rcode) + ")";
    } else {
      answered_ = true;
      answer_detail_ = "answered in " + std::to_string(us / 1000) + "." + std::to_string(us % 1000 / 100) + " ms";
    }
    finish(round, false);
  }

  void beat(uint64_t round, uint32_t worker) {
    if (round != round_ || worker >= beats_.size())
      return;
    beats_[worker] = true;
    finish(round, false);
  }

  /// Reports the round once it is decided: at the deadline, or as soon as the answer and every beat are in.
  void finish(uint64_t round, bool deadline) {
    if (round != round_ || !done_)
      return;
    bool all_beats = std::all_of(beats_.begin(), beats_.end(), [](bool b) { return b; });
    if (!deadline && !(all_beats && (answered_ || !answer_detail_.empty())))
      return;
    self_check_result r;
    r.ok = answered_ && all_beats;
    if (!all_beats) {
      std::string late;
      for (size_t i = 0; i < beats_.size(); ++i)
        if (!beats_[i])
          late += (late.empty() ? "" : ", ") + std::to_string(i);
      r.detail = "worker " + late + " did not run a posted task within " + std::to_string(timeout_.count()) + " ms";
    } else if (!answered_) {
      r.detail = !answer_detail_.empty() ? answer_detail_
                                         : "the self-query " + name_ + " to " + to_string(target_) +
                                             " got no answer within " + std::to_string(timeout_.count()) + " ms";
    } else {
      r.detail = answer_detail_;
    }
    timer_.cancel();
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(r));
  }

  boost::asio::io_context& ctx_;
  dataplane& dp_;
  udp::endpoint target_;
  std::chrono::milliseconds timeout_;
  boost::asio::steady_timer timer_;
  std::mt19937_64 rng_;
  std::unique_ptr<udp::socket> socket_;
  std::vector<uint8_t> query_;
  std::array<uint8_t, 512> buf_{};
  udp::endpoint from_;
  std::string name_;
  std::string expected_;
  uint16_t id_ = 0;
  uint64_t round_ = 0;
  steady::time_point started_;
  std::vector<bool> beats_;
  bool answered_ = false;
  std::string answer_detail_;
  std::function<void(self_check_result)> done_;
};

} // namespace

std::shared_ptr<self_check> self_check::make(boost::asio::io_context& ctx, dataplane& dp, udp::endpoint target,
                                             std::chrono::milliseconds timeout, std::string& error) {
  auto out = std::make_shared<self_check_impl>(ctx, dp, target, timeout);
  error = out->open();
  if (!error.empty())
    return nullptr;
  out->start_receiving();
  return out;
}

} // namespace roamd::net
