#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/canary.hpp"
#include "net/dataplane.hpp"
#include "net/dns_codec.hpp"
#include "net/interception.hpp"
#include "net/random.hpp"
#include "net/udp_batch.hpp"

namespace roamd::net {

class tcp_client;
class dot_client;
class doh_client;
class dot_tls_source;

/// Who gets the answer to a query.
struct client_ref {
  enum kind_t : uint8_t { udp, tcp, probe } kind = udp;
  uint16_t listener = 0;  // udp: index of the listener socket
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::shared_ptr<tcp_client> conn;  // tcp
};

/// One data-plane thread: its io_context, listeners, upstream sockets, pending queries and counters.
/// Everything here runs on the worker's own thread; other threads reach it only through post().
class worker {
public:
  worker(uint32_t index, const dataplane_options& opts, std::shared_ptr<dns_cache> cache,
         std::shared_ptr<upstream_registry> registry, dataplane::stats_sink sink, std::shared_ptr<dot_tls_source> tls = nullptr,
         std::shared_ptr<loop_guard> loops = nullptr);
  ~worker();

  /// Binds the listeners (SO_REUSEPORT), the interception listeners and the upstream socket pool. Returns "" or an
  /// error message.
  std::string open(const std::vector<boost::asio::ip::udp::endpoint>& listen,
                   const std::vector<boost::asio::ip::udp::endpoint>& intercept = {});
  std::vector<boost::asio::ip::udp::endpoint> bound() const;
  std::vector<boost::asio::ip::udp::endpoint> bound_intercept() const;
  /// Whether every listen socket was created under net::listen_socket_uid (after open()).
  bool listen_private() const {
    return listen_private_;
  }
  /// False once the kernel refused the socket mark on one of this worker's upstream sockets (any thread).
  bool socket_mark_ok() const {
    return mark_ok_.load(std::memory_order_relaxed);
  }

  void run();
  void stop();
  void post_routing(std::shared_ptr<const routing_table> table);
  void post_probe(uint32_t upstream_id, dataplane::probe_callback done);
  void post_self_check_port(uint16_t port);

  // Used by tcp_client.
  void handle_query(uint8_t* msg, size_t size, client_ref client);
  void tcp_closed();
  void count_drop(drop_reason r) {
    ++stats_.drops[static_cast<size_t>(r)];
  }
  boost::asio::io_context& context() {
    return ctx_;
  }
  uint32_t tcp_idle_timeout_ms() const {
    return opts_.tcp_idle_timeout_ms;
  }

private:
  static constexpr uint32_t npos = 0xFFFFFFFFu;

  struct listener {
    boost::asio::ip::udp::socket udp;
    boost::asio::ip::tcp::acceptor tcp;
    udp_send_queue out;
    bool intercept = false;  // redirected traffic only (dataplane_options::intercept_listen)
  };
  /// The upstream sockets of one address family and one link: "" (not bound: the routing table decides) or an
  /// interface name, to which every socket of the set is bound (SO_BINDTODEVICE or IP(V6)_UNICAST_IF). The two
  /// unbound sets are opened with the worker; a bound set is filled on first use, closed when unused for a
  /// rotation period, and rebuilt when its link is recreated (a new ifindex, or a send failing with ENODEV/ENXIO).
  struct source_set {
    std::string interface;
    bool v6 = false;
    unsigned ifindex = 0;        // the interface's index when the active sockets were bound to it
    std::vector<size_t> active;  // socket indexes, oldest first
    std::chrono::steady_clock::time_point last_used{};
    std::chrono::steady_clock::time_point retry_at{};  // after a failure to open sockets: not before then
    bool recheck = false;        // look up the interface's index again before the next use
    bool failing = false;        // the failure was logged; success is logged once again
  };
  /// An upstream socket bound to a kernel-chosen random port. Active sockets take new queries; every
  /// port_rotation_ms the oldest active one of each set is retired (it keeps receiving until its last waiting
  /// query is answered or given up, then closes) and a fresh one takes its place.
  struct source_socket {
    boost::asio::ip::udp::socket sock;
    source_set* set = nullptr;
    bool retired = false;
    uint32_t gen = 0;      // guards handlers of an earlier socket at the same index
    uint32_t waiting = 0;  // queries sent (or queued) on it and not yet answered or given up
    udp_send_queue out;    // upstream queries queued in this loop round, sent with one sendmmsg()
  };
  struct pending {
    uint32_t gen = 0;
    bool busy = false;
    client_ref client;
    uint16_t client_id = 0;
    dns::query_info q;
    std::vector<uint8_t> wire;  // the query as sent upstream (our ID patched in per attempt)
    std::shared_ptr<const routing_table> table;
    const route* rt = nullptr;
    /// Asked instead of the route's resolvers: the server an intercepted client chose for an internal name.
    std::shared_ptr<const std::vector<std::shared_ptr<upstream>>> chosen;
    uint64_t loop_key = 0;  // counted by the loop guard while in flight (0: not counted)
    std::shared_ptr<upstream> up;
    uint32_t key = 0;  // socket index << 16 | DNS ID, while waiting on UDP
    uint8_t attempt = 0;
    bool via_tcp = false;
    bool on_dot = false;    // waiting on the DoT or DoH client of `up` (DoT: under the ID in `wire`), not on UDP
    bool fallback = false;  // second phase: the route's fallback resolvers, after an NXDOMAIN from its resolvers
    const std::vector<std::shared_ptr<upstream>>* fallback_list = nullptr;  // which of them (in the table of `table`)
    std::vector<uint8_t> first_answer;  // that NXDOMAIN, the client's answer unless a fallback says NOERROR
    std::shared_ptr<upstream> first_up;  // the resolver that said it (`up` again when its NXDOMAIN is relayed)
    fallback_result fallback_done = fallback_result::not_run;  // what the fallback did for the answer relayed
    bool waiting = false;  // on UDP or DoT, in the deadline list
    std::chrono::steady_clock::time_point received_at;  // when the client's query was read
    std::chrono::steady_clock::time_point sent_at;
    std::chrono::steady_clock::time_point deadline;
    uint32_t prev = npos;  // the list of queries waiting on UDP, oldest (earliest deadline) first
    uint32_t next = npos;
    dataplane::probe_callback on_probe;
  };

