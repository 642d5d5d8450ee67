// cloudsim --make-certs: the server certificate chains to the CA written beside it, carries the IP and the name,
// is for servers only, matches its key, and the key is private (0600).
#include "tools/cloudsim/certs.hpp"

#include <cstdio>
#include <memory>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/os/temp_dir.hpp"

namespace roamd::cloudsim {
namespace {

X509* read_cert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f)
    return nullptr;
  X509* c = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return c;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 0;
}

TEST(cloudsim_certs, server_certificate_chains_to_the_ca) {
  test::temp_dir dir{"cloudsim-certs"};
  ASSERT_FALSE(dir.path.empty());
  auto out = dir.path + "/certs";
  ASSERT_EQ(make_certs(out, "127.0.0.1", "cloud.roamd.test"), "");
  EXPECT_EQ(mode_of(out + "/server.key"), 0600u);
  EXPECT_EQ(mode_of(out + "/server.pem"), 0644u);
  EXPECT_EQ(mode_of(out + "/ca.pem"), 0644u);
  EXPECT_NE(::access((out + "/ca.key").c_str(), F_OK), 0) << "the CA's key is not kept";

  std::unique_ptr<X509, decltype(&X509_free)> ca{read_cert(out + "/ca.pem"), X509_free};
  std::unique_ptr<X509, decltype(&X509_free)> server{read_cert(out + "/server.pem"), X509_free};
  ASSERT_TRUE(ca && server);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, server.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(X509_verify_cert(ctx), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);

  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.2", 0), 0);
  EXPECT_EQ(X509_check_host(server.get(), "cloud.roamd.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(server.get(), "other.test", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_purpose(server.get(), X509_PURPOSE_SSL_CLIENT, 0), 0) << "for servers only";
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_GE(X509_check_ca(ca.get()), 1);

  FILE* f = std::fopen((out + "/server.key").c_str(), "r");
  ASSERT_NE(f, nullptr);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(server.get(), key), 1);
  EVP_PKEY_free(key);
}

TEST(cloudsim_certs, ipv6_and_fresh_material_each_time) {
  test::temp_dir dir{"cloudsim-certs"};
  ASSERT_FALSE(dir.path.empty());
  ASSERT_EQ(make_certs(dir.path + "/a", "::1", "a.test"), "");
  ASSERT_EQ(make_certs(dir.path + "/b", "::1", "a.test"), "");
  std::unique_ptr<X509, decltype(&X509_free)> a{read_cert(dir.path + "/a/ca.pem"), X509_free};
  std::unique_ptr<X509, decltype(&X509_free)> b{read_cert(dir.path + "/b/ca.pem"), X509_free};
  std::unique_ptr<X509, decltype(&X509_free)> server{read_cert(dir.path + "/a/server.pem"), X509_free};
  ASSERT_TRUE(a && b && server);
  EXPECT_NE(X509_cmp(a.get(), b.get()), 0);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "::1", 0), 1);
}

TEST(cloudsim_certs, failures_are_reported) {
  test::temp_dir dir{"cloudsim-certs"};
  ASSERT_FALSE(dir.path.empty());
  EXPECT_NE(make_certs(dir.path + "/no/such/dir", "127.0.0.1", "a.test"), "");
  EXPECT_NE(make_certs(dir.path + "/x", "not-an-ip", "a.test"), "");
}

} // namespace
} // namespace roamd::cloudsim
