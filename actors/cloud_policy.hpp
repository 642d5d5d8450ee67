#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "proto/cloud.pb.h"
#include "proto/control.pb.h"

/// Pure functions behind the cloud registrar: checking what the cloud sends, turning a policy into the router's
/// route set, and the timing of syncs and retries.
namespace roamd::actors {

/// The configuration's `cloud.transport` as the policy's enum (unknown text: encrypted with fallback).
proto::Policy::TransportMode transport_mode(const std::string& config_text);
std::string to_string(proto::Policy::TransportMode mode);

/// A resolver of the policy in the configuration's resolver syntax ("IP:PORT", "tls://IP:PORT#NAME;pin-sha256=B64",
/// "https://IP:PORT/PATH#NAME;pin-sha256=B64"); "" with the reason in `why` when it cannot be used.
std::string resolver_text(const proto::Policy::Resolver& r, std::string& why);

/// The cloud resolvers a policy puts in force under `mode` (the policy's own mode unless unspecified), in order:
/// encrypted ones first with fallback, only encrypted or only plain ones otherwise. Resolvers whose transport this
/// agent does not know are left out.
std::vector<std::string> usable_resolvers(const proto::Policy& p, proto::Policy::TransportMode configured);

/// Why the policy must be refused ("" when it is good): an empty or unprintable revision, an invalid internal
/// domain, resolver address, name, path or pin, no usable resolver under the transport mode while resolvers are
/// listed, a probe half set or with a non-address, an invalid trusted domain, a sync interval under 60 s or over
/// a week, more than 4096 domains or 16 resolvers.
std::string policy_problem(const proto::Policy& p, proto::Policy::TransportMode configured);

/// Why a registration (an answer, or one kept on disk) cannot be used ("" when it can): a device id that is not 16
/// lowercase hex digits, or an empty or unprintable token.
std::string registration_problem(const std::string& device_id, const std::string& device_token);

/// Why an organisation file cannot be used ("" when it can).
std::string org_problem(const proto::OrgInfo& org);

/// The router's "cloud" route set: the device id (8 bytes from its 16 hex digits), a default route with the usable
/// resolvers (none: the configured ones stay), and a `local` route per internal domain. Without a policy only the
/// identity.
proto::RouteUpdate to_route_update(const std::string& device_id_hex, const proto::Policy* policy,
                                   proto::Policy::TransportMode configured);

/// Retry delay after `failures` consecutive failures (1 = the first): `first` doubled per further failure up to
/// `max`, then spread over [half, full] by `unit` in [0, 1) so that a fleet does not retry in step.
std::chrono::milliseconds backoff_delay(uint32_t failures, std::chrono::milliseconds first,
                                        std::chrono::milliseconds max, double unit);

/// The delay to the next regular sync: `interval` plus up to `jitter`, by `unit` in [0, 1).
std::chrono::milliseconds sync_delay(std::chrono::seconds interval, std::chrono::seconds jitter, double unit);

} // namespace roamd::actors
