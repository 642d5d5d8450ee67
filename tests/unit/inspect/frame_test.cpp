// The debug port's framing: whole, split, pipelined, truncated, oversized and garbage input.
#include "tools/inspect/frame.hpp"

#include <gtest/gtest.h>

namespace roamd::inspect {
namespace {

using status = frame_decoder::status;

TEST(frame, encode_puts_a_big_endian_length_in_front) {
  auto f = encode_frame("abc");
  ASSERT_EQ(f.size(), 7u);
  EXPECT_EQ(f.substr(0, 4), std::string("\0\0\0\3", 4));
  EXPECT_EQ(f.substr(4), "abc");
  EXPECT_EQ(encode_frame(std::string(0x10203, 'x')).substr(0, 4), std::string("\0\1\2\3", 4));
}

TEST(frame, a_whole_frame_comes_out_once) {
  frame_decoder d{100};
  d.feed(encode_frame("hello"));
  std::string p;
  ASSERT_EQ(d.next(p), status::frame);
  EXPECT_EQ(p, "hello");
  EXPECT_EQ(d.next(p), status::need_more);
  EXPECT_FALSE(d.partial());
}

TEST(frame, bytes_arriving_one_at_a_time_make_one_frame) {
  frame_decoder d{100};
  auto f = encode_frame("split");
  std::string p;
  for (size_t i = 0; i + 1 < f.size(); ++i) {
    d.feed(f.substr(i, 1));
    ASSERT_EQ(d.next(p), status::need_more) << "after byte " << i;
    EXPECT_TRUE(d.partial());
  }
  d.feed(f.substr(f.size() - 1));
  ASSERT_EQ(d.next(p), status::frame);
  EXPECT_EQ(p, "split");
}

TEST(frame, pipelined_frames_come_out_in_order_and_empty_frames_are_frames) {
  frame_decoder d{100};
  d.feed(encode_frame("one") + encode_frame("") + encode_frame("three") + std::string("\0\0", 2));
  std::string p;
  ASSERT_EQ(d.next(p), status::frame);
  EXPECT_EQ(p, "one");
  ASSERT_EQ(d.next(p), status::frame);
  EXPECT_EQ(p, "");
  ASSERT_EQ(d.next(p), status::frame);
  EXPECT_EQ(p, "three");
  EXPECT_EQ(d.next(p), status::need_more);  // half a header
  EXPECT_EQ(d.buffered(), 2u);
}

TEST(frame, truncated_frames_never_come_out) {
  frame_decoder d{100};
  auto f = encode_frame("truncated");
  d.feed(f.substr(0, f.size() - 1));
  std::string p = "untouched";
  EXPECT_EQ(d.next(p), status::need_more);
  EXPECT_EQ(p, "untouched");
  EXPECT_EQ(d.announced(), 9u);
}

TEST(frame, a_header_announcing_more_than_the_limit_is_refused_before_any_payload) {
  frame_decoder d{max_request_frame};
  d.feed(std::string("\x7f\xff\xff\xff", 4));
  std::string p;
  EXPECT_EQ(d.next(p), status::too_large);
  EXPECT_EQ(d.announced(), 0x7fffffffu);
  EXPECT_EQ(d.buffered(), 4u);  // nothing was reserved for the announced 2 GiB

  frame_decoder at_limit{10};
  at_limit.feed(encode_frame(std::string(10, 'x')));
  EXPECT_EQ(at_limit.next(p), status::frame);
  frame_decoder over{10};
  over.feed(encode_frame(std::string(11, 'x')));
  EXPECT_EQ(over.next(p), status::too_large);
  EXPECT_EQ(over.announced(), 11u);
}

TEST(frame, garbage_is_either_too_large_or_a_frame_of_garbage_never_more) {
  // Text sent to the port ("GET / HTTP/1.1") reads as a length of 0x47455420: refused at once.
  frame_decoder d{max_request_frame};
  d.feed("GET / HTTP/1.1\r\n\r\n");
  std::string p;
  EXPECT_EQ(d.next(p), status::too_large);
  // Every 4-byte header either fits the limit or is refused; a fitting one yields exactly its bytes.
  for (uint32_t n : {0u, 1u, 65535u, 65536u, 65537u, 0xffffffffu}) {
    frame_decoder g{max_request_frame};
    std::string h{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
    g.feed(h + std::string(std::min<uint32_t>(n, 70000), '\xee'));
    auto s = g.next(p);
    if (n <= max_request_frame) {
      ASSERT_EQ(s, status::frame) << n;
      EXPECT_EQ(p.size(), n);
    } else {
      EXPECT_EQ(s, status::too_large) << n;
    }
  }
}

} // namespace
} // namespace roamd::inspect
