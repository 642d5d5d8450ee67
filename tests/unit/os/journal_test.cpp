// The framing under every journal file: what a damaged file is said to be.
#include <gtest/gtest.h>

#include "os/journal.hpp"

using namespace roamd;

namespace {

/// A framed journal whose header declares `length` payload bytes, followed by `bytes` payload bytes.
std::string frame_declaring(uint32_t length, size_t bytes) {
  std::string out = "ROAMDJ1\n";
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((length >> shift) & 0xff));
  out += std::string(4, '\0');  // the CRC: never reached, the length is checked first
  out += std::string(bytes, 'x');
  return out;
}

} // namespace

TEST(journal, a_file_longer_than_its_frame_says_how_many_bytes_follow_the_payload) {
  std::string why;
  EXPECT_FALSE(os::decode_journal(frame_declaring(1, 598), why));
  EXPECT_EQ(why, "trailing bytes: 597 bytes after the 1-byte payload");

  proto::Journal j;
  j.set_version(1);
  j.set_boot_id("b00t");
  auto good = os::encode_journal(j);
  auto payload = good.size() - 16;
  EXPECT_FALSE(os::decode_journal(good + "abc", why));
  EXPECT_EQ(why, "trailing bytes: 3 bytes after the " + std::to_string(payload) + "-byte payload");
}

TEST(journal, a_file_shorter_than_its_frame_says_how_much_of_the_payload_is_there) {
  std::string why;
  EXPECT_FALSE(os::decode_journal(frame_declaring(212, 40), why));
  EXPECT_EQ(why, "truncated: 40 of 212 payload bytes");
}
