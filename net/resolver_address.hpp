#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/udp.hpp>

namespace roamd::net {

/// A resolver as configured: plain DNS ("IP:PORT", as parse_endpoint reads it), DNS over TLS (RFC 7858) or DNS over
/// HTTPS (RFC 8484, HTTP/2):
///
///     tls://IP[:PORT][#NAME][;pin-sha256=BASE64]           (IPv6 as [IPv6] or [IPv6]:PORT; PORT defaults to 853)
///     https://IP[:PORT][/PATH][#NAME][;pin-sha256=BASE64]  (PORT defaults to 443, PATH to /dns-query)
///
/// NAME is sent as SNI and must be in the certificate (a DNS SAN); without it the certificate must carry the IP
/// address (an IP SAN) and no SNI is sent. The pin is the base64 SHA-256 of a SubjectPublicKeyInfo that must appear
/// in the verified chain (the same value as HPKP's pin-sha256); it is checked in addition to the chain, not
/// instead of it.
/// The PATH of DoH is an absolute path of RFC 3986 characters without a query or fragment ('?', '#', ';' excluded).
struct resolver_address {
  boost::asio::ip::udp::endpoint endpoint;
  bool tls = false;      // encrypted: DNS over TLS, or DNS over HTTPS when `https` is set too
  bool https = false;    // DNS over HTTPS to `path` (then `tls` is set: the TLS settings below apply alike)
  std::string tls_name;  // canonical (lower case, no trailing dot); "" = verify the IP address
  std::string pin;       // 32 raw bytes, or "" for no pin
  std::string path;      // DoH only: the request path, "/dns-query" by default

  bool operator==(const resolver_address& o) const {
    return endpoint == o.endpoint && tls == o.tls && https == o.https && tls_name == o.tls_name && pin == o.pin &&
           path == o.path;
  }
};

/// The default ports of DNS over TLS and DNS over HTTPS, and DoH's default path.
constexpr unsigned short dot_port = 853;
constexpr unsigned short doh_port = 443;
constexpr std::string_view doh_path = "/dns-query";

/// Parses a resolver; nullopt on anything else, with what was wrong in `why` (if given).
std::optional<resolver_address> parse_resolver(std::string_view text, std::string* why = nullptr);

/// The canonical text: "IP:PORT" for plain DNS, "tls://IP:PORT#NAME;pin-sha256=BASE64" and
/// "https://IP:PORT/PATH#NAME;pin-sha256=BASE64" (port and path always, name and pin when set).
std::string to_string(const resolver_address& r);

/// Standard base64 with padding; nullopt for anything else. (Exposed for tests.)
std::optional<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

} // namespace roamd::net
