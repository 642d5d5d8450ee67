// The TCP handshake's primitives: random tokens and nonces, the HMAC proof, the token file's text.
#include "tools/inspect/auth.hpp"

#include <gtest/gtest.h>

namespace roamd::inspect {
namespace {

TEST(auth, random_bytes_are_fresh) {
  auto a = random_bytes(token_size), b = random_bytes(token_size);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->size(), token_size);
  EXPECT_NE(*a, *b);
}

TEST(auth, the_proof_is_hmac_sha256_over_the_context_and_the_nonce) {
  // Computed independently: { printf 'roamd-debug-v1\0'; printf 'n%.0s' $(seq 32); } |
  //   openssl dgst -sha256 -hmac "$(printf 'k%.0s' $(seq 32))"
  std::string token(token_size, 'k'), nonce(nonce_size, 'n');
  auto proof = auth_proof(token, nonce);
  ASSERT_EQ(proof.size(), 32u);
  EXPECT_EQ(token_to_text(proof), "8fe73c01fa6fa5ebd982846c8a87990d68d37851c9a85ea050cc9c353ff9b2f9\n");
  EXPECT_TRUE(verify_proof(token, nonce, proof));
  EXPECT_EQ(proof, auth_proof(token, nonce));  // deterministic
}

TEST(auth, a_wrong_token_nonce_or_truncated_proof_is_refused) {
  auto token = *random_bytes(token_size), nonce = *random_bytes(nonce_size);
  auto proof = auth_proof(token, nonce);
  auto other_token = token;
  other_token[0] ^= 1;
  auto other_nonce = nonce;
  other_nonce[31] ^= 1;
  EXPECT_FALSE(verify_proof(other_token, nonce, proof));
  EXPECT_FALSE(verify_proof(token, other_nonce, proof));  // a proof for one connection is useless on another
  EXPECT_FALSE(verify_proof(token, nonce, proof.substr(0, 31)));
  EXPECT_FALSE(verify_proof(token, nonce, proof + "x"));
  EXPECT_FALSE(verify_proof(token, nonce, ""));
  EXPECT_FALSE(verify_proof(token, nonce, token));         // the token itself is no proof
  EXPECT_FALSE(verify_proof("", nonce, auth_proof("", nonce)));  // no token configured: nothing verifies
  EXPECT_FALSE(verify_proof(token, "", auth_proof(token, "")));
}

TEST(auth, token_text_round_trips_and_rejects_anything_else) {
  auto token = *random_bytes(token_size);
  auto text = token_to_text(token);
  EXPECT_EQ(text.size(), 65u);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(token_from_text(text), token);
  EXPECT_EQ(token_from_text("  " + text + "\r\n"), token);
  auto upper = text;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(token_from_text(upper), token);
  EXPECT_FALSE(token_from_text(text.substr(0, 63)));
  EXPECT_FALSE(token_from_text(text.substr(0, 64) + "0"));
  EXPECT_FALSE(token_from_text(std::string(63, '0') + "g"));
  EXPECT_FALSE(token_from_text(""));
}

} // namespace
} // namespace roamd::inspect
