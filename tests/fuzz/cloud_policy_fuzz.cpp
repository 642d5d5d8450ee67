// libFuzzer target for what the cloud sends the agent: any bytes as a Policy, RegisterResponse or OrgInfo in JSON
// (protobuf's parser, then roamd's checks) and as a kept CloudRegistration (binary). No crash, and a policy that
// passes policy_problem() turns into routes that the router accepts: every resolver parses, every local domain is a
// canonical name, the identity is 8 bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "actors/cloud_policy.hpp"
#include "net/endpoint.hpp"
#include "net/resolver_address.hpp"
#include "proto/json.hpp"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "cloud_policy_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check_policy(const roamd::proto::Policy& p) {
  using namespace roamd;
  for (auto mode : {proto::Policy::PLAIN, proto::Policy::ENCRYPTED_WITH_FALLBACK, proto::Policy::ENCRYPTED_ONLY}) {
    if (!actors::policy_problem(p, mode).empty())
      continue;
    auto u = actors::to_route_update("0123456789abcdef", &p, mode);
    if (u.device_id().size() != 8)
      fail("identity", std::to_string(u.device_id().size()) + " bytes");
    for (const auto& r : u.routes()) {
      for (const auto& text : r.resolvers())
        if (!net::parse_resolver(text))
          fail("an accepted policy gave a resolver the router refuses", text);
      if (!r.domain().empty() && net::normalize_domain(r.domain()) != r.domain())
        fail("a local domain that is not canonical", r.domain());
    }
    if (p.resolvers_size() > 0 && actors::usable_resolvers(p, mode).empty())
      fail("an accepted policy with resolvers but none usable", p.revision());
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace roamd;
  std::string_view text{reinterpret_cast<const char*>(data), size};
  proto::Policy p;
  if (proto::from_json(text, p).empty())
    check_policy(p);
  proto::RegisterResponse r;
  if (proto::from_json(text, r).empty() && actors::registration_problem(r.device_id(), r.device_token()).empty() && r.device_id().size() != 16)
    fail("an accepted device id", r.device_id());
  proto::OrgInfo org;
  if (proto::from_json(text, org).empty())
    (void)actors::org_problem(org);
  proto::CloudRegistration kept;
  if (kept.ParseFromString(std::string{text}) && kept.has_policy())
    check_policy(kept.policy());
  return 0;
}
