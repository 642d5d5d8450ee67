#include "tools/cloudsim/api.hpp"

#include <cctype>

#include "os/hex.hpp"
#include "proto/json.hpp"

namespace roamd::cloudsim {

namespace {

constexpr const char* json_type = "application/json";

/// Compares without an early exit, so that the time taken does not tell how much of a secret was right.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool is_device_id(const std::string& id) {
  if (id.size() != 16)
    return false;
  for (char c : id)
    if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f'))
      return false;
  return true;
}

/// The token of an "Authorization: Bearer <token>" header ("" for anything else). The scheme is case-insensitive.
std::string bearer_token(const std::string& header) {
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size())
    return "";
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i])
      return "";
  auto token = header.substr(scheme.size());
  auto first = token.find_first_not_of(' '), last = token.find_last_not_of(' ');
  return first == std::string::npos ? "" : token.substr(first, last - first + 1);
}

std::string trim(std::string s) {
  auto first = s.find_first_not_of(" \t"), last = s.find_last_not_of(" \t");
  return first == std::string::npos ? "" : s.substr(first, last - first + 1);
}

http_response json_response(int status, const google::protobuf::Message& msg) {
  http_response r;
  r.status = status;
  r.headers = {{"Content-Type", json_type}};
  r.body = proto::to_json(msg);
  return r;
}

http_response method_not_allowed(const std::string& allow) {
  auto r = error_response(405, "method_not_allowed", "this endpoint accepts " + allow + " only");
  r.headers.emplace_back("Allow", allow);
  return r;
}

/// The path's segments: "/v1/devices/x/policy" -> {"v1", "devices", "x", "policy"}.
std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  for (size_t at = 1; at <= path.size();) {
    auto end = path.find('/', at);
    if (end == std::string::npos)
      end = path.size();
    out.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

} // namespace

std::string http_response::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k == name)
      return v;
  return "";
}

http_response error_response(int status, const std::string& code, const std::string& message) {
  proto::ErrorBody e;
  e.set_code(code);
  e.set_message(message);
  return json_response(status, e);
}

bool etag_matches(const std::string& if_none_match, const std::string& etag) {
  for (size_t at = 0; at <= if_none_match.size();) {
    auto end = if_none_match.find(',', at);
    if (end == std::string::npos)
      end = if_none_match.size();
    auto tag = trim(if_none_match.substr(at, end - at));
    if (tag.rfind("W/", 0) == 0)
      tag = tag.substr(2);
    if (tag == "*" || tag == etag)
      return true;
    at = end + 1;
  }
  return false;
}

std::string policy_etag(const proto::Policy& policy) { return '"' + policy.revision() + '"'; }

std::string policy_problem(const proto::Policy& policy) {
  if (policy.revision().empty())
    return "the policy has no revision (it is the ETag: a changed policy needs a new one)";
  for (unsigned char c : policy.revision())
    if (c == '"' || c < 0x21 || c == 0x7f)
      return "the policy's revision '" + policy.revision() + "' has a character an ETag cannot carry";
  return "";
}

cloud_api::cloud_api(proto::OrgInfo org, proto::Policy policy, faults f, random_source random)
    : org_(std::move(org)), policy_(std::move(policy)), faults_(f), random_(std::move(random)) {}

http_response cloud_api::handle(const http_request& req, int64_t now_unix_s) {
  auto path = req.target.substr(0, req.target.find('?'));
  if (path == "/v1/debug/heartbeats")  // for tests: never subject to the injected faults
    return req.method == "GET" ? heartbeat_log() : method_not_allowed("GET");
  if (faults_.status != 0) {
    auto r = error_response(faults_.status, "injected", "cloudsim --status " + std::to_string(faults_.status));
    if (faults_.status == 204 || faults_.status == 304 || faults_.status < 200)
      r.headers.clear(), r.body.clear();  // statuses that carry no body
    return r;
  }
  if (faults_.garbage)  // what a captive portal or a broken proxy answers
    return {200, {{"Content-Type", "text/html"}}, "<html><body><h1>Welcome!</h1>Please log in.</body></html>\n"};

  http_response r;
  auto parts = segments(path);
  if (path == "/v1/devices") {
    r = req.method == "POST" ? register_device(req, now_unix_s) : method_not_allowed("POST");
  } else if (parts.size() == 4 && parts[0] == "v1" && parts[1] == "devices" &&
             (parts[3] == "policy" || parts[3] == "heartbeat")) {
    auto allowed = parts[3] == "policy" ? "GET" : "POST";
    if (req.method != allowed)
      r = method_not_allowed(allowed);
    else if (auto dev = authenticate(parts[2], req, r))
      r = parts[3] == "policy" ? get_policy(*dev, req) : heartbeat(*dev, req);
  } else {
    r = error_response(404, "not_found", "no such endpoint: " + path);
  }
  if (faults_.oversized) {
    if (r.body.empty())
      r.body = "{}";
    r.status = 200;
    r.headers = {{"Content-Type", json_type}};
    r.body.insert(0, oversized_bytes - std::min(r.body.size(), oversized_bytes), ' ');  // still valid JSON
  }
  return r;
}

