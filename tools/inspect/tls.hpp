#pragma once

#include <string>
#include <vector>

// OpenSSL's types, declared here so that users of this header need not include OpenSSL's.
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct x509_st X509;

/// Mutual TLS for the debug port's TCP listener and for roamctl: contexts configured the one strict way (TLS 1.2 at
/// least, the given CA as the only trust anchor, the peer's certificate required and verified), the client-name
/// check, and OpenSSL's errors as text. Plain OpenSSL, no Asio, so that the client needs none.
namespace roamd::inspect {

/// The PEM files of one side, and the names the other side's certificate must carry.
struct tls_files {
  std::string cert;                  // certificate chain (leaf first)
  std::string key;                   // its private key
  std::string ca;                    // the only CA the peer's certificate may chain to
  std::vector<std::string> names;    // server: allowed client CN / DNS SAN names (empty: any); client: unused
  bool enabled() const noexcept { return !cert.empty(); }
};

/// How the files are called in messages: the configuration keys for roamd, the options for roamctl.
struct tls_labels {
  const char* cert;
  const char* key;
  const char* ca;
};

constexpr tls_labels config_labels{"debug.tls_cert", "debug.tls_key", "debug.tls_client_ca"};
constexpr tls_labels option_labels{"--tls-cert", "--tls-key", "--tls-ca"};

/// Loads `files` into `ctx` and makes it strict: TLS 1.2 or newer, the peer must present a certificate that chains
/// to `files.ca` (the system's trust store is not used), no session tickets. "" on success, else one line naming
/// the file (by its label) and why it cannot be used. A client with neither `cert` nor `key` presents no certificate.
std::string configure_context(SSL_CTX* ctx, const tls_files& files, const tls_labels& labels, bool server);

/// Whether the client certificate `cert` carries one of `allowed` as its subject CN or as a DNS SAN (compared
/// without regard to case). "" if it does (or `allowed` is empty), else why not, naming what it carries.
std::string client_name_refusal(X509* cert, const std::vector<std::string>& allowed);

/// Makes `ssl` check the server's certificate for `name`: an IP address (v4 or v6) is matched against IP SANs,
/// anything else against DNS names (and sent as SNI). False if the name cannot be set.
bool expect_server_name(SSL* ssl, const std::string& name);

/// OpenSSL's error queue as one line (and empties it); `fallback` when it is empty.
std::string take_errors(const std::string& fallback);

} // namespace roamd::inspect
