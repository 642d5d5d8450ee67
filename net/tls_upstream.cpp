// The TLS client side of DNS over TLS and DNS over HTTPS (see net/tls_upstream.hpp).
#include "net/tls_upstream.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <boost/asio/post.hpp>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include "net/link_binding.hpp"

namespace roamd::net {

namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

std::shared_ptr<dot_tls> make_dot_tls(const std::string& ca_file, std::string& error) {
  auto tls = std::make_shared<dot_tls>();
  SSL_CTX* ctx = tls->ctx.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);  // DoT and DoH never need it (and a write must not wait on it)
  tls->ctx.set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    tls->ctx.set_default_verify_paths(ec);
    if (ec)
      error = "cannot use the system's certificate store: " + ec.message();
    return ec ? nullptr : tls;
  }
  if (FILE* f = std::fopen(ca_file.c_str(), "r")) {
    std::fclose(f);
  } else {
    error = "cannot read " + ca_file + ": " + std::strerror(errno);
    return nullptr;
  }
  tls->ctx.load_verify_file(ca_file, ec);
  if (ec || sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx))) == 0) {
    error = ca_file + " holds no PEM certificate" + (ec ? " (" + ec.message() + ")" : std::string{});
    return nullptr;
  }
  return tls;
}

std::shared_ptr<dot_tls> dot_tls_source::get(std::string* error) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!tls_ && error_.empty()) {
    tls_ = make_dot_tls(ca_file_, error_);
    if (!tls_)
      spdlog::error("roamd: DNS over TLS/HTTPS: {}; encrypted resolvers fail every query", error_);
  }
  if (error)
    *error = error_;
  return tls_;
}

namespace {

/// Whether the SHA-256 of the SubjectPublicKeyInfo of one certificate of the verified chain is `pin`.
bool chain_matches_pin(SSL* ssl, const std::string& pin) {
  STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl);
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    unsigned char* der = nullptr;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(sk_X509_value(chain, i)), &der);
    if (n <= 0)
      continue;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    bool ok = EVP_Digest(der, static_cast<size_t>(n), md, &md_len, EVP_sha256(), nullptr) == 1;
    OPENSSL_free(der);
    if (ok && md_len == pin.size() && std::memcmp(md, pin.data(), md_len) == 0)
      return true;
  }
  return false;
}

/// Why a handshake failed, the certificate's own problem first ("certificate has expired", "hostname mismatch").
std::string handshake_failure(SSL* ssl, const boost::system::error_code& ec) {
  long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK)
    return std::string{"certificate refused: "} + X509_verify_cert_error_string(v);
  return "TLS handshake failed: " + ec.message();
}

/// What the session must still pass once the handshake verified the chain and the name: the pin, then ALPN.
std::string after_handshake(SSL* ssl, const std::string& pin, std::string_view alpn) {
  if (!pin.empty() && !chain_matches_pin(ssl, pin))
    return "certificate refused: no key of its chain matches the pin";
  if (alpn.empty())
    return {};
  const unsigned char* got = nullptr;
  unsigned int got_len = 0;
  SSL_get0_alpn_selected(ssl, &got, &got_len);
  std::string_view selected{reinterpret_cast<const char*>(got), got ? got_len : 0};
  if (selected != alpn)
    return "the resolver did not negotiate ALPN \"" + std::string{alpn} + "\" (it chose " +
           (selected.empty() ? std::string{"none"} : "\"" + std::string{selected} + "\"") + ")";
  return {};
}

} // namespace

void tls_connect(tls_stream& stream, boost::asio::steady_timer& timer, const upstream& to,
                 const tls_connect_options& o, std::function<void(const std::string&)> done) {
  // Reported once: the first of the deadline, a failure, or the verified session.
  struct state {
    std::function<void(const std::string&)> done;
    bool finished = false;
    void finish(const std::string& why) {
      if (!finished) {
        finished = true;
        done(why);
      }
    }
  };
  auto st = std::make_shared<state>(state{std::move(done)});
  tcp::endpoint ep{to.endpoint.address(), to.endpoint.port()};
  auto& sock = stream.next_layer();
  boost::system::error_code ec;
  sock.open(ep.protocol(), ec);
  int err = ec ? ec.value() : 0;
  if (!err)
    set_socket_mark(sock.native_handle(), o.mark);  // a refusal is reported by the worker's UDP sockets
  if (!err && !o.link.empty())
    err = bind_to_link(sock.native_handle(), ep.address().is_v6(), o.link, link_index(o.link));
  if (err) {
    std::string why = "cannot open a socket: " + std::string{std::strerror(err)};
    boost::asio::post(stream.get_executor(), [st, why] { st->finish(why); });
    return;
  }
  SSL* ssl = stream.native_handle();
  if (!to.tls_name.empty()) {
    SSL_set_tlsext_host_name(ssl, to.tls_name.c_str());
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, to.tls_name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ep.address().to_string().c_str());
  }
  if (!o.alpn.empty()) {
    std::string wire(1, static_cast<char>(o.alpn.size()));
    wire += o.alpn;
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  timer.expires_after(o.timeout);
  timer.async_wait([st, ms = o.timeout.count()](const boost::system::error_code& ec) {
    if (!ec)
      st->finish("no TLS session within " + std::to_string(ms) + " ms");
  });
  // By value: the handlers may outlive the client that owns `to` (the stream and timer live as long as `done`).
  std::string alpn{o.alpn}, pin = to.tls_pin;
  sock.async_connect(ep, [st, &stream, &timer, alpn, pin](const boost::system::error_code& ec) {
    if (st->finished)
      return;
    if (ec)
      return st->finish("cannot connect: " + ec.message());
    boost::system::error_code ignored;
    stream.next_layer().set_option(tcp::no_delay{true}, ignored);  // writes are batched by the clients already
    stream.async_handshake(ssl::stream_base::client, [st, &stream, &timer, alpn, pin](auto ec) {
      if (st->finished)
        return;
      SSL* ssl = stream.native_handle();
      if (ec)
        return st->finish(handshake_failure(ssl, ec));
      timer.cancel();
      st->finish(after_handshake(ssl, pin, alpn));
    });
  });
}

bool reconnect_backoff::failed(random_source& rng) {
  current_ = current_.count() == 0 ? first_ : std::min(current_ * 2, max_);
  auto half = static_cast<uint32_t>(current_.count() / 2);
  retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(half + rng.below(half + 1));
  bool began = !failing_;
  failing_ = true;
  return began;
}

bool reconnect_backoff::succeeded() {
  current_ = std::chrono::milliseconds{0};
  bool ended = failing_;
  failing_ = false;
  return ended;
}

} // namespace roamd::net
