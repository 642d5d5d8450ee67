#include "os/takeover.hpp"

#include <unistd.h>

#include <cerrno>

#include "os/operator_edits.hpp"
#include "os/sha256.hpp"
#include "os/text.hpp"

namespace roamd::os {

namespace {

bool regular_and_readable(const file_state& st) {
  return st.exists && !st.is_symlink && st.readable;
}

bool is_strict_prefix(const std::string& shorter, const std::string& longer) {
  return shorter.size() < longer.size() && longer.compare(0, shorter.size(), shorter) == 0;
}

/// The original a journal entry records, as the file would look on disk (for owner_of).
file_state recorded_original(const proto::JournalFile& jf) {
  file_state st;
  st.exists = jf.existed();
  st.is_symlink = jf.was_symlink();
  st.link_target = jf.symlink_target();
  st.readable = true;
  st.content = jf.original();
  return st;
}

bool recorded_as_vpns(const proto::JournalFile& jf) {
  return jf.existed() && owner_of(jf.path(), recorded_original(jf)) == resolv_owner::vpn_script;
}

/// `to` records `from`'s original (what a restore puts back), keeping what roamd wrote.
void take_original(proto::JournalFile& to, const proto::JournalFile& from) {
  to.set_existed(from.existed());
  to.set_was_symlink(from.was_symlink());
  to.set_symlink_target(from.symlink_target());
  to.set_original(from.original());
  to.set_mode(from.mode());
  to.set_uid(from.uid());
  to.set_gid(from.gid());
}

/// A resolv.conf with `servers` and the search and options of `text` (a copy of roamd's file).
std::string rebuilt_from_notes(const std::string& text, const std::vector<std::string>& servers) {
  auto settings = parse_resolv_conf(text);
  return "# Put back by roamd from the original nameservers its file noted.\n" +
         resolv_conf_lines(servers, settings.search, settings.options);
}

} // namespace

proto::ResolverSettings to_proto(const resolv_settings& s) {
  proto::ResolverSettings out;
  for (const auto& n : s.nameservers)
    out.add_nameservers(n);
  for (const auto& d : s.search)
    out.add_search(d);
  for (const auto& o : s.options)
    out.add_options(o);
  return out;
}

const char* to_string(file_verdict v) {
  switch (v) {
    case file_verdict::original:
      return "original";
    case file_verdict::ours:
      return "roamd's";
    case file_verdict::torn:
      return "torn write";
    case file_verdict::edited:
      return "roamd's, edited by someone";
    case file_verdict::foreign:
      return "changed by someone else";
  }
  return "unknown";
}

file_verdict classify(const proto::JournalFile& jf, const file_state& now, const std::string& listen) {
  if (!jf.existed() && !now.exists)
    return file_verdict::original;
  if (jf.existed() && jf.was_symlink() && now.is_symlink && now.link_target == jf.symlink_target())
    return file_verdict::original;
  if (jf.existed() && !jf.was_symlink() && regular_and_readable(now) && now.content == jf.original())
    return file_verdict::original;
  if (regular_and_readable(now) && sha256(now.content) == jf.written_sha256())
    return file_verdict::ours;
  // An in-place write (truncate, then write) or an in-place restore killed half-way leaves an empty file or a
  // shortened original: roamd's own doing, to be put back.
  if (jf.in_place() && regular_and_readable(now) &&
      (now.content.empty() || (!jf.was_symlink() && is_strict_prefix(now.content, jf.original()))))
    return file_verdict::torn;
  if (edited(jf, now, listen))
    return file_verdict::edited;
  return file_verdict::foreign;
}

takeover_engine::takeover_engine(std::shared_ptr<file_system> fs, std::shared_ptr<command_runner> cmd,
                                 std::shared_ptr<journal_store> store)
  : fs_(std::move(fs)), cmd_(std::move(cmd)), store_(std::move(store)) {
}

std::string takeover_engine::run(const std::vector<std::string>& argv) {
  if (argv.empty())
    return {};
  auto r = cmd_->run(argv);
  if (r.exit_code == 0)
    return {};
  auto out = r.output.substr(0, 300);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return "`" + join(argv) + "` " + (r.exit_code < 0 ? "could not run" : "exited " + std::to_string(r.exit_code)) +
         (out.empty() ? "" : ": " + out);
}

os_error takeover_engine::write_edit(proto::JournalFile& jf, const std::string& content, proto::Journal& journal) {
  if (!jf.existed())
    if (auto err = fs_->make_dirs(parent_dir(jf.path()), 0755))
      return err;
  if (!jf.in_place()) {
    // A regular file keeps its mode and owner; a file replacing a symlink (whose target may belong to a service
    // user, e.g. systemd-resolve) or a new one is roamd's: its own user, 0644.
    bool keep = jf.existed() && !jf.was_symlink();
    auto err = fs_->write_atomic(jf.path(), content, keep ? jf.mode() : 0644, keep ? jf.uid() : ::geteuid(),
                                 keep ? jf.gid() : ::getegid());
    if (!err || err.code != EBUSY)
      return err;
    // A bind mount the mount table did not show: say so in the journal before writing in place.
    jf.set_in_place(true);
    if (auto jerr = store_->save(journal))
      return jerr;
  }
  return fs_->write_in_place(jf.path(), content);
}

os_error takeover_engine::put_back(const proto::JournalFile& jf) {
  if (!jf.existed())
    return fs_->remove(jf.path());
  if (jf.was_symlink())
    return fs_->symlink_atomic(jf.path(), jf.symlink_target());
  if (jf.in_place() || fs_->inspect(jf.path()).bind_mounted)
    return fs_->write_in_place(jf.path(), jf.original());
  return fs_->write_atomic(jf.path(), jf.original(), jf.mode(), jf.uid(), jf.gid());
}

os_error takeover_engine::put_back_content(const proto::JournalFile& jf, const std::string& content) {
  if (!jf.existed() || jf.was_symlink())
    return put_back(jf);
  if (jf.in_place() || fs_->inspect(jf.path()).bind_mounted)
    return fs_->write_in_place(jf.path(), content);
  return fs_->write_atomic(jf.path(), content, jf.mode(), jf.uid(), jf.gid());
}

void takeover_engine::sweep(const proto::Journal& journal) {
  fs_->remove_stale_temporaries(store_->path());
  for (const auto& jf : journal.files())
    fs_->remove_stale_temporaries(jf.path());
}

takeover_result takeover_engine::take(const takeover_plan& plan, int64_t now_unix_ms) {
  takeover_result out;
  if (!plan.refusal.empty()) {
    out.reason = plan.refusal;
    return out;
  }
  auto& j = out.journal;
  j.set_version(1);
  j.set_boot_id(fs_->boot_id());
  j.set_backend(to_string(plan.backend));
  j.set_owner(to_string(plan.owner));
  j.set_taken_unix_ms(now_unix_ms);
  j.set_listen(plan.listen);
  for (const auto& a : plan.restore_command)
    j.add_restore_command(a);
  for (const auto& a : plan.apply_command)
    j.add_apply_command(a);
  *j.mutable_original_settings() = to_proto(plan.original);
  for (const auto& edit : plan.edits) {
    auto st = fs_->inspect(edit.path);
    if (st.immutable) {
      out.reason = edit.path + " is immutable (chattr +i): nothing changed";
      return out;
    }
    if (st.exists && !st.is_symlink && !st.readable) {
      out.reason = edit.path + " cannot be read, so it could not be put back: nothing changed";
      return out;
    }
    auto* jf = j.add_files();
    jf->set_path(edit.path);
    jf->set_existed(st.exists);
    jf->set_was_symlink(st.is_symlink);
    jf->set_symlink_target(st.link_target);
    if (st.exists && !st.is_symlink)
      jf->set_original(st.content);
    jf->set_mode(st.exists ? st.mode : 0644);
    jf->set_uid(st.uid);
    jf->set_gid(st.gid);
    jf->set_in_place(st.bind_mounted);
    jf->set_written_sha256(sha256(edit.content));
    jf->set_written_size(edit.content.size());
    jf->set_written(edit.content);
  }
  sweep(j);
  if (auto err = store_->save(j)) {
    out.reason = "cannot write the journal (" + err.message + "): nothing changed";
    return out;
  }
  auto undo = [&](size_t done, const std::string& why) {
    std::string left;
    for (size_t i = done; i-- > 0;)
      if (auto err = put_back(j.files(static_cast<int>(i))))
        left += "; could not put back " + j.files(static_cast<int>(i)).path() + ": " + err.message;
    if (!left.empty()) {
      // The journal stays: it still describes what is on disk, and restore (or the next start) can finish the job.
      out.reason = why + left + " (journal kept: " + store_->path() + ")";
      return;
    }
    if (done > 0)
      run(plan.restore_command);
    auto err = store_->remove();
    out.reason = why + ": nothing changed" + (err ? " (but the journal could not be removed: " + err.message + ")" : "");
  };
  for (size_t i = 0; i < plan.edits.size(); ++i) {
    if (auto err = write_edit(*j.mutable_files(static_cast<int>(i)), plan.edits[i].content, j)) {
      undo(i, err.message);
      return out;
    }
  }
  if (auto failure = run(plan.apply_command); !failure.empty()) {
    undo(plan.edits.size(), failure);
    return out;
  }
  out.ok = true;
  out.reason = std::string{"took over with the "} + to_string(plan.backend) + " backend (" + to_string(plan.owner) +
               " owned " + (plan.edits.empty() ? "" : plan.edits.front().path) + ")";
  return out;
}

reassert_result takeover_engine::reassert(proto::Journal& journal) {
  reassert_result out;
  std::string done;
  for (auto& jf : *journal.mutable_files()) {
    auto now = fs_->inspect(jf.path());
    auto verdict = classify(jf, now, journal.listen());
    if (verdict == file_verdict::ours)
      continue;
    if (verdict == file_verdict::edited) {
      // Someone's edit around roamd's change: kept (absorb_edits), not written over.
      if (auto why = absorb_edits(journal); why.rfind("could not", 0) == 0) {
        out.reason = why;
        return out;
      }
      continue;
    }
    if (jf.written().empty() && jf.written_size() != 0) {
      out.reason = jf.path() + ": the journal does not hold what roamd wrote (written by an older roamd)";
      return out;
    }
    if (auto err = write_edit(jf, jf.written(), journal)) {
      out.reason = "writing " + jf.path() + " again: " + err.message;
      return out;
    }
    ++out.writes;
    done += (done.empty() ? "" : ", ") + jf.path() + " (was " + to_string(verdict) + ")";
  }
  if (out.writes > 0)
    if (auto failure = run({journal.apply_command().begin(), journal.apply_command().end()}); !failure.empty()) {
      out.reason = "wrote " + done + ", but " + failure;
      return out;
    }
  out.ok = true;
  out.reason = out.writes == 0 ? "the settings are roamd's: nothing written" : "wrote " + done + " again";
  return out;
}

restore_result takeover_engine::restore(const proto::Journal& journal) {
  restore_result out;
  sweep(journal);
  bool failed = false;
  // The user's settings as this restore leaves them (their edits included), kept after the journal is gone.
  proto::Journal record = journal;
  for (int i = journal.files_size(); i-- > 0;) {
    const auto& jf = journal.files(i);
    auto now = fs_->inspect(jf.path());
    auto verdict = classify(jf, now, journal.listen());
    std::string line = jf.path() + ": ";
    auto put = [&](const std::string* content, const char* done) {
      auto err = content ? put_back_content(jf, *content) : put_back(jf);
      if (err) {
        failed = true;
        line += std::string{"could not put the original back ("} + to_string(verdict) + "): " + err.message;
      } else {
        line += jf.existed() ? done : "removed (roamd had created it)";
      }
    };
    switch (verdict) {
      case file_verdict::original:
        line += "already the original";
        break;
      case file_verdict::ours:
      case file_verdict::torn:
        put(nullptr, "original put back");
        break;
      case file_verdict::edited: {
        if (auto users = users_under_vpns(jf, now)) {
          *record.mutable_files(i) = *users;
          auto err = put_back(*users);
          failed = failed || bool(err);
          line += err ? "a VPN put back its copy of an earlier roamd file: putting back the user's settings failed: " +
                            err.message
                      : "a VPN put back its copy of an earlier roamd file: the user's settings put back, not the "
                        "VPN's";
          break;
        }
        auto content = edited_original(jf, now, journal.listen());
        if (content)
          record.mutable_files(i)->set_original(*content);
        put(content ? &*content : nullptr, content ? "original put back with the edits made to roamd's file"
                                                   : "original put back");
        break;
      }
      case file_verdict::foreign: {
        out.adopted.push_back(jf.path());
        auto content = now.content;
        if (!now.is_symlink && now.readable && owner_of(jf.path(), now) == resolv_owner::roamd) {
          // roamd's own file with someone's nameservers written into it: theirs, but roamd's comments (its marker
          // above all, which would make it look like a copy naming roamd) do not stay.
          content = without_roamds_comments(now.content, jf.written());
          auto err = now.bind_mounted || jf.in_place() ? fs_->write_in_place(jf.path(), content)
                                                       : fs_->write_atomic(jf.path(), content, now.mode, now.uid, now.gid);
          if (err) {
            failed = true;
            line += "roamd's file with someone else's nameservers: removing roamd's comments failed: " + err.message;
            break;
          }
          line += "roamd's file with someone else's nameservers: kept without roamd's comments";
        } else {
          line += "changed by someone else since roamd wrote it: left as it is";
        }
        // Left in force, it is the user's latest settings, unless a VPN's (its backup of the user's comes back
        // at disconnect): the record says what to repair a later copy of roamd's file to.
        auto* rf = record.mutable_files(i);
        if (role_of(jf, journal.listen()) != file_role::created && owner_of(jf.path(), now) != resolv_owner::vpn_script &&
            (now.is_symlink || now.readable)) {
          rf->set_existed(true);
          rf->set_was_symlink(now.is_symlink);
          rf->set_symlink_target(now.is_symlink ? now.link_target : std::string{});
          rf->set_original(now.is_symlink ? std::string{} : content);
          rf->set_mode(now.mode);
          rf->set_uid(now.uid);
          rf->set_gid(now.gid);
        }
        break;
      }
    }
    out.reason += (out.reason.empty() ? "" : "; ") + line;
  }
  // The backend's command runs on every restore, not only when a file was put back in this run: a restore killed
  // between putting a file back and running the command must still tell resolvconf/resolved/NetworkManager.
  if (!failed && journal.restore_command_size() > 0) {
    if (auto failure = run(std::vector<std::string>(journal.restore_command().begin(), journal.restore_command().end()));
        !failure.empty()) {
      failed = true;
      out.reason += "; " + failure;
    }
  }
  if (failed) {
    out.reason += " (journal kept: " + store_->path() + ")";
    return out;
  }
  keep_users_over_vpns(record);
  if (auto err = store_->save_record(record))
    out.reason += "; the record of this restore could not be written (" + err.message + ")";
  if (auto err = store_->remove()) {
    out.reason += "; the journal could not be removed: " + err.message;
    return out;
  }
  out.ok = true;
  return out;
}

void takeover_engine::keep_users_over_vpns(proto::Journal& record) {
  // roamd took over while a VPN's file was in force (the VPN connected before roamd started): that file is what this
  // restore put back, but it is not the user's settings, and the VPN's servers are gone once it disconnects. For
  // the record, the user's settings of the earlier record stay.
  auto earlier = store_->load_record();
  if (earlier.state != journal_store::status::ok)
    return;
  for (auto& rf : *record.mutable_files()) {
    if (!recorded_as_vpns(rf))
      continue;
    for (const auto& ef : earlier.journal.files())
      if (ef.path() == rf.path())
        rf = ef;
  }
}

std::optional<proto::JournalFile> takeover_engine::users_under_vpns(const proto::JournalFile& jf,
                                                                    const file_state& now) {
  if (!recorded_as_vpns(jf) || now.is_symlink || !now.readable || owner_of(jf.path(), now) != resolv_owner::roamd)
    return std::nullopt;
  // A copy of roamd's file from an earlier takeover notes other original nameservers than the file roamd wrote
  // over the VPN's.
  auto noted = original_nameservers_noted(now.content);
  if (noted.empty() || noted == original_nameservers_noted(jf.written()))
    return std::nullopt;
  proto::JournalFile users = jf;
  auto record = store_->load_record();
  if (record.state == journal_store::status::ok)
    for (const auto& rf : record.journal.files())
      if (rf.path() == jf.path() && rf.existed() && !recorded_as_vpns(rf)) {
        take_original(users, rf);
        return users;
      }
  users.set_was_symlink(false);
  users.set_symlink_target({});
  users.set_original(rebuilt_from_notes(now.content, noted));
  return users;
}

std::string takeover_engine::absorb_edits(proto::Journal& journal) {
  std::string taken;
  for (auto& jf : *journal.mutable_files()) {
    auto now = fs_->inspect(jf.path());
    if (classify(jf, now, journal.listen()) != file_verdict::edited)
      continue;
    if (auto users = users_under_vpns(jf, now)) {
      // The VPN whose file roamd took over from has disconnected: the user's settings are the original again.
      take_original(jf, *users);
      auto settings = parse_resolv_conf(now.content);
      settings.nameservers = original_nameservers_noted(now.content);
      *journal.mutable_original_settings() = to_proto(settings);
      journal.set_owner(to_string(owner_of(jf.path(), recorded_original(jf))));
    } else if (auto content = edited_original(jf, now, journal.listen())) {
      jf.set_original(*content);
      if (role_of(jf, journal.listen()) == file_role::resolv_conf) {
        auto edited = parse_resolv_conf(now.content);
        auto* os = journal.mutable_original_settings();
        os->mutable_search()->Assign(edited.search.begin(), edited.search.end());
        os->mutable_options()->Assign(edited.options.begin(), edited.options.end());
      }
    }
    jf.set_written(now.content);
    jf.set_written_sha256(sha256(now.content));
    jf.set_written_size(now.content.size());
    taken += (taken.empty() ? "" : ", ") + jf.path();
  }
  if (taken.empty())
    return {};
  if (auto err = store_->save(journal))
    return "could not keep the edits to " + taken + ": " + err.message;
  return "kept the edits to " + taken + " (they come back with the original)";
}

reassert_result takeover_engine::rebase(proto::Journal& journal, bool write) {
  auto otherwise = [&] {
    if (write)
      return reassert(journal);
    reassert_result none;
    none.ok = true;
    none.reason = "nothing recorded";
    return none;
  };
  if (journal.backend() != "file" || journal.files_size() != 1)
    return otherwise();
  auto& jf = *journal.mutable_files(0);
  auto now = fs_->inspect(jf.path());
  auto verdict = classify(jf, now, journal.listen());
  if (verdict != file_verdict::foreign || !now.exists || now.immutable || (!now.is_symlink && !now.readable))
    return otherwise();
  auto settings = parse_resolv_conf(now.readable ? now.content : std::string{});
  if (settings.nameservers.empty())
    return otherwise();  // an emptied file is no settings of anyone's: the original stays
  auto theirs = now.content;
  if (!now.is_symlink && owner_of(jf.path(), now) == resolv_owner::roamd)
    theirs = without_roamds_comments(now.content, jf.written());  // roamd's file with its nameserver edited
  jf.set_was_symlink(now.is_symlink);
  jf.set_symlink_target(now.is_symlink ? now.link_target : std::string{});
  jf.set_original(now.is_symlink ? std::string{} : theirs);
  jf.set_mode(now.mode);
  jf.set_uid(now.uid);
  jf.set_gid(now.gid);
  jf.set_in_place(now.bind_mounted);
  auto content = render_resolv_conf(settings, journal.listen(), "roamd's journal");
  jf.set_written(content);
  jf.set_written_sha256(sha256(content));
  jf.set_written_size(content.size());
  file_state recorded = now;
  recorded.content = theirs;
  journal.set_owner(to_string(owner_of(jf.path(), recorded)));
  *journal.mutable_original_settings() = to_proto(settings);
  reassert_result out;
  if (auto err = store_->save(journal)) {
    out.reason = "cannot record " + jf.path() + " as the new original (" + err.message + "): nothing written";
    return out;
  }
  auto recorded_as = "recorded " + jf.path() + " (nameservers " + join(settings.nameservers) +
                     ") as the settings to put back";
  if (!write) {
    out.ok = true;
    out.reason = recorded_as + " (roamd does not write it now)";
    return out;
  }
  out = reassert(journal);
  if (out.ok)
    out.reason = recorded_as + ", and " + out.reason;
  return out;
}

restore_result takeover_engine::repair(const std::string& path) {
  restore_result out;
  auto now = fs_->inspect(path);
  if (!now.exists || now.is_symlink || !now.readable || owner_of(path, now) != resolv_owner::roamd) {
    out.ok = true;
    return out;
  }
  auto record = store_->load_record();
  if (record.state == journal_store::status::ok)
    for (const auto& jf : record.journal.files())
      if (jf.path() == path && jf.existed()) {
        // A record never holds roamd's marker as the user's (older versions could): its comments come off.
        auto content = jf.original().rfind(roamd_marker, 0) == 0 ? without_roamds_comments(jf.original(), jf.written())
                                                                 : jf.original();
        auto err = jf.was_symlink() ? fs_->symlink_atomic(path, jf.symlink_target())
                   : now.bind_mounted ? fs_->write_in_place(path, content)
                                      : fs_->write_atomic(path, content, jf.mode(), jf.uid(), jf.gid());
        if (err) {
          out.reason = path + " names a roamd that is not running, and putting back the settings of the last "
                       "restore failed: " + err.message;
          return out;
        }
        out.ok = true;
        out.reason = path + " was a copy of roamd's file naming a roamd that is not running: put back the settings "
                     "recorded by the last restore (" + store_->record_path() + ")";
        return out;
      }
  auto servers = original_nameservers_noted(now.content);
  if (servers.empty()) {
    out.reason = path + " is roamd's file, names a roamd that is not running, and neither it nor a record of the "
                 "last restore says what the settings were: write the system's settings into it";
    return out;
  }
  auto content = rebuilt_from_notes(now.content, servers);
  auto err = now.bind_mounted ? fs_->write_in_place(path, content)
                              : fs_->write_atomic(path, content, now.mode, now.uid, now.gid);
  if (err) {
    out.reason = path + " names a roamd that is not running, and rewriting it failed: " + err.message;
    return out;
  }
  out.ok = true;
  out.reason = path + " was a copy of roamd's file naming a roamd that is not running: rebuilt from the original "
               "nameservers it notes (" + join(servers) + ")";
  return out;
}

bool takeover_engine::all_ours(const proto::Journal& journal) {
  for (const auto& jf : journal.files())
    if (classify(jf, fs_->inspect(jf.path()), journal.listen()) != file_verdict::ours)
      return false;
  return journal.files_size() > 0;
}

} // namespace roamd::os
