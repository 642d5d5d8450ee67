#include "tools/cloudsim/certs.hpp"

#include <cerrno>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/inspect/tls.hpp"

namespace roamd::cloudsim {

namespace {

struct free_key { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct free_cert { void operator()(X509* c) const { X509_free(c); } };
struct free_bio { void operator()(BIO* b) const { BIO_free(b); } };
using key_ptr = std::unique_ptr<EVP_PKEY, free_key>;
using cert_ptr = std::unique_ptr<X509, free_cert>;

/// Adds the extension `nid` = `value` (OpenSSL's config syntax) to `cert`, issued by `issuer`.
bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  bool ok = ext != nullptr && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A certificate for `key` with subject CN=`cn`, 128 random serial bits and the validity window; unsigned.
cert_ptr new_cert(EVP_PKEY* key, const std::string& cn, int days) {
  cert_ptr cert{X509_new()};
  BIGNUM* serial = BN_new();
  bool ok = cert && serial && X509_set_version(cert.get(), 2) == 1 && BN_rand(serial, 127, BN_RAND_TOP_ANY,
                                                                              BN_RAND_BOTTOM_ANY) == 1 &&
            BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days) != nullptr &&
            X509_set_pubkey(cert.get(), key) == 1 &&
            X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1;
  BN_free(serial);
  return ok ? std::move(cert) : nullptr;
}

/// Writes what `write` puts into a memory BIO to `path` with permissions `mode` (also when the file existed).
template <class Write>
std::string write_pem(const std::string& path, unsigned mode, Write write) {
  std::unique_ptr<BIO, free_bio> bio{BIO_new(BIO_s_mem())};
  if (!bio || write(bio.get()) != 1)
    return inspect::take_errors("cannot encode " + path);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return path + ": " + std::strerror(errno);
  bool ok = ::fchmod(fd, mode) == 0 && ::write(fd, data, len) == len && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  return ok ? "" : path + ": " + std::strerror(err);
}

} // namespace

std::string make_certs(const std::string& dir, const std::string& ip, const std::string& name, int days) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return dir + ": " + std::strerror(errno);
  key_ptr ca_key{EVP_EC_gen("P-256")}, server_key{EVP_EC_gen("P-256")};
  if (!ca_key || !server_key)
    return inspect::take_errors("cannot make EC keys");

  auto ca = new_cert(ca_key.get(), "cloudsim test CA", days);
  bool ok = ca && X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get())) == 1 &&
            add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
            add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign") &&
            add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash") &&
            X509_sign(ca.get(), ca_key.get(), EVP_sha256()) > 0;
  if (!ok)
    return inspect::take_errors("cannot make the CA certificate");

  auto server = new_cert(server_key.get(), name, days);
  ok = server && X509_set_issuer_name(server.get(), X509_get_subject_name(ca.get())) == 1 &&
       add_ext(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE") &&
       add_ext(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature") &&
       add_ext(server.get(), ca.get(), NID_ext_key_usage, "serverAuth") &&
       add_ext(server.get(), ca.get(), NID_subject_alt_name, "IP:" + ip + ",DNS:" + name) &&
       add_ext(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always") &&
       X509_sign(server.get(), ca_key.get(), EVP_sha256()) > 0;
  if (!ok)
    return inspect::take_errors("cannot make the server certificate for IP:" + ip + ", DNS:" + name);

  // The key first: a certificate without its key is useless, a key without its certificate harmless.
  auto why = write_pem(dir + "/server.key", 0600, [&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (why.empty())
    why = write_pem(dir + "/server.pem", 0644, [&](BIO* b) { return PEM_write_bio_X509(b, server.get()); });
  if (why.empty())
    why = write_pem(dir + "/ca.pem", 0644, [&](BIO* b) { return PEM_write_bio_X509(b, ca.get()); });
  return why;
}

} // namespace roamd::cloudsim
