#pragma once

#include <optional>
#include <string>

#include "os/file_system.hpp"
#include "proto/journal.pb.h"

/// What an edit someone made to one of roamd's files means, told from the journal: pure functions, so that the
/// meaning documented in the README ("Operator edits") is unit-tested without a real /etc.
namespace roamd::os {

/// What roamd's change to a journaled file is.
enum class file_role {
  resolv_conf,      // roamd's whole resolv.conf (the file backend): its one nameserver is roamd's listen address
  resolvconf_conf,  // the original resolvconf.conf with roamd's lines appended (the resolvconf backend)
  created,          // a file roamd created (the resolved and NetworkManager drop-ins): roamd's alone
};

/// The role, told from what roamd wrote (journals of older versions carry no role of their own).
file_role role_of(const proto::JournalFile& jf, const std::string& listen);

/// When `now` is roamd's change with someone else's edits around it (roamd's part still in force), the content
/// the edit means the file to have without roamd: for resolv.conf, the original with the edited search and options
/// lines (only when the edited file names nothing but roamd's `listen` and the original was a regular file); for
/// resolvconf.conf, the edited file without roamd's lines. nullopt when `now` is no such edit (created files:
/// always nullopt, they are removed whatever is in them).
std::optional<std::string> edited_original(const proto::JournalFile& jf, const file_state& now,
                                           const std::string& listen);

/// Whether `now` is roamd's change with someone's edits around it: a resolv.conf naming nothing but `listen`, a
/// resolvconf.conf still holding roamd's lines, a created file with anything in it. The content to put back is
/// `edited_original` (none when the original was a symlink or the file did not exist: put those back as they were).
bool edited(const proto::JournalFile& jf, const file_state& now, const std::string& listen);

/// `text` (roamd's resolv.conf with its nameserver edited in place) without roamd's comment lines: the ones of
/// `written` (its marker and header) and its "original nameserver" notes. What is left is the edit's settings.
std::string without_roamds_comments(const std::string& text, const std::string& written);

} // namespace roamd::os
