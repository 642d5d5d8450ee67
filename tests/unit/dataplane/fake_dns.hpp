#pragma once

// Test doubles for data-plane tests: a scriptable UDP+TCP DNS server on 127.0.0.1 and a blocking client, both with
// bounded waits (never sleeps), plus a tiny message builder.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>

namespace roamd::test {

using bytes = std::vector<uint8_t>;

/// Builds a query for `name` (dotted text) and `qtype`; with `edns` an OPT (udp size 1232, DO as given) is added,
/// carrying `options` (raw option bytes) if any.
bytes make_query(uint16_t id, const std::string& name, uint16_t qtype, bool edns = false, bool dnssec_ok = false,
                 const bytes& options = {});

/// Builds an answer to `query` (echoing its question) with one A record per address, rcode, and optionally an OPT.
bytes make_answer(const bytes& query, const std::vector<std::string>& addresses, uint8_t rcode = 0, uint32_t ttl = 300,
                  bool with_opt = false);

/// Builds an answer with one TXT record of `txt_size` bytes of text (split into 255-byte strings).
bytes make_txt_answer(const bytes& query, size_t txt_size);

/// The A addresses in an answer, in order (empty if none or unparsable).
std::vector<std::string> answer_addresses(const bytes& msg);

/// True when the message's additional section holds an OPT carrying option `code`.
bool has_option(const bytes& msg, uint16_t code);
/// The raw bytes of option `code` (code, length and data) or empty.
bytes option_bytes(const bytes& msg, uint16_t code);

inline uint16_t id_of(const bytes& m) {
  return static_cast<uint16_t>((m[0] << 8) | m[1]);
}
inline uint8_t rcode_of(const bytes& m) {
  return m[3] & 0x0F;
}
inline bool tc_of(const bytes& m) {
  return (m[2] & 0x02) != 0;
}
inline uint16_t arcount_of(const bytes& m) {
  return static_cast<uint16_t>((m[10] << 8) | m[11]);
}

/// A scripted DNS server on 127.0.0.1 (UDP and TCP on one random port). `on_udp` decides what to send back for each
/// datagram (it may send several packets, from other sockets too); `on_tcp` answers framed TCP queries.
class fake_server {
public:
  using udp_handler = std::function<void(fake_server&, const bytes& query, const sockaddr_in& from)>;
  using tcp_handler = std::function<bytes(const bytes& query)>;

  explicit fake_server(udp_handler on_udp, tcp_handler on_tcp = nullptr);
  ~fake_server();

  std::string address() const;  // "127.0.0.1:PORT"
  uint16_t port() const {
    return port_;
  }

  void send_to(const bytes& msg, const sockaddr_in& to);
  /// Sends from a different socket (a different source port), as an off-path spoofer would.
  void send_from_other_port(const bytes& msg, const sockaddr_in& to);

  std::vector<bytes> queries() const;
  /// The source ports the queries came from, in order.
  std::vector<uint16_t> source_ports() const;
  size_t query_count() const;

private:
  void udp_loop();
  void tcp_loop();

  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  int other_fd_ = -1;
  uint16_t port_ = 0;
  udp_handler on_udp_;
  tcp_handler on_tcp_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mtx_;
  std::vector<bytes> queries_;
  std::vector<uint16_t> ports_;
  std::thread udp_thread_;
  std::thread tcp_thread_;
};

/// A server that answers every query with the given addresses.
fake_server::udp_handler answer_with(std::vector<std::string> addresses);

/// Sends one UDP datagram to `to` ("IP:PORT") and waits up to `timeout_ms` for one reply; empty on timeout.
bytes udp_exchange(const std::string& to, const bytes& query, int timeout_ms = 3000);

/// Sends several framed queries on one TCP connection, then reads `expect` answers (bounded by timeout).
std::vector<bytes> tcp_exchange(const std::string& to, const std::vector<bytes>& queries, size_t expect,
                                int timeout_ms = 3000);

/// A blocking TCP connection to `to` with a 2 s receive timeout; -1 on failure.
int tcp_connect(const std::string& to);
/// Sends one length-prefixed message.
void tcp_send(int fd, const bytes& msg);
/// Reads one length-prefixed message (empty on timeout, close or error).
bytes tcp_read(int fd);

/// Waits (bounded) until `pred` holds, re-checking whenever `notify` is signalled.
class waiter {
public:
  void notify();
  bool wait_for(const std::function<bool()>& pred, int timeout_ms);

private:
  std::mutex mtx_;
  std::condition_variable cv_;
};

/// Counters a test sums up from the data plane's stats batches (on the workers' threads), with a bounded wait.
template <class T>
class summed {
public:
  /// Runs `add(totals)` under the lock, then wakes the waiters.
  template <class F>
  void add(F&& add) {
    {
      std::lock_guard<std::mutex> g{mtx_};
      add(t_);
    }
    waiter_.notify();
  }
  /// Waits (bounded) until the totals satisfy `pred`.
  bool wait(const std::function<bool(const T&)>& pred, int timeout_ms = 3000) {
    return waiter_.wait_for(
      [&] {
        std::lock_guard<std::mutex> g{mtx_};
        return pred(t_);
      },
      timeout_ms);
  }
  T snapshot() {
    std::lock_guard<std::mutex> g{mtx_};
    return t_;
  }

private:
  std::mutex mtx_;
  T t_;
  waiter waiter_;
};

} // namespace roamd::test
