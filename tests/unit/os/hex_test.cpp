// Hex: to_hex and from_hex are inverses; from_hex refuses anything that is not whole hex digits.
#include <gtest/gtest.h>

#include "os/sha256.hpp"

using namespace roamd;

namespace {

TEST(hex, round_trips_every_byte) {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<char>(i));
  auto text = os::to_hex(all);
  EXPECT_EQ(text.substr(0, 6), "000102");
  EXPECT_EQ(text.substr(text.size() - 4), "feff");
  EXPECT_EQ(os::from_hex(text), all);
}

TEST(hex, either_case_and_nothing_else) {
  EXPECT_EQ(os::from_hex("ABcd"), std::string("\xab\xcd", 2));
  EXPECT_EQ(os::from_hex(""), std::string{});
  EXPECT_EQ(os::from_hex("abc"), std::nullopt) << "odd length";
  EXPECT_EQ(os::from_hex("zz"), std::nullopt);
  EXPECT_EQ(os::from_hex("0g"), std::nullopt);
  EXPECT_EQ(os::from_hex(" 0"), std::nullopt);
}

} // namespace