  void arm_listener(size_t i);
  void arm_source(size_t i);
  /// Opens one more active socket in `set` (bound to its link, if any); false with errno set on failure.
  bool open_source(source_set& set);
  /// Sets the socket mark on an upstream socket; the first failure clears mark_ok_ and is logged.
  void apply_mark(int fd);
  void retire_source(size_t i);
  void release_source(size_t i);
  /// The set an upstream with an interface sends from: resolved once per upstream (the unbound set of its family
  /// for a loopback address, which is never bound).
  source_set& bound_set(const upstream& u);
  /// Makes a set usable before a send (fills a bound set, rebuilds it after a link change); false when it has no
  /// socket to send from (logged once per failing link).
  bool prepare_set(source_set& set);
  /// Retires every active socket of the set (they still take the answers to their queries).
  void drop_set(source_set& set);
  void arm_rotation();
  void rotate_sources();
  void send_failed(const udp_send_failure& f, size_t sock);
  void arm_accept(size_t i);
  /// At the connection limit: closes the idle client that was active least recently; false if all are busy.
  bool evict_idle_tcp();
  void prune_tcp_list();
  void on_listener_readable(size_t i);
  void on_source_readable(size_t i);
  void on_answer(size_t sock, uint8_t* msg, size_t size, const sockaddr_storage& from, socklen_t from_len);
  void on_tcp_answer(uint32_t slot, uint32_t gen, bool ok, std::vector<uint8_t>& answer);
  /// An upstream answer that matched the query in `slot` (UDP or DoT): counted, then relayed or ends a probe.
  void answered(uint32_t slot, uint8_t* msg, size_t size);
  /// Sends an attempt to a DoT or DoH upstream (see net/dot_client.hpp, net/doh_client.hpp); a refusal fails the
  /// attempt at once.
  void send_encrypted(uint32_t slot);
  /// The answer (or, `msg` null, the failure: a bad answer or else a transport failure) of an encrypted attempt.
  void on_encrypted_answer(uint64_t tag, uint8_t* msg, size_t size, bool bad_answer);
  /// The DoT or DoH client of `u`, made on first use; null without a TLS context.
  dot_client* dot_for(const std::shared_ptr<upstream>& u);
  doh_client* doh_for(const std::shared_ptr<upstream>& u);

  void reply(const client_ref& c, const uint8_t* msg, size_t size);
  /// Answers with an error made here. `p`: the pending query it ends (null: the query being handled now).
  void reply_error(const uint8_t* msg, size_t size, const dns::query_info& q, bool with_question, uint16_t rcode,
                   const client_ref& c, const pending* p = nullptr);
  /// Accounts for an answer about to be sent to a client: the latency histograms, answers by route, and the query
  /// observers. `p`: the pending query it ends (null: the query being handled now, started at query_start_).
  void completed(const client_ref& c, const dns::query_info* q, const uint8_t* msg, size_t size, answer_source src,
                 const pending* p);
  /// Hands a client's query to the observers that want queries.
  void observe_query(const client_ref& c, const uint8_t* msg, size_t size);
  /// The client's and the listener's addresses of `c`, for an observer's event.
  void describe_client(const client_ref& c, query_event& e) const;
  void flush();
  /// Sends queued UDP replies once the handlers already ready in this loop round have run, so that answers
  /// arriving on different upstream sockets leave in one sendmmsg().
  void schedule_flush();

