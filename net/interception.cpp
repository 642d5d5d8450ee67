#include "net/interception.hpp"

#include <cstring>

#include "net/endpoint.hpp"

namespace roamd::net {

namespace {

/// The question's bytes: name (lower-cased wire form), type and class.
std::string question_of(const dns::query_info& q) {
  std::string out(reinterpret_cast<const char*>(q.qname.bytes.data()), q.qname.size);
  out.push_back(static_cast<char>(q.qtype >> 8));
  out.push_back(static_cast<char>(q.qtype & 0xFF));
  out.push_back(static_cast<char>(q.qclass >> 8));
  out.push_back(static_cast<char>(q.qclass & 0xFF));
  return out;
}

} // namespace

uint64_t loop_guard::enter(const dns::query_info& q, uint32_t& turns) {
  turns = 0;
  if (limit_ == 0)
    return 0;
  auto question = question_of(q);
  uint64_t hash = std::hash<std::string>{}(question);
  std::lock_guard<std::mutex> lock{mtx_};
  auto range = by_hash_.equal_range(hash);
  auto it = range.first;
  while (it != range.second && it->second.question != question)
    ++it;
  if (it == range.second)
    it = by_hash_.emplace(hash, entry{question, 0});
  turns = it->second.count;
  if (turns >= 2 * limit_)
    return 0;
  ++it->second.count;
  uint64_t key = next_key_++;
  keys_.emplace(key, std::make_pair(hash, std::move(question)));
  return key;
}

void loop_guard::leave(uint64_t key) {
  if (key == 0)
    return;
  std::lock_guard<std::mutex> lock{mtx_};
  auto k = keys_.find(key);
  if (k == keys_.end())
    return;
  auto range = by_hash_.equal_range(k->second.first);
  for (auto it = range.first; it != range.second; ++it)
    if (it->second.question == k->second.second) {
      if (--it->second.count == 0)
        by_hash_.erase(it);
      break;
    }
  keys_.erase(k);
}

size_t loop_guard::in_flight() const {
  std::lock_guard<std::mutex> lock{mtx_};
  return keys_.size();
}

chosen_servers::list chosen_servers::get(const routing_table& table, const boost::asio::ip::udp::endpoint& server) {
  if (table.generation() != generation_) {
    by_server_.clear();  // a new table may bind the address to another link (or to none)
    generation_ = table.generation();
  }
  auto text = to_string(server);
  if (auto it = by_server_.find(text); it != by_server_.end())
    return it->second;
  // The table's upstream for the address, preferring one bound to a link: the VPN's server asked through the VPN.
  std::shared_ptr<upstream> found;
  auto consider = [&](const std::vector<std::shared_ptr<upstream>>& list) {
    for (auto& u : list)
      if (!u->tls && u->endpoint == server && (!found || (found->interface.empty() && !u->interface.empty())))
        found = u;
  };
  for (auto& r : table.routes()) {
    consider(r.resolvers);
    consider(r.fallback);
    consider(r.local_fallback);
  }
  consider(table.fallback().resolvers);
  consider(table.fallback().fallback);
  consider(table.fallback().local_fallback);
  if (!found) {
    if (registry_->size() >= registry_cap)
      return nullptr;
    found = registry_->get(server);
  }
  if (by_server_.size() >= 256)
    by_server_.clear();  // a cache, bounded
  auto chosen = std::make_shared<const std::vector<std::shared_ptr<upstream>>>(1, std::move(found));
  by_server_.emplace(std::move(text), chosen);
  return chosen;
}

} // namespace roamd::net
