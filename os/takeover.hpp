#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "os/command_runner.hpp"
#include "os/file_system.hpp"
#include "os/journal.hpp"
#include "os/resolver_plan.hpp"
#include "proto/journal.pb.h"

/// Executes takeover plans under the journal: nothing is changed before a journal describing the original and what
/// roamd is about to write is on disk, and the journal is removed only after everything is back. Every step is
/// crash-safe: after a kill -9 anywhere, `restore` with the journal left behind puts the originals back.
namespace roamd::os {

/// How a journaled file compares with what is there now.
enum class file_verdict {
  original,  // still (or again) the original: nothing to do
  ours,      // exactly what roamd wrote
  torn,      // an in-place write or restore of roamd's was interrupted (an empty file, or a shortened original)
  edited,    // roamd's change is still in force with someone's edits around it (os/operator_edits): kept
  foreign,   // someone else changed it since: theirs now, left as is
};

const char* to_string(file_verdict v);

/// Parsed resolver settings as their message (the journal's original settings, the enforcer's status).
proto::ResolverSettings to_proto(const resolv_settings& s);

/// What the journal says about `jf` given the file's state now; `listen` is the journal's listen address.
file_verdict classify(const proto::JournalFile& jf, const file_state& now, const std::string& listen);

struct takeover_result {
  bool ok = false;
  std::string reason;  // success: what was done; failure: why nothing was changed (or what could not be undone)
  proto::Journal journal;
};

struct restore_result {
  bool ok = false;          // every file is as the journal wanted it or someone else's; the journal is gone
  std::string reason;       // one line per file: path and what happened
  std::vector<std::string> adopted;  // files someone else changed since (their version stays)
};

struct reassert_result {
  bool ok = false;
  std::string reason;
  uint32_t writes = 0;  // files written
};

class takeover_engine {
public:
  takeover_engine(std::shared_ptr<file_system> fs, std::shared_ptr<command_runner> cmd,
                  std::shared_ptr<journal_store> store);

  /// Journal first (fsync + rename), then the edits, then the apply command. On any failure everything done so far
  /// is undone, the journal removed, and `reason` says which step failed and why.
  takeover_result take(const takeover_plan& plan, int64_t now_unix_ms);

  /// Puts back every file of `journal` that is still roamd's (or torn), leaves files someone else changed, runs the
  /// restore command when something was put back, then removes the journal. Idempotent.
  restore_result restore(const proto::Journal& journal);

  /// Takes the settings back after someone else replaced them, keeping the journal's originals (the user's settings,
  /// not the intruder's, are what a restore puts back): every file that is no longer roamd's is written again with
  /// what roamd wrote at takeover, then the apply command runs. `journal` is saved again only when a write had to
  /// switch to in place (a bind mount appeared).
  reassert_result reassert(proto::Journal& journal);

  /// Whether every file of the journal is still exactly what roamd wrote.
  bool all_ours(const proto::Journal& journal);

  /// Takes someone's edits to roamd's files into the journal (README, "Operator edits"): an edited resolv.conf's
  /// search and options go into the original, resolvconf.conf's other lines likewise, and what is on disk becomes
  /// what roamd wrote (so it is roamd's again, nothing is rewritten). The journal is saved before it is used.
  /// Returns what was taken in ("" when nothing), or why it could not be saved.
  std::string absorb_edits(proto::Journal& journal);

  /// Records the settings in force now as the new original and writes roamd's settings again (the file backend:
  /// someone other than a VPN replaced roamd's resolv.conf, so those are the network's settings now). The journal
  /// holds the new original and the new content before anything is written. Other backends: `reassert`.
  /// Without `write` (roamd intercepting or yielded: it does not write) the new original is only recorded.
  reassert_result rebase(proto::Journal& journal, bool write = true);

  /// With no journal: a copy of roamd's resolv.conf at `path` (its marker on the first line) names a roamd that is
  /// not running (a VPN put its backup of roamd's file back after roamd stopped). Puts back the user's settings of
  /// the last restore's record when it has them for `path`, else rebuilds them from the file's "original
  /// nameserver" notes with its search and options. ok with an empty reason when the file is no such copy.
  restore_result repair(const std::string& path);

private:
  os_error write_edit(proto::JournalFile& jf, const std::string& content, proto::Journal& journal);
  os_error put_back(const proto::JournalFile& jf);
  /// Puts `content` back where the original regular file was, as put_back does.
  os_error put_back_content(const proto::JournalFile& jf, const std::string& content);
  std::string run(const std::vector<std::string>& argv);
  /// In the record a restore is about to save, a VPN's file (roamd took over while it was in force) gives way to the
  /// user's settings of the earlier record.
  void keep_users_over_vpns(proto::Journal& record);
  /// roamd took over from a VPN's resolv.conf (the VPN connected first) and `now` is a VPN's backup of an earlier
  /// roamd file put back at disconnect (it notes other original nameservers than roamd's file of this takeover):
  /// `jf` with the user's settings as its original, from the last restore's record or else the backup's notes.
  std::optional<proto::JournalFile> users_under_vpns(const proto::JournalFile& jf, const file_state& now);
  /// Removes temporaries a killed earlier run left next to the journal and the journaled files.
  void sweep(const proto::Journal& journal);

  std::shared_ptr<file_system> fs_;
  std::shared_ptr<command_runner> cmd_;
  std::shared_ptr<journal_store> store_;
};

} // namespace roamd::os
