// The real file system: POSIX calls, /proc/self/mountinfo and FS_IOC_GETFLAGS. Every step that can fail returns an
// os_error naming the step and the path; nothing throws.

#include "os/file_system.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string_view>

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace roamd::os {

namespace {

/// Closes a descriptor on scope exit unless released by `close_checked`.
struct unique_fd {
  int fd = -1;
  explicit unique_fd(int f) : fd(f) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd >= 0)
      ::close(fd);
  }
  /// Closes now and reports close()'s own error (NFS and friends report write-back errors there).
  int close_checked() {
    int rc = ::close(fd);
    fd = -1;
    return rc;
  }
};

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

/// `.<name>.roamd-tmp-<pid>-<random>` next to `path`, so that the rename stays on one file system.
std::string temp_name_for(const std::string& path) {
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%08x", static_cast<unsigned>(rd()));
  return join(dir_of(path), "." + name_of(path) + ".roamd-tmp-" + std::to_string(::getpid()) + "-" + suffix);
}

/// Writes all of `data`, resuming after partial writes and EINTR.
int write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    if (n == 0)
      return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

/// Makes a rename or unlink in `dir` durable. EINVAL means the file system cannot sync directories: nothing to do.
os_error fsync_dir(const std::string& dir) {
  unique_fd fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.fd < 0) {
    int err = errno;
    return from_errno(err, "open " + dir);
  }
  if (::fsync(fd.fd) != 0 && errno != EINVAL) {
    int err = errno;
    return from_errno(err, "fsync " + dir);
  }
  return {};
}

/// Undoes the \ooo escapes (space, tab, newline, backslash) of a /proc/self/mountinfo field.
std::string unescape_mount_field(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t j) { return j < s.size() && s[j] >= '0' && s[j] <= '7'; };
    if (s[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

/// True when one of `candidates` is the mount point (5th field) of a line of /proc/self/mountinfo.
bool is_mount_point(const std::string& a, const std::string& b) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    size_t pos = 0;
    std::string field;
    for (int i = 0; i < 5 && pos != std::string::npos; ++i) {
      auto end = line.find(' ', pos);
      field = line.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? end : end + 1;
    }
    auto mount_point = unescape_mount_field(field);
    if (mount_point == a || mount_point == b)
      return true;
  }
  return false;
}

/// realpath() of the directory joined with the last component: where the entry itself lives, symlink or not.
std::string canonical_entry(const std::string& path) {
  char* dir = ::realpath(dir_of(path).c_str(), nullptr);
  if (dir == nullptr)
    return path;
  std::string out = join(dir, name_of(path));
  std::free(dir);
  return out;
}

