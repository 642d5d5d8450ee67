#include "net/resolver_address.hpp"

#include "net/endpoint.hpp"

namespace roamd::net {

namespace {

constexpr std::string_view tls_scheme = "tls://";
constexpr std::string_view https_scheme = "https://";
constexpr std::string_view pin_prefix = ";pin-sha256=";
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

std::optional<resolver_address> fail(std::string* why, std::string text) {
  if (why)
    *why = std::move(text);
  return std::nullopt;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

/// RFC 3986 path characters (pchar and '/'), without ';' (the pin's separator here) and with '%' only as an escape.
bool valid_path(std::string_view p) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
  if (p.empty() || p[0] != '/' || p.size() > 1024)
    return false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 std::string_view{"-._~!$&'()*+,=:@/"}.find(c) != std::string_view::npos;
    if (c == '%') {
      if (i + 2 >= p.size() || !hex(p[i + 1]) || !hex(p[i + 2]))
        return false;
      i += 2;
    } else if (!plain) {
      return false;
    }
  }
  return true;
}

constexpr const char* dot_form = "tls://IP[:PORT][#NAME][;pin-sha256=BASE64]";
constexpr const char* doh_form = "https://IP[:PORT][/PATH][#NAME][;pin-sha256=BASE64]";

} // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    size_t pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = text[i + k];
      bool last_group = i + 4 == text.size();
      if (c == '=' && last_group && k >= 2 && (k == 3 || text[i + 3] == '=')) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad != 0 || (v[k] = sextet(c)) < 0)
        return std::nullopt;
    }
    uint32_t bits = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<char>(bits >> 16));
    if (pad < 2)
      out.push_back(static_cast<char>((bits >> 8) & 0xFF));
    if (pad < 1)
      out.push_back(static_cast<char>(bits & 0xFF));
  }
  return out;
}

std::string encode_base64(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t bits = 0;
    for (size_t k = 0; k < 3; ++k)
      bits = (bits << 8) | (k < n ? static_cast<uint8_t>(bytes[i + k]) : 0);
    for (size_t k = 0; k < 4; ++k)
      out.push_back(k <= n ? alphabet[(bits >> (18 - 6 * k)) & 0x3F] : '=');
  }
  return out;
}

std::optional<resolver_address> parse_resolver(std::string_view text, std::string* why) {
  resolver_address out;
  bool dot = starts_with(text, tls_scheme);
  out.https = starts_with(text, https_scheme);
  if (!dot && !out.https) {
    auto ep = parse_endpoint(text);
    if (!ep)
      return fail(why, std::string{"expected an endpoint (IP:PORT, [IPv6]:PORT, or an IP for port 53), "} + dot_form +
                           " or " + doh_form);
    out.endpoint = *ep;
    return out;
  }
  out.tls = true;
  auto rest = text.substr(dot ? tls_scheme.size() : https_scheme.size());
  if (auto p = rest.find(pin_prefix); p != std::string_view::npos) {
    auto pin = decode_base64(rest.substr(p + pin_prefix.size()));
    if (!pin || pin->size() != 32)
      return fail(why, "expected the pin as the base64 of a 32-byte SHA-256 digest (44 characters ending in '=')");
    out.pin = *pin;
    rest = rest.substr(0, p);
  }
  if (auto h = rest.find('#'); h != std::string_view::npos) {
    auto name = normalize_domain(rest.substr(h + 1));
    if (!name)
      return fail(why, "expected a host name after '#' (the name the resolver's certificate carries)");
    out.tls_name = *name;
    rest = rest.substr(0, h);
  }
  if (out.https) {
    out.path = doh_path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {  // an IPv6 address is in brackets: no '/'
      if (!valid_path(rest.substr(slash)))
        return fail(why, std::string{"expected "} + doh_form +
                             " with an absolute PATH of URI characters (no '?', '#', ';' or spaces)");
      out.path = rest.substr(slash);
      rest = rest.substr(0, slash);
    }
  }
  auto ep = parse_endpoint(rest, out.https ? doh_port : dot_port);
  if (!ep)
    return fail(why, std::string{"expected "} + (out.https ? doh_form : dot_form) + " with an IP address (port " +
                         (out.https ? "443" : "853") + " by default)");
  out.endpoint = *ep;
  return out;
}

std::string to_string(const resolver_address& r) {
  if (!r.tls)
    return to_string(r.endpoint);
  std::string out = std::string{r.https ? https_scheme : tls_scheme} + to_string(r.endpoint) + r.path;
  if (!r.tls_name.empty())
    out += "#" + r.tls_name;
  if (!r.pin.empty())
    out += std::string{pin_prefix} + encode_base64(r.pin);
  return out;
}

} // namespace roamd::net
