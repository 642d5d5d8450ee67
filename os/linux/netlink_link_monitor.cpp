// The rtnetlink link monitor: a thin Boost.Asio shell around the pure parser and model in os/netlink_parse.hpp.
// One netlink socket on a thread of its own; dumps run one at a time, events are drained in bursts and each burst
// that changed something ends in one snapshot (see ../shared/notes/linux-dns.md, "rtnetlink through Boost.Asio").
#include "os/link_monitor.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/generic/raw_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include "os/netlink_parse.hpp"

namespace roamd::os {

namespace {

namespace asio = boost::asio;
using nl_protocol = asio::generic::raw_protocol;

constexpr int receive_buffer_bytes = 4 << 20;  // room for an event storm before the kernel drops (ENOBUFS)
constexpr std::size_t datagram_bytes = 64 << 10;  // the kernel sends at most 32 KiB per datagram
constexpr int max_datagrams_per_burst = 256;      // emit at least this often under a sustained storm

const char* table_name(nl_table t) {
  switch (t) {
    case nl_table::links: return "links";
    case nl_table::addresses: return "addresses";
    case nl_table::routes: return "routes";
  }
  return "?";
}

nl_protocol::endpoint netlink_endpoint(std::uint32_t groups) {
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;  // nl_pid 0: the kernel as a destination, "assign one" when binding
  return nl_protocol::endpoint(&sa, sizeof(sa), NETLINK_ROUTE);
}

class netlink_link_monitor final : public link_monitor {
public:
  ~netlink_link_monitor() override {
    stop();
  }

  std::string start(snapshot_fn on_snapshot) override {
    std::lock_guard<std::mutex> guard(lifecycle_);
    if (started_)
      return "link_monitor: already started";
    if (auto err = open(); !err.empty()) {
      socket_.reset();
      return err;
    }
    io_.restart();  // in case stop() ran before start()
    on_snapshot_ = std::move(on_snapshot);
    for (auto t : {nl_table::links, nl_table::addresses, nl_table::routes})
      pending_.push_back(t);
    if (auto err = send_next_dump(); !err.empty()) {
      socket_.reset();
      return err;
    }
    wait_readable();
    started_ = true;
    thread_ = std::thread([this] {
      worker_ = std::this_thread::get_id();
      io_.run();
    });
    return {};
  }

