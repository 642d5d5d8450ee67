#pragma once

#include <string>
#include <string_view>

#include <google/protobuf/message.h>

/// The cloud API's JSON: protobuf's own mapping (google::protobuf::util), the same on both sides.
namespace roamd::proto {

/// Reads `text` into `msg` (cleared first). Field names may be lowerCamelCase ("organizationId") or the proto's own
/// ("organization_id"); unknown fields are ignored and a leading UTF-8 byte order mark is skipped. "" on success,
/// else why not (protobuf's message).
std::string from_json(std::string_view text, google::protobuf::Message& msg);

/// `msg` as one line of JSON with lowerCamelCase names; fields at their default values are written too, so that
/// readers see every field ("syncJitterS": 0). uint64 values are strings ("42"), as the mapping says.
std::string to_json(const google::protobuf::Message& msg);

/// Reads the JSON file `path` into `msg`. "" on success, else one line naming the file and what is wrong.
std::string read_json_file(const std::string& path, google::protobuf::Message& msg);

/// Writes `msg` as JSON to `path` with permissions `mode`: a temporary file in the same directory, fsynced and
/// renamed over `path`, so that a crash leaves the old file or the new one. "" on success, else what failed.
std::string write_json_file(const std::string& path, const google::protobuf::Message& msg, unsigned mode);

} // namespace roamd::proto
