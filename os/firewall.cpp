#include "os/firewall.hpp"

#include <cerrno>
#include <cstdio>

#include <arpa/inet.h>

#include <boost/asio/ip/address.hpp>

#include "os/journal.hpp"
#include "os/text.hpp"
#include "proto/journal.pb.h"

namespace roamd::os {

namespace {

constexpr std::string_view interception_magic = "ROAMDI1\n";

/// The address of "a.b.c.d:port" (v6 false) or "[addr]:port" (v6 true), or "" when `target` is not one.
std::string target_address(const std::string& target, bool v6) {
  auto colon = target.rfind(':');
  if (colon == std::string::npos || colon + 1 == target.size() || target.size() - colon > 6)
    return {};
  for (size_t i = colon + 1; i < target.size(); ++i)
    if (target[i] < '0' || target[i] > '9')
      return {};
  if (std::stoul(target.substr(colon + 1)) > 65535)
    return {};
  std::string host = target.substr(0, colon);
  if (v6) {
    if (host.size() < 3 || host.front() != '[' || host.back() != ']')
      return {};
    host = host.substr(1, host.size() - 2);
  }
  unsigned char buf[16];
  return ::inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), buf) == 1 ? host : std::string{};
}

bool plain_identifier(const std::string& s) {
  if (s.empty() || s.size() > 32 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

/// The rules of one family: leave the target's own address alone, DNAT UDP and TCP port 53 to it.
void render_family(std::string& out, const std::string& target, bool v6) {
  if (target.empty())
    return;
  std::string ip = v6 ? "ip6" : "ip";
  std::string nfproto = v6 ? "ipv6" : "ipv4";
  auto address = target_address(target, v6);
  boost::system::error_code ec;
  if (!boost::asio::ip::make_address(address, ec).is_loopback())
    out += "    " + ip + " daddr " + address + " return\n";
  // A local DNS proxy's clients are left alone: redirecting them would also catch the proxy's forwarded queries
  // coming back from roamd's routes to it (a loop). The proxy's own upstream traffic is intercepted.
  out += "    " + ip + " daddr " + (v6 ? std::string{"::1"} : std::string{"127.0.0.0/8"}) + " return\n";
  for (const char* l4 : {"udp", "tcp"})
    out += "    meta nfproto " + nfproto + " " + l4 + " dport 53 dnat " + ip + " to " + target + "\n";
}

framed_file journal_file(std::shared_ptr<file_system> fs, const std::string& dir) {
  return framed_file{std::move(fs), dir, "interception.journal", interception_magic};
}

} // namespace

std::string check_interception_plan(const interception_plan& plan) {
  if (!plain_identifier(plan.table))
    return "table name '" + plan.table + "' is not a plain identifier";
  if (plan.to_v4.empty() && plan.to_v6.empty())
    return "neither an IPv4 nor an IPv6 target";
  if (!plan.to_v4.empty() && target_address(plan.to_v4, false).empty())
    return "IPv4 target '" + plan.to_v4 + "' is not ADDRESS:PORT";
  if (!plan.to_v6.empty() && target_address(plan.to_v6, true).empty())
    return "IPv6 target '" + plan.to_v6 + "' is not [ADDRESS]:PORT";
  return {};
}

namespace {

/// Intercepted clients' DNS flows and roamd's answers to them get conntrack zone 1, roamd's own (marked) upstream
/// flows stay in zone 0: a client flow and an upstream flow of roamd with the same addresses and ports (roamd picks
/// random source ports; conntrack keeps UDP flows for 30 s and more) are then two flows, and roamd's query is never
/// taken for the client's and redirected back to roamd.
void render_zones(std::string& out, const interception_plan& plan, const std::string& mark) {
  out += "  chain zone {\n    type filter hook output priority -300; policy accept;\n";
  out += "    meta mark " + mark + " return\n";
  for (const char* l4 : {"udp", "tcp"})
    out += std::string{"    "} + l4 + " dport 53 ct zone set " + std::to_string(intercepted_zone) + "\n";
  for (bool v6 : {false, true}) {
    const auto& target = v6 ? plan.to_v6 : plan.to_v4;
    if (target.empty())
      continue;
    for (const char* l4 : {"udp", "tcp"})
      out += std::string{"    "} + (v6 ? "ip6" : "ip") + " saddr " + target_address(target, v6) + " " + l4 +
             " sport " + target.substr(target.rfind(':') + 1) + " ct zone set " + std::to_string(intercepted_zone) +
             "\n";
  }
  out += "  }\n";
}

} // namespace

std::string render_interception(const interception_plan& plan, bool owned) {
  std::string out = "table inet " + plan.table + " {\n";
  if (owned)
    out += "  flags owner\n";
  std::string mark;
  if (plan.exempt_mark != 0) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%08x", plan.exempt_mark);
    mark = text;
    render_zones(out, plan, mark);
  }
  out += "  chain out {\n    type nat hook output priority -100; policy accept;\n";
  if (!mark.empty())
    out += "    meta mark " + mark + " return\n";
  render_family(out, plan.to_v4, false);
  render_family(out, plan.to_v6, true);
  out += "  }\n}\n";
  return out;
}