  void stop() override {
    io_.stop();  // no handler starts after this; the one running (maybe a callback) finishes
    if (worker_.load() == std::this_thread::get_id())
      return;  // called from the callback: the thread ends when it returns; the owner's stop() joins it
    std::lock_guard<std::mutex> guard(lifecycle_);
    io_.stop();  // again: a start() that held the lock may have restarted the context
    if (thread_.joinable())
      thread_.join();
    worker_ = std::thread::id{};
    socket_.reset();
  }

private:
  std::string open() {
    boost::system::error_code ec;
    socket_.emplace(io_);
    socket_->open(nl_protocol(AF_NETLINK, NETLINK_ROUTE), ec);
    if (ec)
      return "link_monitor: cannot open an rtnetlink socket: " + ec.message();
    int fd = socket_->native_handle();
    int size = receive_buffer_bytes;
    // SO_RCVBUFFORCE passes net.core.rmem_max (needs CAP_NET_ADMIN); SO_RCVBUF is capped by it.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0
        && ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0)
      spdlog::warn("link_monitor: cannot enlarge the receive buffer: {}", std::strerror(errno));
    socklen_t len = sizeof(size);
    if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len) != 0)
      size = 0;
    socket_->bind(netlink_endpoint(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE
                                   | RTMGRP_IPV6_ROUTE),
                  ec);
    if (ec)
      return "link_monitor: cannot bind the rtnetlink socket to the link, address and route groups: "
             + ec.message();
    socket_->non_blocking(true, ec);
    if (ec)
      return "link_monitor: cannot make the rtnetlink socket non-blocking: " + ec.message();
    spdlog::debug("link_monitor: rtnetlink socket open, receive buffer {} bytes", size);
    return {};
  }

  /// Sends the next queued dump unless one is running. Returns "" or why the request could not be sent.
  std::string send_next_dump() {
    std::string first_error;
    while (!dump_ && !pending_.empty()) {
      auto table = pending_.front();
      pending_.pop_front();
      if (++seq_ == 0)
        ++seq_;
      auto mark = model_.begin_sweep(table);
      auto request = make_dump_request(table, seq_);
      boost::system::error_code ec;
      socket_->send_to(asio::buffer(request), netlink_endpoint(0), 0, ec);
      if (ec) {
        auto err = std::string("link_monitor: cannot request a dump of ") + table_name(table) + ": " + ec.message();
        spdlog::warn("{}", err);
        if (first_error.empty())
          first_error = err;
        continue;  // the next lost or stale event queues it again
      }
      dump_ = running_dump{table, seq_, mark, false};
    }
    return first_error;
  }

  void queue_dump(nl_table t) {
    // A dump already running may have read the table before the change: queue another unless one is waiting.
    if (std::find(pending_.begin(), pending_.end(), t) == pending_.end())
      pending_.push_back(t);
  }

  void wait_readable() {
    socket_->async_wait(nl_protocol::socket::wait_read, [this](const boost::system::error_code& ec) {
      if (ec) {
        if (ec != asio::error::operation_aborted)
          spdlog::error("link_monitor: waiting on the rtnetlink socket failed: {} (monitor stopped)", ec.message());
        return;
      }
      if (read_burst())
        wait_readable();
    });
  }

  /// Reads what is readable (bounded), applies it, then emits at most one snapshot. Returns false when the socket
  /// is unusable.
  bool read_burst() {
    bool lost = false;
    bool usable = true;
    for (int i = 0; i < max_datagrams_per_burst; ++i) {
      sockaddr_nl from{};
      iovec iov{buffer_.data(), buffer_.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof(from);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      auto n = ::recvmsg(socket_->native_handle(), &msg, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno == ENOBUFS) {  // the kernel dropped events for us: the socket stays usable
          if (lost_events_++ == 0)
            spdlog::warn("link_monitor: kernel events lost (ENOBUFS), dumping everything again");
          lost = true;
          continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          spdlog::error("link_monitor: reading the rtnetlink socket failed: {} (monitor stopped)",
                        std::strerror(errno));
          usable = false;
        }
        break;
      }
      if ((msg.msg_flags & MSG_TRUNC) != 0) {
        spdlog::warn("link_monitor: truncated netlink datagram ({} bytes), dumping everything again", n);
        lost = true;
        continue;
      }
      if (msg.msg_namelen >= sizeof(from) && from.nl_pid != 0) {
        if (foreign_++ == 0)
          spdlog::warn("link_monitor: ignoring netlink datagrams not sent by the kernel (first from pid {})",
                       from.nl_pid);
        continue;
      }
      handle(apply_netlink(buffer_.data(), static_cast<std::size_t>(n), model_));
    }
    if (lost) {
      for (auto t : {nl_table::links, nl_table::addresses, nl_table::routes})
        queue_dump(t);
    }
    send_next_dump();
    maybe_emit();
    return usable;
  }

  void handle(const nl_batch& b) {
    dirty_ |= b.changed;
    if (b.malformed > 0 && (malformed_ += b.malformed) == b.malformed)
      spdlog::warn("link_monitor: skipped {} malformed netlink message(s)", b.malformed);
    if (b.overrun)
      for (auto t : {nl_table::links, nl_table::addresses, nl_table::routes})
        queue_dump(t);
    if (b.routes_stale)
      queue_dump(nl_table::routes);  // the kernel removes routes with their link or address without telling
    for (auto seq : b.interrupted)
      if (dump_ && dump_->seq == seq)
        dump_->interrupted = true;
    for (const auto& r : b.replies) {
      if (!dump_ || r.seq != dump_->seq)
        continue;  // an ack or a late reply to nothing we wait for
      if (r.error != 0) {
        spdlog::warn("link_monitor: dump of {} failed: {}", table_name(dump_->table), std::strerror(r.error));
      } else if (dump_->interrupted) {
        pending_.push_front(dump_->table);  // the table changed during the dump: the sweep cannot trust it
      } else if (r.done) {
        dirty_ |= model_.end_sweep(dump_->table, dump_->mark);
      }
      dump_.reset();
      send_next_dump();
    }
  }

  void maybe_emit() {
    if (dump_)
      return;  // a dump is running: its table is not complete yet
    if (!initial_done_) {
      initial_done_ = true;
      dirty_ = true;
      spdlog::info("link_monitor: initial dump: {} links, {} addresses, {} routes", model_.link_count(),
                   model_.address_count(), model_.route_count());
    }
    if (!dirty_ || io_.stopped())
      return;
    dirty_ = false;
    auto s = model_.snapshot();
    s.set_sequence(++sequence_);
    s.set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
    try {
      on_snapshot_(std::move(s));
    } catch (const std::exception& e) {
      spdlog::error("link_monitor: the snapshot callback threw: {}", e.what());
    }
  }

  struct running_dump {
    nl_table table;
    std::uint32_t seq;
    std::uint64_t mark;
    bool interrupted;
  };

  // Lifecycle (start/stop callers).
  std::mutex lifecycle_;
  bool started_ = false;
  std::thread thread_;
  std::atomic<std::thread::id> worker_{};

  // Owned by the monitor thread once started.
  asio::io_context io_;
  std::optional<nl_protocol::socket> socket_;
  snapshot_fn on_snapshot_;
  adapter_model model_;
  std::vector<std::uint8_t> buffer_ = std::vector<std::uint8_t>(datagram_bytes);
  std::deque<nl_table> pending_;
  std::optional<running_dump> dump_;
  std::uint32_t seq_ = 0;
  bool initial_done_ = false;
  bool dirty_ = false;
  std::uint64_t sequence_ = 0;
  std::uint64_t lost_events_ = 0;
  std::uint64_t malformed_ = 0;
  std::uint64_t foreign_ = 0;
};

} // namespace

std::unique_ptr<link_monitor> make_netlink_link_monitor() {
  return std::make_unique<netlink_link_monitor>();
}

} // namespace roamd::os
