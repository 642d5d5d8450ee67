#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/atoms.hpp"
#include "actors/peers.hpp"
#include "actors/proto_inspect.hpp"
#include "net/https_client.hpp"
#include "os/file_system.hpp"
#include "proto/cloud.pb.h"
#include "proto/inspect.pb.h"

namespace roamd::actors {

/// The cloud-registration actor: registers the device with the organisation named by the organisation file, keeps
/// the device id (the EDNS identity) and the last good policy in <state_dir>/cloud.pb, syncs the policy on a timer
/// with jitter and soon after a link-set change (conditional requests), sends heartbeats, registers again when the
/// cloud no longer knows the device, and backs off exponentially while the cloud cannot be reached. Every policy in
/// force goes to the router as the "cloud" route set and to the network-state actor. Nothing here is on the DNS path:
/// the data plane goes on with its snapshot whatever the cloud does.
using cloud_registrar_actor = caf::typed_actor<
  caf::reacts_to<proto::AdapterSnapshot>,  // a link-set change (forwarded by the arbiter): sync soon
  caf::reacts_to<sync_atom>,               // sync now (SIGHUP): also forgets the backoff
  caf::reacts_to<sync_atom, uint64_t>,     // timer: register or sync (generation)
  caf::reacts_to<beat_atom, uint64_t>,     // timer: heartbeat (generation)
  caf::reacts_to<http_atom, uint64_t, int32_t, std::string, std::string, std::string>,  // an answer: serial,
                                           // status (0 = none), ETag, body, error
  caf::reacts_to<guard_atom, uint64_t>,    // timer: a request that never came back (serial)
  caf::replies_to<caf::get_atom, status_atom>::with<proto::CloudStatus>,
  caf::replies_to<caf::get_atom, policy_atom>::with<proto::Policy>  // the policy in force (empty: none)
  >;

/// Sends one API request; `done` may run on any thread. The real one is net::https_client; tests script answers.
using http_fn = std::function<void(net::https_request, std::function<void(net::https_response)> done)>;

struct cloud_registrar_options {
  std::string org_file;
  std::string api;                 // the base URL (recorded with the registration)
  std::string state_dir;
  std::string hostname, os, agent_version;
  std::chrono::seconds sync_interval{3600};
  std::chrono::seconds sync_jitter{1200};
  std::chrono::seconds heartbeat_interval{900};  // 0 = none
  std::chrono::milliseconds api_timeout{10000};
  std::chrono::milliseconds retry_first{5000};   // backoff after the first failure, doubling ...
  std::chrono::milliseconds retry_max{1800000};  // ... up to 30 minutes
  std::chrono::milliseconds after_change{2000};  // sync this long after a link-set change (the network settles)
  proto::Policy::TransportMode transport = proto::Policy::ENCRYPTED_WITH_FALLBACK;
};

struct cloud_registrar_deps {
  std::shared_ptr<os::file_system> fs;
  http_fn http;
  std::function<int64_t()> now_unix_ms;
  std::function<double()> random;  // uniform in [0, 1): jitter and backoff spread
  std::shared_ptr<peers> directory;
};

struct cloud_registrar_state {
  enum class call { none, register_device, policy, heartbeat };

  cloud_registrar_options opts;
  cloud_registrar_deps deps;
  proto::CloudRegistration reg;  // device_id empty = not registered; policy absent = none yet
  proto::CloudStatus status;
  uint64_t sync_gen = 0, beat_gen = 0, serial = 0;
  std::map<uint64_t, call> pending;  // serial -> what it was
  bool syncing = false;              // a register or policy request is out
  bool beating = false;              // a heartbeat is out
  bool resync = false;               // a link-set change arrived while a request was out
  int64_t started_unix_ms = 0;

  std::string path() const { return opts.state_dir + "/cloud.pb"; }

  static inline const char* name = "cloud_registrar";
};

using cloud_registrar_ptr = cloud_registrar_actor::stateful_pointer<cloud_registrar_state>;

cloud_registrar_actor::behavior_type cloud_registrar(cloud_registrar_ptr self, cloud_registrar_options opts,
                                                     cloud_registrar_deps deps);

} // namespace roamd::actors
