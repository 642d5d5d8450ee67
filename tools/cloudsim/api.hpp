#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "proto/cloud.pb.h"

/// The reference cloud's request handling as plain functions of (method, target, headers, body): no sockets, no
/// files, no clock or randomness of its own. tools/cloudsim's HTTPS server only moves bytes to and from it.
namespace roamd::cloudsim {

/// One HTTP request, as far as the API looks at it.
struct http_request {
  std::string method;         // "GET", "POST", ...
  std::string target;         // the request target: path and optional "?query"
  std::string authorization;  // the Authorization header ("" when absent)
  std::string if_none_match;  // the If-None-Match header ("" when absent)
  std::string body;
};

/// One HTTP answer: status, extra headers (Content-Type included when there is a body) and body.
struct http_response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The value of header `name` (exact spelling), "" when absent.
  std::string header(const std::string& name) const;
};

/// Faults to inject, for the agent's tests (cloudsim's command line).
struct faults {
  bool forget_devices = false;  // every device is unknown: 404 unknown_device
  int status = 0;               // answer every API request with this status and an ErrorBody (0: off)
  bool oversized = false;       // every API answer is 200 with a body of oversized_bytes (the real JSON, padded)
  bool garbage = false;         // every API answer is 200 with a body that is not JSON
};

constexpr size_t oversized_bytes = 10 << 20;
constexpr size_t max_devices = 10000;   // registrations beyond: 503 busy
constexpr size_t heartbeats_kept = 64;  // GET /v1/debug/heartbeats returns at most this many

/// An answer carrying ErrorBody {code, message} as JSON.
http_response error_response(int status, const std::string& code, const std::string& message);

/// Whether an If-None-Match header value matches `etag` (a quoted entity tag): "*", or one of a comma-separated
/// list, weak ("W/...") or not.
bool etag_matches(const std::string& if_none_match, const std::string& etag);

/// The entity tag of a policy: its revision in double quotes.
std::string policy_etag(const proto::Policy& policy);

/// Why `policy` cannot be served ("" when it can): an empty revision, or one with a '"' or a control character
/// (it becomes the ETag).
std::string policy_problem(const proto::Policy& policy);

/// The cloud of one organisation: registered devices, the policy it serves and the heartbeats it received.
class cloud_api {
public:
  /// Fills a buffer with random bytes (device ids and tokens): the OS's CSPRNG in cloudsim, a fixed one in tests.
  using random_source = std::function<void(unsigned char*, size_t)>;

  cloud_api(proto::OrgInfo org, proto::Policy policy, faults f, random_source random);

  /// Answers one request; `now_unix_s` is recorded with registrations.
  http_response handle(const http_request& req, int64_t now_unix_s);

  /// Serves `policy` from now on (a new revision is a new ETag). The caller checks policy_problem first.
  void set_policy(proto::Policy policy) { policy_ = std::move(policy); }
  const proto::Policy& policy() const noexcept { return policy_; }

  /// The registered devices, to persist; state_version() grows with every change of them.
  proto::CloudState state() const;
  uint64_t state_version() const noexcept { return state_version_; }

  /// Adopts devices persisted earlier (entries without a valid id or a token are skipped). How many were taken.
  size_t restore(const proto::CloudState& state);

private:
  http_response register_device(const http_request& req, int64_t now_unix_s);
  http_response get_policy(const proto::CloudDevice& dev, const http_request& req);
  http_response heartbeat(const proto::CloudDevice& dev, const http_request& req);
  http_response heartbeat_log() const;

  /// The device of a /v1/devices/{id}/... request when it exists and the bearer token is its own; else the
  /// 404 or 401 answer, in `refusal`.
  const proto::CloudDevice* authenticate(const std::string& id, const http_request& req, http_response& refusal);
  std::string random_hex(size_t bytes);

  proto::OrgInfo org_;
  proto::Policy policy_;
  faults faults_;
  random_source random_;
  std::map<std::string, proto::CloudDevice> devices_;  // by device id
  std::deque<proto::Heartbeat> heartbeats_;
  uint64_t state_version_ = 0;
};

} // namespace roamd::cloudsim
