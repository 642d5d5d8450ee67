// libFuzzer target for the cloud API's URL parsers (net/https_client.hpp): any bytes as an https:// base URL and as
// an http:// proxy URL. No crash; what is accepted is whole: a host, a port of 1-65535, a base path without a query,
// a fragment, white space or a trailing slash, a proxy authorization that is "" or Basic; and printing it back as a
// URL parses to the same parts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "net/https_client.hpp"

namespace {

[[noreturn]] void fail(const char* what, const std::string& input) {
  std::fprintf(stderr, "https_url_fuzz: %s: \"%s\"\n", what, input.c_str());
  std::abort();
}

bool good_port(const std::string& p) {
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto n = std::stoul(p);
  return n >= 1 && n <= 65535;
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace roamd::net;
  std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto& input : {text, "https://" + text, "http://" + text}) {
    if (auto u = parse_https_url(input)) {
      if (u->host.empty() || !good_port(u->port))
        fail("an accepted URL without a host or a port", input);
      if (u->path.find_first_of("?# \t\r\n") != std::string::npos || (!u->path.empty() && u->path.back() == '/'))
        fail("an accepted URL with a bad path", input);
      auto again = parse_https_url("https://" + bracketed(u->host) + ":" + u->port + u->path);
      if (!again || again->host != u->host || again->port != u->port || again->path != u->path ||
          again->host_is_ip != u->host_is_ip)
        fail("an accepted URL printed back parses differently", input);
    }
    if (auto p = parse_http_proxy(input)) {
      if (p->host.empty() || !good_port(p->port))
        fail("an accepted proxy without a host or a port", input);
      if (!p->authorization.empty() && p->authorization.rfind("Basic ", 0) != 0)
        fail("an accepted proxy with an authorization that is not Basic", input);
      auto again = parse_http_proxy("http://" + bracketed(p->host) + ":" + p->port);
      if (!again || again->host != p->host || again->port != p->port || !again->authorization.empty())
        fail("an accepted proxy printed back parses differently", input);
    }
  }
  return 0;
}
