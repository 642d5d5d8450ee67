#pragma once

#include "proto/config.pb.h"
#include "tools/config/toml_reader.hpp"

namespace roamd::config::detail {

/// Reads every section of a parsed document into `out`, which holds the defaults; keys that are absent keep them.
/// Problems go to `r`; on a problem `out` is partly filled and must be dropped.
void read_document(toml_reader& r, const toml::table& root, proto::Config& out);

} // namespace roamd::config::detail
