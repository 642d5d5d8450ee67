#include "os/journal.hpp"

#include <array>
#include <cstring>

#include <unistd.h>

#include <boost/crc.hpp>

namespace roamd::os {

namespace {

constexpr std::string_view journal_magic = "ROAMDJ1\n";
constexpr std::string_view record_magic = "ROAMDR1\n";
constexpr size_t max_payload = 4 << 20;  // originals are capped at 1 MiB per file; a journal is far smaller

uint32_t crc32(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

void put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t get32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

} // namespace

std::string encode_framed(std::string_view magic, const google::protobuf::MessageLite& message) {
  std::string payload;
  message.SerializeToString(&payload);
  std::string out{magic};
  put32(out, static_cast<uint32_t>(payload.size()));
  put32(out, crc32(payload));
  out += payload;
  return out;
}

bool decode_framed(std::string_view bytes, std::string_view magic, google::protobuf::MessageLite& out,
                   std::string& why) {
  const size_t header_size = magic.size() + 8;
  if (bytes.size() < header_size) {
    why = bytes.empty() ? "empty file" : "truncated header (" + std::to_string(bytes.size()) + " bytes)";
    return false;
  }
  if (bytes.substr(0, magic.size()) != magic) {
    why = "not a roamd journal (bad magic)";
    return false;
  }
  auto length = get32(bytes.substr(magic.size()));
  auto crc = get32(bytes.substr(magic.size() + 4));
  auto payload = bytes.substr(header_size);
  if (length > max_payload) {
    why = "payload length " + std::to_string(length) + " is implausible";
    return false;
  }
  if (payload.size() < length) {
    why = "truncated: " + std::to_string(payload.size()) + " of " + std::to_string(length) + " payload bytes";
    return false;
  }
  if (payload.size() > length) {
    why = "trailing bytes: " + std::to_string(payload.size() - length) + " bytes after the " + std::to_string(length) +
          "-byte payload";
    return false;
  }
  if (crc32(payload) != crc) {
    why = "checksum mismatch";
    return false;
  }
  if (!out.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    why = "payload does not parse";
    return false;
  }
  return true;
}

framed_file::framed_file(std::shared_ptr<file_system> fs, std::string dir, const std::string& name,
                         std::string_view magic)
  : fs_(std::move(fs)), dir_(std::move(dir)), path_(dir_ + "/" + name), magic_(magic) {
}

os_error framed_file::save(const google::protobuf::MessageLite& message) {
  if (auto err = fs_->make_dirs(dir_, 0700))
    return err;
  return fs_->write_atomic(path_, encode_framed(magic_, message), 0600, ::geteuid(), ::getegid());
}

framed_file::status framed_file::load(google::protobuf::MessageLite& out, std::string& problem) {
  if (!fs_->inspect(path_).exists)
    return status::absent;
  std::string bytes;
  if (auto err = fs_->read(path_, bytes, max_payload + magic_.size() + 8)) {
    problem = err.message;
    return status::unreadable;
  }
  std::string why;
  if (!decode_framed(bytes, magic_, out, why)) {
    problem = path_ + ": " + why;
    return status::damaged;
  }
  return status::ok;
}

os_error framed_file::remove() {
  return fs_->remove(path_);
}

std::string encode_journal(const proto::Journal& journal) {
  return encode_framed(journal_magic, journal);
}

std::optional<proto::Journal> decode_journal(std::string_view bytes, std::string& why) {
  proto::Journal journal;
  if (!decode_framed(bytes, journal_magic, journal, why))
    return std::nullopt;
  if (journal.version() != 1) {
    why = "unknown journal version " + std::to_string(journal.version());
    return std::nullopt;
  }
  return journal;
}

journal_store::journal_store(std::shared_ptr<file_system> fs, std::string state_dir)
  : file_(fs, state_dir, "takeover.journal", journal_magic), record_(fs, state_dir, "restored.record", record_magic) {
}

os_error journal_store::save_record(const proto::Journal& journal) {
  return record_.save(journal);
}

journal_store::loaded journal_store::load_record() {
  loaded out;
  out.state = record_.load(out.journal, out.problem);
  return out;
}

os_error journal_store::save(const proto::Journal& journal) {
  return file_.save(journal);
}

journal_store::loaded journal_store::load() {
  loaded out;
  out.state = file_.load(out.journal, out.problem);
  if (out.state == status::ok && out.journal.version() != 1) {
    out.state = status::damaged;
    out.problem = path() + ": unknown journal version " + std::to_string(out.journal.version());
  }
  return out;
}

os_error journal_store::remove() {
  return file_.remove();
}

} // namespace roamd::os
