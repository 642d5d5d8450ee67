#pragma once

#include <optional>
#include <string>
#include <string_view>

/// Authentication of the debug port's TCP listener: a 32-byte token the agent writes to a file only root can read,
/// and a challenge (the server's per-connection nonce) the client answers with HMAC-SHA256(token, context || nonce).
/// The token itself never crosses the connection, and an answer cannot be replayed on another connection.
namespace roamd::inspect {

constexpr size_t token_size = 32;
constexpr size_t nonce_size = 32;

/// `n` bytes from OpenSSL's CSPRNG; nullopt when it fails (then nothing may be authenticated).
std::optional<std::string> random_bytes(size_t n);

/// The client's answer to `nonce`: HMAC-SHA256 keyed with `token` over "roamd-debug-v1\0" followed by `nonce`.
std::string auth_proof(std::string_view token, std::string_view nonce);

/// Whether `proof` is the answer to `nonce` for `token` (compared in constant time).
bool verify_proof(std::string_view token, std::string_view nonce, std::string_view proof);

/// The token file's text: 64 lower-case hex digits and a newline.
std::string token_to_text(std::string_view token);

/// The token from a token file's text (64 hex digits, surrounding white space ignored); nullopt otherwise.
std::optional<std::string> token_from_text(std::string_view text);

} // namespace roamd::inspect
