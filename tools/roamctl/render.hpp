#pragma once

#include <cstdint>
#include <string>

#include <google/protobuf/message.h>

#include "proto/inspect.pb.h"

/// roamctl's output: each answer as text for people, or its payload as JSON (protobuf's mapping, field names as in
/// the .proto files).
namespace roamd::roamctl {

/// The answer's payload as human-readable text; `now_ms` is the time ages are measured against.
std::string render_text(const proto::InspectResponse& r, int64_t now_ms);

/// The answer's payload as JSON, indented or on one line ("{}" when it has none).
std::string render_json(const proto::InspectResponse& r, bool pretty = true);

} // namespace roamd::roamctl
