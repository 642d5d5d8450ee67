#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "net/cache.hpp"
#include "net/interception.hpp"
#include "net/query_log.hpp"
#include "net/routing_table.hpp"
#include "net/stats.hpp"
#include "net/upstream.hpp"

namespace roamd::net {

class worker;
class dot_tls_source;

/// Options for the data plane, derived from the configuration.
struct dataplane_options {
  std::vector<boost::asio::ip::udp::endpoint> listen;  // UDP and TCP on each
  uint32_t workers = 1;
  uint32_t timeout_ms = 1000;        // per attempt
  uint32_t attempts = 3;             // tries per query across the route's resolvers
  uint32_t source_ports = 4;         // active upstream sockets per worker and address family
  uint32_t port_rotation_ms = 1000;  // each is replaced by a fresh random port within this period (0 = never)
  uint32_t max_inflight = 16384;     // pending upstream queries per worker
  uint32_t tcp_max_connections = 256;
  uint32_t tcp_idle_timeout_ms = 10000;
  uint32_t stats_interval_ms = 100;
  uint32_t socket_mark = 0;          // SO_MARK on every upstream socket (UDP, TCP, DoT, probes); 0 = none
  std::string tls_ca_file;           // DoT upstreams' certificates chain to this PEM bundle; "" = the system's store
  uint32_t dot_idle_timeout_ms = 10000;  // an idle DoT connection is closed after this long
  dns_cache::limits cache;
  /// Listeners for redirected traffic only (see net/interception.hpp), UDP and TCP on each; port 0: the kernel picks
  /// one. Empty: none. Queries there are routed by name, except that internal names go to the server the client
  /// chose, which `original_destination` finds (null: routed by name only).
  std::vector<boost::asio::ip::udp::endpoint> intercept_listen;
  original_destination_factory original_destination;
  uint32_t loop_limit = 4;  // the loop guard's limit (net/interception.hpp); 0 turns it off (tests showing a loop)
  /// See every client query and answer (dnstap, the recent-queries ring); empty: none, and no cost.
  std::vector<std::shared_ptr<query_observer>> observers;
};

/// The Boost.Asio data plane: UDP and TCP listeners, the upstream socket pool and the per-query path. Each worker is
/// one thread with its own io_context, listeners (SO_REUSEPORT) and upstream sockets; the routing snapshot and the
/// cache are shared. Control-plane code talks to it only through this class, whose methods are thread-safe.
class dataplane {
public:
  using stats_sink = std::function<void(worker_stats&&)>;
  using probe_callback = std::function<void(uint32_t upstream_id, bool ok, uint64_t rtt_us)>;

  dataplane(dataplane_options opts, std::shared_ptr<upstream_registry> registry, stats_sink sink);
  ~dataplane();

  dataplane(const dataplane&) = delete;
  dataplane& operator=(const dataplane&) = delete;

  /// Opens every listener and upstream socket, and loads the DoT trust anchors when a CA file is set (else on the
  /// first DoT query). Returns "" on success, else a message naming the address (or the CA file) and the system
  /// error; then nothing stays open.
  std::string open();

  /// Starts the worker threads. Until a routing table is set, queries get SERVFAIL.
  void start();

  /// Stops and joins the workers; pending queries are abandoned. Idempotent.
  void stop();

  /// Publishes a new routing snapshot to every worker (each swaps it in between two packets) and clears the cache
  /// when routes changed.
  void set_routing(std::shared_ptr<const routing_table> table);

  /// Sends a health probe (". NS") to one upstream from worker 0; `done` runs on that worker's thread.
  void probe(uint32_t upstream_id, probe_callback done);

  /// Posts `beat(index)` to every worker's loop: it runs on that worker's thread once the worker gets to it, so a
  /// worker that stopped running its loop (wedged) never calls it. Returns the number of workers asked.
  size_t heartbeat(std::function<void(uint32_t worker)> beat);

  /// The self-check's source port (net/self_check; 0: none): canary queries from it over UDP are answered without
  /// counting them or showing them to observers.
  void set_self_check_port(uint16_t port);

  /// False when the socket mark is set but the kernel refused it on some upstream socket (EPERM: not root), so that
  /// interception would catch roamd's own queries; true otherwise. Meaningful after open().
  bool socket_mark_ok() const;

  /// Whether the listen sockets belong to a uid of their own (net/listen_owner.hpp), so that no other process can
  /// join them; false when roamd lacks CAP_SETUID. Meaningful after open().
  bool listen_private() const;

  /// The local endpoints actually bound (useful with port 0).
  std::vector<boost::asio::ip::udp::endpoint> bound_endpoints() const;
  /// The same for the interception listeners (where the rules redirect to).
  std::vector<boost::asio::ip::udp::endpoint> bound_intercept() const;

  const std::shared_ptr<dns_cache>& cache() const {
    return cache_;
  }

private:
  dataplane_options opts_;
  std::shared_ptr<upstream_registry> registry_;
  std::shared_ptr<dns_cache> cache_;
  stats_sink sink_;
  mutable std::mutex mtx_;  // guards workers_ against stop() racing set_routing()/probe() from actor threads
  std::vector<std::unique_ptr<worker>> workers_;
  std::shared_ptr<dot_tls_source> tls_;  // shared by every worker's DoT connections
  std::shared_ptr<loop_guard> loops_;
  std::vector<std::thread> threads_;
  bool started_ = false;
};

} // namespace roamd::net
