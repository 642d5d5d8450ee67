#pragma once

// A private directory under /tmp (mkdtemp) removed with everything in it when the test ends.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace roamd::test {

/// mkdtemp("/tmp/roamd-<tag>-XXXXXX"); `path` is empty when it could not be made.
struct temp_dir {
  explicit temp_dir(const std::string& tag) {
    std::string tmpl = "/tmp/roamd-" + tag + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr)
      path = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    if (!path.empty())
      std::filesystem::remove_all(path, ignored);
  }

  /// `path` + "/" + `name`.
  std::string operator/(const std::string& name) const {
    return path + "/" + name;
  }

  std::string path;
};

/// Writes `content` to `path` the way `echo > path` does: open with O_TRUNC on the same inode.
inline void write_plain(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

/// The whole file, or "" when it cannot be read.
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace roamd::test