  uint32_t alloc_slot();
  void free_slot(uint32_t slot);
  void send_attempt(uint32_t slot);
  void fail_attempt(uint32_t slot, bool timed_out);
  /// A validated final answer (in resp_) for a client query: relayed, or the start of the NXDOMAIN fallback.
  void deliver(uint32_t slot, uint8_t* msg, size_t size);
  void start_nxdomain_fallback(uint32_t slot, const uint8_t* msg, size_t size);
  /// Ends the fallback phase with the first resolvers' NXDOMAIN.
  void finish_with_first_answer(uint32_t slot);
  void finish(uint32_t slot, uint8_t* msg, size_t size, const dns::response_info& r);
  /// Answers a query for a name under the canary suffix itself (see net/canary.hpp).
  void answer_canary(const uint8_t* msg, size_t size, const dns::query_info& q, canary_match m,
                     std::string_view label, const client_ref& c);
  /// A canary query from the self-check's socket: answered, not counted, not observed. False: not one (go on).
  bool answer_self_check(const uint8_t* msg, size_t size, const client_ref& c);
  /// Ends a probe: frees its slot, then reports to whoever asked.
  void complete_probe(uint32_t slot, bool ok, uint64_t rtt_us);
  /// Where an intercepted client's query was meant to go (null: unknown, or not intercepted).
  std::optional<boost::asio::ip::udp::endpoint> original_of(const client_ref& c);
  /// The cache key of a query resolved under `table`.
  static dns_cache::key cache_key(const dns::query_info& q, const routing_table& table);
  bool accept_answer(pending& p, const uint8_t* msg, size_t size, bool tcp);
  bool answers_question(const pending& p, const uint8_t* msg, size_t size) const;
  void wait_link(uint32_t slot);
  /// Ends a wait: on UDP the key, the deadline list and the socket's count (closing a drained retired socket); on
  /// DoT the client forgets the query (`timed_out` lets it notice a dead connection).
  void stop_waiting(uint32_t slot, bool timed_out = false);
  void wait_unlink(uint32_t slot);
  void give_up(uint32_t slot);
  void start_tcp_fallback(uint32_t slot);
  void arm_timeouts();
  void on_timeouts();
  void arm_stats();
  void publish_stats();
  upstream_counters& counters_for(const upstream& u);
  uint64_t now_ms() const;

  uint32_t index_;
  dataplane_options opts_;
  std::shared_ptr<dns_cache> cache_;
  std::shared_ptr<upstream_registry> registry_;
  dataplane::stats_sink sink_;
  boost::asio::io_context ctx_;
  std::shared_ptr<dot_tls_source> tls_;             // null: DoT upstreams fail every attempt
  std::vector<std::unique_ptr<dot_client>> dot_;    // by upstream id, made on first use (before ctx_ goes)
  std::vector<std::unique_ptr<doh_client>> doh_;    // likewise for DoH upstreams
  std::vector<std::unique_ptr<listener>> listeners_;
  std::vector<std::unique_ptr<source_socket>> sources_;  // by index; null where free
  std::vector<size_t> free_sources_;
  std::vector<std::unique_ptr<source_set>> sets_;  // [0] unbound IPv4, [1] unbound IPv6, then bound sets
  std::vector<source_set*> set_of_upstream_;       // by upstream id, for upstreams with an interface
  uint32_t source_gen_ = 0;
  std::atomic<bool> mark_ok_{true};  // cleared (and logged) at the first SO_MARK failure
  std::vector<udp_send_failure> failed_sends_;
  std::vector<std::pair<udp_send_failure, size_t>> failures_;  // with the socket index, handled after a flush
  udp_receive_batch client_batch_;
  udp_receive_batch answer_batch_;
  std::vector<uint8_t> scratch_;
  std::shared_ptr<const routing_table> table_;
  std::shared_ptr<loop_guard> loops_;  // shared by the workers; null in tests that make a worker alone
  original_destination_fn find_original_;
  chosen_servers chosen_;
  std::vector<pending> slots_;
  std::vector<uint32_t> free_;
  size_t busy_ = 0;
  std::unordered_map<uint32_t, uint32_t> by_key_;
  uint32_t wait_head_ = npos;
  uint32_t wait_tail_ = npos;
  boost::asio::steady_timer timeout_timer_;
  bool timeout_armed_ = false;
  boost::asio::steady_timer stats_timer_;
  boost::asio::steady_timer rotate_timer_;
  worker_stats stats_;
  std::vector<upstream_counters> up_stats_;  // indexed by upstream id
  uint32_t tcp_clients_ = 0;
  std::vector<std::weak_ptr<tcp_client>> tcp_list_;  // for evicting the least recently active idle client
  uint32_t tcp_limit_ = 0;
  random_source rng_;
  bool stopping_ = false;
  bool flush_pending_ = false;
  dns::response_info resp_;  // reused per answer
  std::chrono::steady_clock::time_point query_start_;  // when the query being handled now was read
  std::vector<std::pair<sockaddr_storage, socklen_t>> listener_addr_;  // by listener index, for observers
  bool observe_queries_ = false;  // some observer wants client queries
  bool listen_private_ = true;    // every listen socket belongs to net::listen_socket_uid
  uint16_t self_check_port_ = 0;  // the self-check's source port (network byte order), 0 = none
};

} // namespace roamd::net
