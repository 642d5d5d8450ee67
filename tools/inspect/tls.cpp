#include "tools/inspect/tls.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <strings.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace roamd::inspect {

namespace {

/// Why `path` (named `label`) cannot be opened for reading, or "".
std::string unreadable(const char* label, const std::string& path) {
  if (path.empty())
    return std::string{label} + ": not set";
  std::unique_ptr<FILE, int (*)(FILE*)> f{std::fopen(path.c_str(), "r"), std::fclose};
  if (!f)
    return std::string{label} + " " + path + ": cannot read: " + std::strerror(errno);
  return "";
}

std::string refused(const char* label, const std::string& path, const char* what) {
  return std::string{label} + " " + path + ": " + what + " (" + take_errors("no detail") + ")";
}

/// The subject CN and the DNS SANs of `cert`.
std::vector<std::string> cert_names(X509* cert) {
  std::vector<std::string> names;
  auto* subject = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    auto* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                       static_cast<size_t>(ASN1_STRING_length(data)));
  }
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    auto* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type == GEN_DNS)
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                         static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName)));
  }
  GENERAL_NAMES_free(sans);
  return names;
}

} // namespace

std::string take_errors(const std::string& fallback) {
  std::string out;
  char buf[256];
  while (auto e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(e);
    out += (out.empty() ? "" : "; ") + std::string{reason ? reason : buf};
  }
  return out.empty() ? fallback : out;
}

std::string configure_context(SSL_CTX* ctx, const tls_files& files, const tls_labels& labels, bool server) {
  ERR_clear_error();
  bool identity = server || !files.cert.empty() || !files.key.empty();  // a client may present none (tests)
  for (auto [label, path] : {std::pair{labels.cert, &files.cert}, {labels.key, &files.key}, {labels.ca, &files.ca}})
    if (auto err = unreadable(label, *path); !err.empty() && (identity || path == &files.ca))
      return err;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (identity && SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1)
    return refused(labels.cert, files.cert, "not a usable PEM certificate");
  auto mismatch = std::string{"does not belong to the certificate in "} + labels.cert;
  if (identity && SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return refused(labels.key, files.key,
                   ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH ? mismatch.c_str()
                                                                                      : "not a usable PEM private key");
  if (identity && SSL_CTX_check_private_key(ctx) != 1)
    return refused(labels.key, files.key, mismatch.c_str());
  // The CA file is the only trust anchor: no default verify paths are loaded.
  if (SSL_CTX_load_verify_locations(ctx, files.ca.c_str(), nullptr) != 1)
    return refused(labels.ca, files.ca, "not a PEM CA certificate");
  if (server) {
    auto* names = SSL_load_client_CA_file(files.ca.c_str());
    if (!names)
      return refused(labels.ca, files.ca, "no CA certificate in it");
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  SSL_CTX_set_verify_depth(ctx, 4);
  return "";
}

std::string client_name_refusal(X509* cert, const std::vector<std::string>& allowed) {
  if (allowed.empty())
    return "";
  auto names = cert_names(cert);
  for (const auto& name : names)
    for (const auto& want : allowed)
      if (name.size() == want.size() && ::strncasecmp(name.data(), want.data(), name.size()) == 0)
        return "";
  std::string carried;
  for (const auto& name : names)
    carried += (carried.empty() ? "" : ", ") + name;
  return "the client certificate's names (" + (carried.empty() ? std::string{"none"} : carried) +
         ") are not in debug.tls_client_names";
}

bool expect_server_name(SSL* ssl, const std::string& name) {
  auto* param = SSL_get0_param(ssl);
  unsigned char addr[16];
  if (::inet_pton(AF_INET, name.c_str(), addr) == 1 || ::inet_pton(AF_INET6, name.c_str(), addr) == 1)
    return X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1 &&
         SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
}

} // namespace roamd::inspect
