// libFuzzer target for the rtnetlink parser and the adapter model: any bytes, no crash, and invariants that hold for
// every input (links sorted by unique index with a kernel-sized name, "ADDR/PREFIX" everywhere, framing counts
// bounded by the input, replies carry an errno, and a sweep with nothing dumped empties the model).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "os/netlink_parse.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "netlink_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

bool is_prefixed(const std::string& s) {
  auto slash = s.find('/');
  return slash != std::string::npos && slash > 0 && slash + 1 < s.size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roamd::os::adapter_model model;
  auto batch = roamd::os::apply_netlink(data, size, model);
  check(batch.messages + batch.malformed <= size / 16 + 1, "more messages than the input can frame");
  for (const auto& r : batch.replies)
    check(r.error >= 0, "negative errno in a reply");
  auto s = model.snapshot();
  std::uint32_t last = 0;
  for (const auto& l : s.links()) {
    check(l.index() > last, "links not sorted by unique index");
    last = l.index();
    check(!l.name().empty() && l.name().size() < 16, "link name empty or longer than IFNAMSIZ");
    for (const auto& a : l.addresses())
      check(is_prefixed(a), "address without prefix");
  }
  for (const auto& r : s.routes())
    check(is_prefixed(r.destination()), "route destination without prefix");
  check(static_cast<std::size_t>(s.links_size()) == model.link_count(), "snapshot lost links");
  check(static_cast<std::size_t>(s.routes_size()) == model.route_count(), "snapshot lost routes");
  // A complete dump that mentions nothing leaves nothing behind.
  using roamd::os::nl_table;
  for (auto t : {nl_table::links, nl_table::addresses, nl_table::routes})
    model.end_sweep(t, model.begin_sweep(t));
  check(model.link_count() == 0 && model.address_count() == 0 && model.route_count() == 0, "sweep kept entries");
  return 0;
}
