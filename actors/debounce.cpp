#include "actors/debounce.hpp"

#include <algorithm>

namespace roamd::actors {

debounce::time_point debounce::on_event(time_point now) {
  if (!first_)
    first_ = now;
  last_ = std::max(last_, now);
  ++events_;
  return *deadline();
}

std::optional<debounce::time_point> debounce::deadline() const {
  if (!first_)
    return std::nullopt;
  return std::min(last_ + quiet_, *first_ + cap_);
}

bool debounce::fire(time_point now) {
  auto due = deadline();
  if (!due || now < *due)
    return false;
  last_burst_ = events_;
  events_ = 0;
  first_.reset();
  return true;
}

} // namespace roamd::actors