http_response cloud_api::register_device(const http_request& req, int64_t now_unix_s) {
  proto::RegisterRequest reg;
  if (auto why = proto::from_json(req.body, reg); !why.empty())
    return error_response(400, "bad_request", "not a RegisterRequest: " + why);
  if (reg.organization_id() != org_.organization_id() || !same_secret(reg.fingerprint(), org_.fingerprint()))
    return error_response(403, "wrong_organization",
                          "organization '" + reg.organization_id() + "' with this fingerprint is not served here");
  if (devices_.size() >= max_devices)
    return error_response(503, "busy", "no room for more devices");
  std::string id;
  do
    id = random_hex(8);
  while (devices_.count(id) != 0);
  proto::CloudDevice dev;
  dev.set_device_id(id);
  dev.set_device_token(random_hex(32));
  dev.set_hostname(reg.hostname());
  dev.set_os(reg.os());
  dev.set_agent_version(reg.agent_version());
  dev.set_registered_unix_s(now_unix_s);
  devices_[id] = dev;
  ++state_version_;

  proto::RegisterResponse out;
  out.set_device_id(id);
  out.set_device_token(dev.device_token());
  auto r = json_response(201, out);
  r.headers.emplace_back("Location", "/v1/devices/" + id);
  return r;
}

const proto::CloudDevice* cloud_api::authenticate(const std::string& id, const http_request& req,
                                                  http_response& refusal) {
  auto it = faults_.forget_devices || !is_device_id(id) ? devices_.end() : devices_.find(id);
  if (it == devices_.end()) {
    refusal = error_response(404, "unknown_device", "device '" + id + "' is not registered here; register again");
    return nullptr;
  }
  auto token = bearer_token(req.authorization);
  if (token.empty() || !same_secret(token, it->second.device_token())) {
    refusal = error_response(401, "unauthorized",
                             token.empty() ? "no bearer token" : "this is not the device's token");
    refusal.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"roamd\"");
    return nullptr;
  }
  return &it->second;
}

http_response cloud_api::get_policy(const proto::CloudDevice&, const http_request& req) {
  auto etag = policy_etag(policy_);
  http_response r;
  if (!req.if_none_match.empty() && etag_matches(req.if_none_match, etag))
    r.status = 304;
  else
    r = json_response(200, policy_);
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

http_response cloud_api::heartbeat(const proto::CloudDevice& dev, const http_request& req) {
  proto::Heartbeat hb;
  if (auto why = proto::from_json(req.body, hb); !why.empty())
    return error_response(400, "bad_request", "not a Heartbeat: " + why);
  if (hb.device_id().empty())
    hb.set_device_id(dev.device_id());
  if (hb.device_id() != dev.device_id())
    return error_response(400, "bad_request", "the heartbeat names device '" + hb.device_id() + "', not the path's");
  heartbeats_.push_back(std::move(hb));
  if (heartbeats_.size() > heartbeats_kept)
    heartbeats_.pop_front();
  return {204, {}, ""};
}

http_response cloud_api::heartbeat_log() const {
  proto::HeartbeatLog log;
  for (const auto& hb : heartbeats_)
    *log.add_heartbeats() = hb;
  return json_response(200, log);
}

proto::CloudState cloud_api::state() const {
  proto::CloudState s;
  for (const auto& [id, dev] : devices_)
    *s.add_devices() = dev;
  return s;
}

size_t cloud_api::restore(const proto::CloudState& state) {
  size_t taken = 0;
  for (const auto& dev : state.devices()) {
    if (!is_device_id(dev.device_id()) || dev.device_token().empty() || devices_.size() >= max_devices)
      continue;
    taken += devices_.emplace(dev.device_id(), dev).second ? 1 : 0;
  }
  return taken;
}

std::string cloud_api::random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  random_(reinterpret_cast<unsigned char*>(raw.data()), raw.size());
  return os::to_hex(raw);
}

} // namespace roamd::cloudsim
