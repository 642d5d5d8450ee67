#pragma once

// An in-memory os::firewall for unit tests of the interception guard: the same contract as the nftables one
// (install replaces a table of the same name, removing a missing table succeeds, errors name the step and the table),
// plus injectable probe/install/remove failures, a hook that runs at install (to observe the file system at that
// moment) and a log of every call.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "os/firewall.hpp"

namespace roamd::test {

class fake_firewall : public os::firewall {
public:
  std::string probe() override {
    std::lock_guard<std::mutex> lock{mtx_};
    calls_.push_back("probe");
    return probe_failure_;
  }

  os::os_error install(const os::interception_plan& plan) override {
    std::function<void(const os::interception_plan&)> hook;
    {
      std::lock_guard<std::mutex> lock{mtx_};
      calls_.push_back("install " + plan.table);
      hook = on_install_;
    }
    if (hook)
      hook(plan);
    std::lock_guard<std::mutex> lock{mtx_};
    if (install_error_)
      return os::os_error{install_error_->code, "nftables: install table inet " + plan.table + ": " +
                                                    install_error_->message};
    tables_[plan.table] = plan;
    return {};
  }

  os::os_error remove(const std::string& table) override {
    std::lock_guard<std::mutex> lock{mtx_};
    calls_.push_back("remove " + table);
    if (remove_error_)
      return os::os_error{remove_error_->code, "nftables: delete table inet " + table + ": " + remove_error_->message};
    tables_.erase(table);
    return {};
  }

  // -- setup -----------------------------------------------------------------------------------------------------

  /// A table that is already there (left by an earlier run that did not own it).
  void put_table(const os::interception_plan& plan) {
    std::lock_guard<std::mutex> lock{mtx_};
    tables_[plan.table] = plan;
  }
  /// probe() answers `why` ("" = works).
  void fail_probe(std::string why) {
    std::lock_guard<std::mutex> lock{mtx_};
    probe_failure_ = std::move(why);
  }
  /// Every install fails with `reason` (nftables' text) until cleared with nullopt; nothing is installed.
  void fail_install(std::optional<os::os_error> reason) {
    std::lock_guard<std::mutex> lock{mtx_};
    install_error_ = std::move(reason);
  }
  void fail_remove(std::optional<os::os_error> reason) {
    std::lock_guard<std::mutex> lock{mtx_};
    remove_error_ = std::move(reason);
  }
  /// Runs at the start of every install, before it succeeds or fails (without the fake's lock held).
  void on_install(std::function<void(const os::interception_plan&)> hook) {
    std::lock_guard<std::mutex> lock{mtx_};
    on_install_ = std::move(hook);
  }

  // -- for assertions --------------------------------------------------------------------------------------------

  std::map<std::string, os::interception_plan> tables() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return tables_;
  }
  /// "probe", "install <table>", "remove <table>", in call order.
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return calls_;
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, os::interception_plan> tables_;
  std::vector<std::string> calls_;
  std::string probe_failure_;
  std::optional<os::os_error> install_error_;
  std::optional<os::os_error> remove_error_;
  std::function<void(const os::interception_plan&)> on_install_;
};

} // namespace roamd::test
