#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/udp.hpp>

namespace roamd::net {

/// A resolver as configured: plain DNS ("IP:PORT", as parse_endpoint reads it) or DNS over TLS (RFC 7858):
///
///     tls://IP[:PORT][#NAME][;pin-sha256=BASE64]      (IPv6 as [IPv6] or [IPv6]:PORT; PORT defaults to 853)
///
/// NAME is sent as SNI and must be in the certificate (a DNS SAN); without it the certificate must carry the IP
/// address (an IP SAN) and no SNI is sent. The pin is the base64 SHA-256 of a SubjectPublicKeyInfo that must appear
/// in the verified chain (the same value as HPKP's pin-sha256); it is checked in addition to the chain, not
/// instead of it.
struct resolver_address {
  boost::asio::ip::udp::endpoint endpoint;
  bool tls = false;
  std::string tls_name;  // canonical (lower case, no trailing dot); "" = verify the IP address
  std::string pin;       // 32 raw bytes, or "" for no pin

  bool operator==(const resolver_address& o) const {
    return endpoint == o.endpoint && tls == o.tls && tls_name == o.tls_name && pin == o.pin;
  }
};

/// The default port of DNS over TLS.
constexpr unsigned short dot_port = 853;

/// Parses a resolver; nullopt on anything else, with what was wrong in `why` (if given).
std::optional<resolver_address> parse_resolver(std::string_view text, std::string* why = nullptr);

/// The canonical text: "IP:PORT" for plain DNS, "tls://IP:PORT#NAME;pin-sha256=BASE64" (the parts that are set).
std::string to_string(const resolver_address& r);

/// Standard base64 with padding; nullopt for anything else. (Exposed for tests.)
std::optional<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

} // namespace roamd::net
