#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "os/file_system.hpp"
#include "proto/journal.pb.h"

namespace roamd::os {

/// The journal's bytes: "ROAMDJ1\n", the payload length and its CRC-32 (both 4 bytes, big endian), then the
/// serialized `proto::Journal`. A short, long or altered file is told apart from a good one.
std::string encode_journal(const proto::Journal& journal);

/// The journal in `bytes`, or nullopt with `why` set ("truncated: 40 of 212 payload bytes", "checksum mismatch").
std::optional<proto::Journal> decode_journal(std::string_view bytes, std::string& why);

/// The takeover journal on disk: `<state_dir>/takeover.journal`, written atomically (temp + fsync + rename +
/// directory fsync), mode 0600, in a directory of mode 0700.
class journal_store {
public:
  enum class status { absent, ok, damaged, unreadable };

  struct loaded {
    status state = status::absent;
    proto::Journal journal;
    std::string problem;  // for damaged/unreadable: what is wrong, naming the file
  };

  journal_store(std::shared_ptr<file_system> fs, std::string state_dir);

  const std::string& path() const {
    return path_;
  }

  /// Writes the journal; an error (ENOSPC, EROFS, …) names the file and leaves any earlier journal in place.
  os_error save(const proto::Journal& journal);

  loaded load();

  /// Removes the journal (a missing one is fine).
  os_error remove();

private:
  std::shared_ptr<file_system> fs_;
  std::string dir_;
  std::string path_;
};

} // namespace roamd::os
