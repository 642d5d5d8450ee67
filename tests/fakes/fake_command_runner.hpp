#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "os/command_runner.hpp"

namespace roamd::test {

/// Records every command; answers with a scripted result per program name (exit 0 with no output by default), and
/// can run a side effect (e.g. openresolv regenerating resolv.conf in a fake file system).
class fake_command_runner : public os::command_runner {
public:
  os::command_result run(const std::vector<std::string>& argv) override {
    std::function<void()> effect;
    os::command_result result{0, {}};
    {
      std::lock_guard<std::mutex> lock{mtx_};
      calls_.push_back(argv);
      if (auto it = results_.find(argv.empty() ? "" : argv[0]); it != results_.end())
        result = it->second;
      if (auto it = effects_.find(argv.empty() ? "" : argv[0]); it != effects_.end())
        effect = it->second;
    }
    if (effect && result.exit_code == 0)
      effect();
    return result;
  }

  void set_result(const std::string& program, os::command_result r) {
    std::lock_guard<std::mutex> lock{mtx_};
    results_[program] = std::move(r);
  }

  void set_effect(const std::string& program, std::function<void()> f) {
    std::lock_guard<std::mutex> lock{mtx_};
    effects_[program] = std::move(f);
  }

  std::vector<std::vector<std::string>> calls() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return calls_;
  }

private:
  mutable std::mutex mtx_;
  std::vector<std::vector<std::string>> calls_;
  std::map<std::string, os::command_result> results_;
  std::map<std::string, std::function<void()>> effects_;
};

} // namespace roamd::test
