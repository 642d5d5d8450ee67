#include "net/upstream.hpp"

#include "net/endpoint.hpp"

namespace roamd::net {

std::shared_ptr<upstream> upstream_registry::get(const resolver_address& r, const std::string& interface) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& u : by_id_)
    if (u->endpoint == r.endpoint && u->interface == interface && u->tls == r.tls && u->https == r.https &&
        u->tls_name == r.tls_name && u->tls_pin == r.pin && u->https_path == r.path)
      return u;
  auto u = std::make_shared<upstream>();
  u->id = static_cast<uint32_t>(by_id_.size());
  u->endpoint = r.endpoint;
  u->interface = interface;
  u->tls = r.tls;
  u->tls_name = r.tls_name;
  u->tls_pin = r.pin;
  u->https = r.https;
  u->https_path = r.path;
  u->name = to_string(r) + (interface.empty() ? "" : "%" + interface);
  by_id_.push_back(u);
  return u;
}

std::shared_ptr<upstream> upstream_registry::find(uint32_t id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return id < by_id_.size() ? by_id_[id] : nullptr;
}

std::vector<std::shared_ptr<upstream>> upstream_registry::all() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return by_id_;
}

size_t upstream_registry::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return by_id_.size();
}

} // namespace roamd::net
