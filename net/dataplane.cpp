#include "net/dataplane.hpp"

#include <pthread.h>

#include <boost/asio/post.hpp>

#include <algorithm>

#include "net/dot_client.hpp"
#include "net/random.hpp"
#include "net/worker.hpp"

namespace roamd::net {

dataplane::dataplane(dataplane_options opts, std::shared_ptr<upstream_registry> registry, stats_sink sink)
    : opts_(std::move(opts)),
      registry_(std::move(registry)),
      cache_(std::make_shared<dns_cache>(opts_.cache)),
      sink_(std::move(sink)),
      loops_(std::make_shared<loop_guard>(opts_.loop_limit, random_source{}.next())) {
  if (opts_.workers == 0)
    opts_.workers = 1;
  if (opts_.attempts == 0)
    opts_.attempts = 1;
}

dataplane::~dataplane() {
  stop();
}

std::string dataplane::open() {
  workers_.clear();
  tls_ = std::make_shared<dot_tls_source>(opts_.tls_ca_file);
  std::string tls_error;
  if (!opts_.tls_ca_file.empty() && !tls_->get(&tls_error))
    return "DNS over TLS: " + tls_error;
  // Port 0 (tests): the kernel picks a free UDP port and TCP takes the same number, which another program may hold;
  // then a new pick is tried (a few times) instead of failing.
  auto port_zero = [](const auto& ep) { return ep.port() == 0; };
  bool picked = std::any_of(opts_.listen.begin(), opts_.listen.end(), port_zero) ||
                std::any_of(opts_.intercept_listen.begin(), opts_.intercept_listen.end(), port_zero);
  for (int attempt = 0;; ++attempt) {
    auto listen = opts_.listen;
    auto intercept = opts_.intercept_listen;
    std::string err;
    for (uint32_t i = 0; i < opts_.workers && err.empty(); ++i) {
      auto w = std::make_unique<worker>(i, opts_, cache_, registry_, sink_, tls_, loops_);
      err = w->open(listen, intercept);
      if (!err.empty())
        break;
      if (i == 0) {
        listen = w->bound();  // later workers share the ports the first one got
        intercept = w->bound_intercept();
      }
      workers_.push_back(std::move(w));
    }
    if (err.empty())
      return {};
    workers_.clear();
    if (!picked || attempt == 7 || err.find("cannot listen on TCP") == std::string::npos)
      return err;
  }
}

void dataplane::start() {
  if (started_)
    return;
  started_ = true;
  for (size_t i = 0; i < workers_.size(); ++i) {
    threads_.emplace_back([wp = workers_[i].get()] { wp->run(); });
    // "roamd-dp0", ...: told apart in top -H, gdb and the watchdog lab's fault injection.
    ::pthread_setname_np(threads_.back().native_handle(), ("roamd-dp" + std::to_string(i)).c_str());
  }
}

void dataplane::stop() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!started_)
    return;
  for (auto& w : workers_)
    w->stop();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  workers_.clear();
  started_ = false;
}

void dataplane::set_routing(std::shared_ptr<const routing_table> table) {
  std::lock_guard<std::mutex> guard{mtx_};
  cache_->clear();
  for (auto& w : workers_)
    w->post_routing(table);
}

void dataplane::probe(uint32_t upstream_id, probe_callback done) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (workers_.empty()) {
    done(upstream_id, false, 0);
    return;
  }
  workers_.front()->post_probe(upstream_id, std::move(done));
}

size_t dataplane::heartbeat(std::function<void(uint32_t worker)> beat) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (uint32_t i = 0; i < workers_.size(); ++i)
    boost::asio::post(workers_[i]->context(), [beat, i] { beat(i); });
  return workers_.size();
}

void dataplane::set_self_check_port(uint16_t port) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& w : workers_)
    w->post_self_check_port(port);
}

bool dataplane::listen_private() const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& w : workers_)
    if (!w->listen_private())
      return false;
  return !workers_.empty();
}

bool dataplane::socket_mark_ok() const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& w : workers_)
    if (!w->socket_mark_ok())
      return false;
  return true;
}

std::vector<boost::asio::ip::udp::endpoint> dataplane::bound_endpoints() const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (workers_.empty())
    return {};
  return workers_.front()->bound();
}

std::vector<boost::asio::ip::udp::endpoint> dataplane::bound_intercept() const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (workers_.empty())
    return {};
  return workers_.front()->bound_intercept();
}

} // namespace roamd::net
