// os::firewall through libnftables, in-process: one nft_ctx (and with it one netlink socket) for the life of the
// object, so that tables made with `flags owner` belong to this process and vanish with it, even on kill -9.
#include <cerrno>
#include <cstring>
#include <mutex>
#include <sstream>

#include <nftables/libnftables.h>
#include <spdlog/spdlog.h>

#include "os/firewall.hpp"

namespace roamd::os {

namespace {

/// nftables' error output in one line: its "Error: ..." lines joined (the echoed command and the caret marks go).
/// Some failures (EPERM while opening the netlink socket) are printed by libnftables straight to stderr, bypassing
/// the buffer: then errno `err` says what happened.
std::string one_line(const std::string& text, int err) {
  std::istringstream in{text};
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("Error: ", 0) != 0)
      continue;
    out += (out.empty() ? "" : "; ") + line.substr(7);
  }
  if (out.empty())
    out = err != 0 ? std::strerror(err) : "failed without a message";
  return out;
}

class nftables_firewall : public firewall {
public:
  nftables_firewall() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    if (ctx_) {
      nft_ctx_buffer_output(ctx_);
      nft_ctx_buffer_error(ctx_);
    }
  }

  ~nftables_firewall() override {
    if (ctx_)
      nft_ctx_free(ctx_);  // closes the netlink socket: the kernel drops the tables it owns
  }

  std::string probe() override {
    std::lock_guard<std::mutex> lock{mtx_};
    std::string err;
    if (!run("add table inet roamd_probe\ndelete table inet roamd_probe\n", err))
      return "nftables: cannot add a table: " + err;
    return {};
  }

  os_error install(const interception_plan& plan) override {
    std::lock_guard<std::mutex> lock{mtx_};
    std::string why;
    // Replaced in one transaction: there is never a moment without rules, nor one with two tables.
    std::string replace = exists(plan.table) ? "delete table inet " + plan.table + "\n" : "";
    if (owner_ != owner::unsupported) {
      if (run(replace + render_interception(plan, true), why)) {
        owner_ = owner::works;
        return {};
      }
      std::string unowned_why;
      if (owner_ == owner::works || !run(replace + render_interception(plan, false), unowned_why))
        return os_error{0, "nftables: install table inet " + plan.table + ": " + why};
      owner_ = owner::unsupported;
      spdlog::warn("os: nftables refused 'flags owner' ({}); table inet {} is installed without it and outlives "
                   "roamd if it crashes, until the interception journal is recovered",
                   why, plan.table);
      return {};
    }
    if (!run(replace + render_interception(plan, false), why))
      return os_error{0, "nftables: install table inet " + plan.table + ": " + why};
    return {};
  }

  os_error remove(const std::string& table) override {
    std::lock_guard<std::mutex> lock{mtx_};
    std::string why;
    if (exists(table) && !run("delete table inet " + table + "\n", why))
      return os_error{0, "nftables: delete table inet " + table + ": " + why};
    return {};
  }

private:
  enum class owner { unknown, works, unsupported };

  /// Runs `commands` as one transaction; false with nftables' message in `why`.
  bool run(const std::string& commands, std::string& why) {
    if (!ctx_) {
      why = "no nftables context (out of memory)";
      return false;
    }
    nft_ctx_get_error_buffer(ctx_);  // rewinds what an earlier command left
    errno = 0;
    int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
    int saved = errno;
    const char* err = nft_ctx_get_error_buffer(ctx_);
    nft_ctx_get_output_buffer(ctx_);
    if (rc == 0)
      return true;
    why = one_line(err ? err : "", saved);
    return false;
  }

  bool exists(const std::string& table) {
    std::string ignored;
    return run("list table inet " + table + "\n", ignored);
  }

  std::mutex mtx_;
  nft_ctx* ctx_;
  owner owner_ = owner::unknown;
};

} // namespace

std::unique_ptr<firewall> make_nftables_firewall() {
  return std::make_unique<nftables_firewall>();
}

} // namespace roamd::os