interception_guard::interception_guard(std::shared_ptr<file_system> fs, std::shared_ptr<firewall> fw,
                                       std::string state_dir)
  : fs_(std::move(fs)), fw_(std::move(fw)), dir_(std::move(state_dir)), path_(dir_ + "/interception.journal") {
}

os_error interception_guard::engage(const interception_plan& plan) {
  if (auto why = check_interception_plan(plan); !why.empty())
    return os_error{EINVAL, "interception plan: " + why};
  if (engaged_ && table_ != plan.table) {
    if (auto err = release())
      return err;
  }
  proto::Interception record;
  record.set_table(plan.table);
  record.set_to_v4(plan.to_v4);
  record.set_to_v6(plan.to_v6);
  record.set_exempt_mark(plan.exempt_mark);
  record.set_rules(render_interception(plan, true));
  record.set_boot_id(fs_->boot_id());
  record.set_created_unix_ms(unix_ms_now());
  auto journal = journal_file(fs_, dir_);
  if (auto err = journal.save(record))
    return err;
  if (auto err = fw_->install(plan)) {
    // A failed install leaves an earlier table of the same name in place (one transaction): keep its journal then.
    if (!engaged_)
      journal.remove();
    return err;
  }
  engaged_ = true;
  table_ = plan.table;
  return {};
}

os_error interception_guard::release() {
  if (!engaged_)
    return {};
  if (auto err = fw_->remove(table_))
    return err;
  engaged_ = false;
  return journal_file(fs_, dir_).remove();
}

std::string interception_guard::recover(os_error& error) {
  auto journal = journal_file(fs_, dir_);
  proto::Interception record;
  std::string problem;
  auto state = journal.load(record, problem);
  if (state == framed_file::status::absent)
    return {};
  std::string table = interception_plan{}.table;
  std::string whose;
  if (state == framed_file::status::ok && plain_identifier(record.table())) {
    table = record.table();
    whose = "the interception journal of an earlier run";
    if (record.boot_id() != fs_->boot_id())
      whose += " (from an earlier boot)";
  } else {
    whose = "a damaged interception journal (" +
            (problem.empty() ? "table name '" + record.table() + "' is not a plain identifier" : problem) + ")";
  }
  if (auto err = fw_->remove(table)) {
    error = err;
    return "kept " + whose + ": could not remove table inet " + table;
  }
  if (auto err = journal.remove()) {
    error = err;
    return "removed table inet " + table + " named by " + whose + ", but not the journal";
  }
  return "removed table inet " + table + " named by " + whose + ", then the journal";
}

} // namespace roamd::os
