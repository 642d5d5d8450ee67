#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

/// The debug port's framing: a 4-byte big-endian length, then that many payload bytes. Pure (no I/O, no exceptions):
/// the server and roamctl feed it whatever bytes arrived and ask whether a whole frame is there.
namespace roamd::inspect {

constexpr size_t frame_header_size = 4;
constexpr size_t max_request_frame = 64 * 1024;   // what the server accepts from a client
constexpr size_t max_response_frame = 1024 * 1024; // what the server sends (and roamctl accepts)

/// `payload` with its length header in front. The caller keeps payloads within its limit.
std::string encode_frame(std::string_view payload);

/// Collects bytes until one frame is complete. Never holds more than the header, `max_payload` bytes and whatever
/// followed the frame in the same read: a header announcing more is refused before any payload is stored.
class frame_decoder {
public:
  enum class status {
    need_more,  // no complete frame yet
    frame,      // next() returned a whole payload
    too_large,  // the header announced more than max_payload bytes; the stream cannot be trusted any further
  };

  explicit frame_decoder(size_t max_payload) : max_(max_payload) {}

  /// Appends bytes that arrived.
  void feed(std::string_view bytes) { buf_.append(bytes.data(), bytes.size()); }

  /// Takes the next complete frame's payload out into `payload`, if there is one.
  status next(std::string& payload);

  /// The length the current header announces (after too_large: the refused length).
  uint32_t announced() const noexcept { return announced_; }

  /// Bytes received and not yet returned as a frame.
  size_t buffered() const noexcept { return buf_.size(); }

  /// Whether a frame has begun (some of its bytes arrived) and is not complete.
  bool partial() const noexcept { return !buf_.empty(); }

private:
  size_t max_;
  std::string buf_;
  uint32_t announced_ = 0;
};

} // namespace roamd::inspect
