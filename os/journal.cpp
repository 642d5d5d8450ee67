#include "os/journal.hpp"

#include <array>
#include <cstring>

#include <unistd.h>

#include <boost/crc.hpp>

namespace roamd::os {

namespace {

constexpr std::string_view magic = "ROAMDJ1\n";
constexpr size_t header_size = magic.size() + 8;
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

std::string encode_journal(const proto::Journal& journal) {
  std::string payload;
  journal.SerializeToString(&payload);
  std::string out{magic};
  put32(out, static_cast<uint32_t>(payload.size()));
  put32(out, crc32(payload));
  out += payload;
  return out;
}

std::optional<proto::Journal> decode_journal(std::string_view bytes, std::string& why) {
  if (bytes.size() < header_size) {
    why = bytes.empty() ? "empty file" : "truncated header (" + std::to_string(bytes.size()) + " bytes)";
    return std::nullopt;
  }
  if (bytes.substr(0, magic.size()) != magic) {
    why = "not a roamd journal (bad magic)";
    return std::nullopt;
  }
  auto length = get32(bytes.substr(magic.size()));
  auto crc = get32(bytes.substr(magic.size() + 4));
  auto payload = bytes.substr(header_size);
  if (length > max_payload) {
    why = "payload length " + std::to_string(length) + " is implausible";
    return std::nullopt;
  }
  if (payload.size() != length) {
    why = (payload.size() < length ? "truncated: " : "trailing bytes: ") + std::to_string(payload.size()) + " of " +
          std::to_string(length) + " payload bytes";
    return std::nullopt;
  }
  if (crc32(payload) != crc) {
    why = "checksum mismatch";
    return std::nullopt;
  }
  proto::Journal journal;
  if (!journal.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    why = "payload does not parse";
    return std::nullopt;
  }
  if (journal.version() != 1) {
    why = "unknown journal version " + std::to_string(journal.version());
    return std::nullopt;
  }
  return journal;
}

journal_store::journal_store(std::shared_ptr<file_system> fs, std::string state_dir)
  : fs_(std::move(fs)), dir_(std::move(state_dir)), path_(dir_ + "/takeover.journal") {
}

os_error journal_store::save(const proto::Journal& journal) {
  if (auto err = fs_->make_dirs(dir_, 0700))
    return err;
  return fs_->write_atomic(path_, encode_journal(journal), 0600, ::geteuid(), ::getegid());
}

journal_store::loaded journal_store::load() {
  loaded out;
  auto st = fs_->inspect(path_);
  if (!st.exists)
    return out;
  std::string bytes;
  if (auto err = fs_->read(path_, bytes, max_payload + header_size)) {
    out.state = status::unreadable;
    out.problem = err.message;
    return out;
  }
  std::string why;
  if (auto j = decode_journal(bytes, why)) {
    out.state = status::ok;
    out.journal = std::move(*j);
  } else {
    out.state = status::damaged;
    out.problem = path_ + ": " + why;
  }
  return out;
}

os_error journal_store::remove() {
  return fs_->remove(path_);
}

} // namespace roamd::os
