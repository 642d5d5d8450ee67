#include "tools/inspect/frame.hpp"

namespace roamd::inspect {

std::string encode_frame(std::string_view payload) {
  auto n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(frame_header_size + payload.size());
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.append(payload.data(), payload.size());
  return out;
}

frame_decoder::status frame_decoder::next(std::string& payload) {
  if (buf_.size() < frame_header_size)
    return status::need_more;
  unsigned char h[frame_header_size];
  for (size_t i = 0; i < frame_header_size; ++i)
    h[i] = static_cast<unsigned char>(buf_[i]);
  announced_ = (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
  if (announced_ > max_)
    return status::too_large;
  if (buf_.size() - frame_header_size < announced_)
    return status::need_more;
  payload.assign(buf_, frame_header_size, announced_);
  buf_.erase(0, frame_header_size + announced_);
  return status::frame;
}

} // namespace roamd::inspect
