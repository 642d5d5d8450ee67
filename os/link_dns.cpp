#include "os/link_dns.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>

#include "os/text.hpp"

namespace roamd::os {

namespace {

/// resolved lists a global server on a loopback address under the loopback link's index (1 in every network
/// namespace); no link settings can be set on lo ("Link lo is loopback device"), so 0 and 1 are both global.
constexpr uint64_t loopback_ifindex = 1;

/// busctl's plain output as tokens: bare words, and "quoted strings" with busctl's C escapes undone.
class busctl_tokens {
public:
  explicit busctl_tokens(std::string_view line) : s_(line) {}

  std::optional<std::string> next() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
    if (pos_ >= s_.size())
      return std::nullopt;
    std::string out;
    if (s_[pos_] != '"') {
      while (pos_ < s_.size() && !std::isspace(static_cast<unsigned char>(s_[pos_])))
        out += s_[pos_++];
      return out;
    }
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\' || pos_ >= s_.size()) {
        out += c;
        continue;
      }
      char e = s_[pos_++];
      if (e == 'x' && pos_ + 2 <= s_.size() && std::isxdigit(static_cast<unsigned char>(s_[pos_])) &&
          std::isxdigit(static_cast<unsigned char>(s_[pos_ + 1]))) {
        out += static_cast<char>(std::stoi(std::string{s_.substr(pos_, 2)}, nullptr, 16));
        pos_ += 2;
      } else {
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      }
    }
    if (pos_ >= s_.size())
      return std::nullopt;  // unterminated
    ++pos_;
    return out;
  }

  /// The next token as a non-negative number below `limit`.
  std::optional<uint64_t> number(uint64_t limit) {
    auto t = next();
    if (!t || t->empty() || t->size() > 19 ||
        !std::all_of(t->begin(), t->end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    auto v = std::stoull(*t);
    return v < limit ? std::optional<uint64_t>{v} : std::nullopt;
  }

private:
  std::string_view s_;
  size_t pos_ = 0;
};

/// "corp.example" from "Corp.Example." ("." stays the root).
std::string domain_text(std::string d) {
  std::transform(d.begin(), d.end(), d.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (d.size() > 1 && d.back() == '.')
    d.pop_back();
  return d;
}

template <class V>
void add_unique(V& v, std::string x) {
  if (!x.empty() && std::find(v.begin(), v.end(), x) == v.end())
    v.push_back(std::move(x));
}

/// Links in ifindex order, those without a server or domain left out.
std::vector<interface_settings> collect(std::map<uint32_t, interface_settings>& by_index) {
  std::vector<interface_settings> out;
  for (auto& [index, i] : by_index)
    if (!i.settings.nameservers.empty() || !i.settings.search.empty() || !i.routing.empty())
      out.push_back(std::move(i));
  return out;
}

/// One "a(iiay) ..." line: the servers of each link.
void resolved_servers(std::string_view line, std::map<uint32_t, interface_settings>& links) {
  busctl_tokens t{line};
  t.next();  // the signature
  auto n = t.number(1u << 16);
  for (uint64_t k = 0; n && k < *n; ++k) {
    auto index = t.number(1ull << 31), family = t.number(256), len = t.number(17);
    if (!index || !family || !len)
      return;
    unsigned char bytes[16] = {};
    for (uint64_t b = 0; b < *len; ++b) {
      auto v = t.number(256);
      if (!v)
        return;
      bytes[b] = static_cast<unsigned char>(*v);
    }
    char text[INET6_ADDRSTRLEN] = {};
    bool v4 = *family == AF_INET && *len == 4, v6 = *family == AF_INET6 && *len == 16;
    if (*index <= loopback_ifindex || !(v4 || v6) || !inet_ntop(v4 ? AF_INET : AF_INET6, bytes, text, sizeof text))
      continue;
    std::string address = text;
    if (v6 && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80)
      address += "%" + std::to_string(*index);  // link-local: only meaningful on its link
    auto& i = links[static_cast<uint32_t>(*index)];
    add_unique(i.settings.nameservers, address);
  }
}

/// One "a(isb) ..." line: the search (false) and routing-only (true) domains of each link.
void resolved_domains(std::string_view line, std::map<uint32_t, interface_settings>& links) {
  busctl_tokens t{line};
  t.next();
  auto n = t.number(1u << 16);
  for (uint64_t k = 0; n && k < *n; ++k) {
    auto index = t.number(1ull << 31);
    auto name = t.next();
    auto route_only = t.next();
    if (!index || !name || !route_only || (*route_only != "true" && *route_only != "false"))
      return;
    if (*index <= loopback_ifindex)
      continue;
    auto& i = links[static_cast<uint32_t>(*index)];
    add_unique(*route_only == "true" ? i.routing : i.settings.search, domain_text(*name));
  }
}

} // namespace

std::vector<std::string> link_settings_command(backend_kind backend) {
  switch (backend) {
    case backend_kind::resolvconf:
      return {"resolvconf", "-l"};
    case backend_kind::resolved:
      return {"busctl", "get-property", "org.freedesktop.resolve1", "/org/freedesktop/resolve1",
              "org.freedesktop.resolve1.Manager", "DNS", "Domains"};
    case backend_kind::networkmanager:
      return {"nmcli", "-t", "-f",
              "GENERAL.DEVICE,GENERAL.IP-IFACE,IP4.DNS,IP4.SEARCHES,IP4.DOMAIN,IP6.DNS,IP6.SEARCHES,IP6.DOMAIN",
              "device", "show"};
    case backend_kind::file:
      break;
  }
  return {};
}

std::vector<interface_settings> parse_link_settings(backend_kind backend, std::string_view output) {
  switch (backend) {
    case backend_kind::resolvconf:
      return parse_resolvconf_list(output);
    case backend_kind::resolved:
      return parse_resolved_links(output);
    case backend_kind::networkmanager:
      return parse_nmcli_devices(output);
    case backend_kind::file:
      break;
  }
  return {};
}

std::vector<interface_settings> parse_resolved_links(std::string_view output) {
  std::map<uint32_t, interface_settings> links;
  each_line(output, [&](std::string_view line) {
    if (line.substr(0, 8) == "a(iiay) ")
      resolved_servers(line, links);
    else if (line.substr(0, 7) == "a(isb) ")
      resolved_domains(line, links);
    return true;
  });
  for (auto& [index, i] : links) {
    i.ifindex = index;
    i.name = "ifindex " + std::to_string(index);
  }
  return collect(links);
}

std::vector<interface_settings> parse_nmcli_devices(std::string_view output) {
  std::map<uint32_t, interface_settings> devices;  // in output order
  interface_settings* current = nullptr;
  uint32_t order = 0;
  each_line(output, [&](std::string_view line) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return true;
    auto field = line.substr(0, colon);
    std::string value{line.substr(colon + 1)};
    while (!value.empty() && (value.back() == '\r' || value.back() == ' '))
      value.pop_back();
    if (auto bracket = field.find('['); bracket != std::string_view::npos)
      field = field.substr(0, bracket);
    if (field == "GENERAL.DEVICE") {
      current = &devices[order++];
      current->name = value;
      current->link = value;
    } else if (!current || value.empty()) {
    } else if (field == "GENERAL.IP-IFACE") {
      current->link = value;  // a VPN or PPP connection's own interface
    } else if (field == "IP4.DNS" || field == "IP6.DNS") {
      add_unique(current->settings.nameservers, value);
    } else if (field == "IP4.SEARCHES" || field == "IP6.SEARCHES" || field == "IP4.DOMAIN" || field == "IP6.DOMAIN") {
      if (value[0] == '~')
        add_unique(current->routing, domain_text(value.substr(1)));
      else
        add_unique(current->settings.search, domain_text(value));
    }
    return true;
  });
  return collect(devices);
}

} // namespace roamd::os