class linux_file_system final : public file_system {
public:
  file_state inspect(const std::string& path) override {
    file_state st;
    struct stat ls {};
    if (::lstat(path.c_str(), &ls) != 0)
      return st;
    st.exists = true;
    st.mode = ls.st_mode & 07777;
    st.uid = ls.st_uid;
    st.gid = ls.st_gid;
    if (S_ISLNK(ls.st_mode)) {
      st.is_symlink = true;
      st.mode = 0644;  // a dangling link has no target to describe: defaults
      st.uid = st.gid = 0;
      std::string buf(4096, '\0');
      ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
      if (n > 0)
        st.link_target = buf.substr(0, static_cast<size_t>(n));
      struct stat ts {};
      if (::stat(path.c_str(), &ts) == 0) {
        st.mode = ts.st_mode & 07777;
        st.uid = ts.st_uid;
        st.gid = ts.st_gid;
      }
    }
    st.readable = !read(path, st.content, size_t{1} << 20);
    if (!st.readable)
      st.content.clear();
    st.bind_mounted = is_mount_point(path, canonical_entry(path));
    if (S_ISREG(ls.st_mode)) {
      unique_fd fd{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)};
      int flags = 0;  // the kernel reads and writes an int, whatever the macro says
      if (fd.fd >= 0 && ::ioctl(fd.fd, FS_IOC_GETFLAGS, &flags) == 0)
        st.immutable = (flags & FS_IMMUTABLE_FL) != 0;
    }
    return st;
  }

  os_error read(const std::string& path, std::string& out, size_t limit) override {
    out.clear();
    // O_NONBLOCK: a FIFO planted at the path must not hang the caller.
    unique_fd fd{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
    if (fd.fd < 0) {
      int err = errno;
      return from_errno(err, "open " + path);
    }
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd.fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        int err = errno;
        out.clear();
        return from_errno(err, "read " + path);
      }
      if (n == 0)
        return {};
      if (out.size() + static_cast<size_t>(n) > limit) {
        out.clear();
        return from_errno(EFBIG, "read " + path + " (more than " + std::to_string(limit) + " bytes)");
      }
      out.append(buf, static_cast<size_t>(n));
    }
  }

  os_error write_atomic(const std::string& path, const std::string& content, uint32_t mode, uint32_t uid,
                        uint32_t gid) override {
    std::string tmp;
    int fd_raw = -1;
    for (int attempt = 0; attempt < 8 && fd_raw < 0; ++attempt) {
      tmp = temp_name_for(path);
      fd_raw = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
      if (fd_raw < 0 && errno != EEXIST)
        break;
    }
    if (fd_raw < 0) {
      int err = errno;
      return from_errno(err, "open " + tmp);
    }
    unique_fd fd{fd_raw};
    std::string step = "write ";
    int err = write_all(fd.fd, content);
    if (!err && ::fchmod(fd.fd, mode & 07777) != 0)
      err = errno, step = "fchmod ";
    if (!err && ::fchown(fd.fd, uid, gid) != 0)
      err = errno, step = "fchown ";
    if (!err && ::fsync(fd.fd) != 0)
      err = errno, step = "fsync ";
    if (!err && fd.close_checked() != 0)
      err = errno, step = "close ";
    if (!err && ::rename(tmp.c_str(), path.c_str()) != 0)
      err = errno, step = "rename ";
    if (err) {
      if (fd.fd >= 0)
        fd.close_checked();
      ::unlink(tmp.c_str());
      return from_errno(err, step + tmp + (step == "rename " ? " -> " + path : ""));
    }
    return fsync_dir(dir_of(path));
  }

  os_error write_in_place(const std::string& path, const std::string& content) override {
    unique_fd fd{::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC)};
    if (fd.fd < 0) {
      int err = errno;
      return from_errno(err, "open " + path + (err == ELOOP ? " (a symlink: not writing through it)" : ""));
    }
    if (::ftruncate(fd.fd, 0) != 0) {
      int err = errno;
      return from_errno(err, "ftruncate " + path);
    }
    if (int err = write_all(fd.fd, content))
      return from_errno(err, "write " + path);
    if (::fsync(fd.fd) != 0) {
      int err = errno;
      return from_errno(err, "fsync " + path);
    }
    if (fd.close_checked() != 0) {
      int err = errno;
      return from_errno(err, "close " + path);
    }
    return {};
  }

  os_error symlink_atomic(const std::string& path, const std::string& target) override {
    std::string tmp;
    int rc = -1;
    for (int attempt = 0; attempt < 8 && rc != 0; ++attempt) {
      tmp = temp_name_for(path);
      rc = ::symlink(target.c_str(), tmp.c_str());
      if (rc != 0 && errno != EEXIST)
        break;
    }
    if (rc != 0) {
      int err = errno;
      return from_errno(err, "symlink " + tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return from_errno(err, "rename " + tmp + " -> " + path);
    }
    return fsync_dir(dir_of(path));
  }

  os_error remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      int err = errno;
      return err == ENOENT ? os_error{} : from_errno(err, "unlink " + path);
    }
    return fsync_dir(dir_of(path));
  }

  size_t remove_stale_temporaries(const std::string& path) override {
    auto dir = dir_of(path);
    auto prefix = "." + name_of(path) + ".roamd-tmp-";
    size_t removed = 0;
    DIR* d = ::opendir(dir.c_str());
    if (!d)
      return 0;
    while (auto* e = ::readdir(d))
      if (std::string_view{e->d_name}.substr(0, prefix.size()) == prefix &&
          ::unlink(join(dir, e->d_name).c_str()) == 0)
        ++removed;
    ::closedir(d);
    if (removed > 0)
      fsync_dir(dir);
    return removed;
  }

  os_error make_dirs(const std::string& path, uint32_t mode) override {
    std::string prefix;
    size_t pos = 0;
    while (pos < path.size()) {
      auto end = path.find('/', pos + 1);
      prefix = path.substr(0, end);
      pos = end == std::string::npos ? path.size() : end;
      if (prefix.empty() || prefix == "/")
        continue;
      if (::mkdir(prefix.c_str(), mode & 07777) == 0)
        continue;
      int err = errno;
      struct stat st {};
      if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        continue;
      return from_errno(err == EEXIST ? ENOTDIR : err, "mkdir " + prefix);
    }
    return {};
  }

  std::string boot_id() override {
    std::string id;
    if (read("/proc/sys/kernel/random/boot_id", id, 4096))
      return {};
    auto not_space = [](char c) { return c != ' ' && c != '\n' && c != '\t' && c != '\r'; };
    while (!id.empty() && !not_space(id.back()))
      id.pop_back();
    size_t start = 0;
    while (start < id.size() && !not_space(id[start]))
      ++start;
    return id.substr(start);
  }
};

} // namespace

std::unique_ptr<file_system> make_linux_file_system() {
  return std::make_unique<linux_file_system>();
}

} // namespace roamd::os
