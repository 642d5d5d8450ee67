#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <google/protobuf/message_lite.h>

#include "os/file_system.hpp"
#include "proto/journal.pb.h"

namespace roamd::os {

/// A protobuf message framed for a file: `magic` (8 bytes, naming the kind and format version), the payload length
/// and its CRC-32 (both 4 bytes, big endian), then the serialized message.
std::string encode_framed(std::string_view magic, const google::protobuf::MessageLite& message);

/// Parses `bytes` framed with `magic` into `out`; false with `why` set ("truncated: 40 of 212 payload bytes",
/// "trailing bytes: 3 bytes after the 212-byte payload", "checksum mismatch", "not a roamd journal (bad magic)")
/// when they are not a whole, unaltered frame.
bool decode_framed(std::string_view bytes, std::string_view magic, google::protobuf::MessageLite& out,
                   std::string& why);

/// One framed message on disk (`<dir>/<name>`), written atomically (temp + fsync + rename + directory fsync),
/// mode 0600, in a directory of mode 0700. The takeover and the interception journals are two of these.
class framed_file {
public:
  enum class status { absent, ok, damaged, unreadable };

  framed_file(std::shared_ptr<file_system> fs, std::string dir, const std::string& name, std::string_view magic);

  const std::string& path() const {
    return path_;
  }

  /// Writes `message`; an error (ENOSPC, EROFS, …) names the file and leaves any earlier version in place.
  os_error save(const google::protobuf::MessageLite& message);

  /// Reads the file into `out`; for damaged/unreadable, `problem` says what is wrong, naming the file.
  status load(google::protobuf::MessageLite& out, std::string& problem);

  /// Removes the file (a missing one is fine).
  os_error remove();

private:
  std::shared_ptr<file_system> fs_;
  std::string dir_;
  std::string path_;
  std::string magic_;
};

/// The journal's bytes: "ROAMDJ1\n", the payload length and its CRC-32 (both 4 bytes, big endian), then the
/// serialized `proto::Journal`. A short, long or altered file is told apart from a good one.
std::string encode_journal(const proto::Journal& journal);

/// The journal in `bytes`, or nullopt with `why` set ("truncated: 40 of 212 payload bytes", "checksum mismatch").
std::optional<proto::Journal> decode_journal(std::string_view bytes, std::string& why);

/// The takeover journal on disk: `<state_dir>/takeover.journal`, written atomically (temp + fsync + rename +
/// directory fsync), mode 0600, in a directory of mode 0700.
class journal_store {
public:
  using status = framed_file::status;

  struct loaded {
    status state = status::absent;
    proto::Journal journal;
    std::string problem;  // for damaged/unreadable: what is wrong, naming the file
  };

  journal_store(std::shared_ptr<file_system> fs, std::string state_dir);

  const std::string& path() const {
    return file_.path();
  }

  /// Writes the journal; an error (ENOSPC, EROFS, …) names the file and leaves any earlier journal in place.
  os_error save(const proto::Journal& journal);

  loaded load();

  /// Removes the journal (a missing one is fine).
  os_error remove();

  /// The record of the last restore (`<state_dir>/restored.record`, same framing, magic "ROAMDR1\n"): the journal
  /// of the takeover that ended, its originals being the user's settings as that restore left them (their edits
  /// included). It outlives the journal so that a copy of roamd's file put back later (a VPN restoring its backup
  /// after roamd stopped) can be repaired with the user's settings, byte for byte.
  const std::string& record_path() const {
    return record_.path();
  }
  os_error save_record(const proto::Journal& journal);
  loaded load_record();

private:
  framed_file file_;
  framed_file record_;
};

} // namespace roamd::os
