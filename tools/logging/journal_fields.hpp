#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>

namespace roamd::logging {

/// The syslog priority of an spdlog level, as journald's PRIORITY field wants it: trace and debug 7 (debug),
/// info 6, warn 4 (warning), err 3, critical 2; off (never logged) maps to 6.
int syslog_priority(spdlog::level::level_enum level);

/// The component a log line names before its first ": " ("conflict_arbiter: taken over" -> "conflict_arbiter"),
/// when that text looks like an identifier: a letter or '_', then letters, digits or '_', at most 64 characters.
/// Empty otherwise ("inspection port on x", "a b: c").
std::string_view component_of(std::string_view message);

/// The fields of one journal entry for a log line, each "NAME=value" ready to be one iovec of sd_journal_sendv:
/// MESSAGE (the whole line, component prefix included, so journalctl reads like roamd's stderr), PRIORITY,
/// SYSLOG_IDENTIFIER=roamd, ROAMD_COMPONENT when component_of() finds one, and CODE_FILE, CODE_LINE, CODE_FUNC
/// when `where` holds a source location (the SPDLOG_* macros record one; spdlog::info() does not).
std::vector<std::string> journal_fields(spdlog::level::level_enum level, std::string_view message,
                                        const spdlog::source_loc& where);

} // namespace roamd::logging
