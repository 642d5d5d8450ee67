#pragma once

#include <string>
#include <string_view>

#include "proto/config.pb.h"

namespace roamd::config {

/// The configuration with every default filled in.
proto::Config defaults();

/// Parses TOML text. On success returns true and fills `out` (defaults for absent keys; `out.source()` =
/// `source_name`). On failure returns false, leaves `out` untouched and sets `error` to one line:
/// "<source_name>:<line>:<column>: <key path>: <what was expected>, got <what was found>". When several things are
/// wrong, the one that comes first in the text is reported. Never throws.
bool load_string(std::string_view text, std::string_view source_name, proto::Config& out, std::string& error);

/// Reads the file at `path` then calls load_string with `path` as the source name. A missing or unreadable file (or
/// one over 1 MiB) gives "<path>: cannot read: <strerror>". Never throws.
bool load_file(const std::string& path, proto::Config& out, std::string& error);

} // namespace roamd::config
