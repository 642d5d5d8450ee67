#include "tools/inspect/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "os/hex.hpp"

namespace roamd::inspect {

namespace {

constexpr std::string_view context{"roamd-debug-v1\0", 15};

} // namespace

std::optional<std::string> random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    return std::nullopt;
  return out;
}

std::string auth_proof(std::string_view token, std::string_view nonce) {
  std::string message;
  message.reserve(context.size() + nonce.size());
  message.append(context.data(), context.size());
  message.append(nonce.data(), nonce.size());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &size))
    return {};
  return std::string(reinterpret_cast<const char*>(mac), size);
}

bool verify_proof(std::string_view token, std::string_view nonce, std::string_view proof) {
  if (token.size() != token_size || nonce.size() != nonce_size)
    return false;
  auto expected = auth_proof(token, nonce);
  return !expected.empty() && proof.size() == expected.size() &&
         CRYPTO_memcmp(expected.data(), proof.data(), expected.size()) == 0;
}

std::string token_to_text(std::string_view token) {
  return os::to_hex(token) + "\n";
}

std::optional<std::string> token_from_text(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && space(text.back()))
    text.remove_suffix(1);
  if (text.size() != 2 * token_size)
    return std::nullopt;
  return os::from_hex(text);
}

} // namespace roamd::inspect
