#include "tests/fakes/fake_file_system.hpp"

#include <cerrno>
#include <vector>

namespace roamd::test {

namespace {

using lock = std::lock_guard<std::mutex>;

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

/// Absolute, without "." / ".." / empty components (what the kernel's lookup would walk).
std::string normalize(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    auto end = path.find('/', pos);
    if (end == std::string::npos)
      end = path.size();
    std::string part = path.substr(pos, end - pos);
    if (part == "..") {
      if (!parts.empty())
        parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = end + 1;
  }
  std::string out;
  for (const auto& p : parts)
    out += "/" + p;
  return out.empty() ? "/" : out;
}

bool under(const std::string& path, const std::string& prefix) {
  if (prefix.empty())
    return false;
  if (prefix == "/")
    return true;
  return path.compare(0, prefix.size(), prefix) == 0 && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

os::os_error fail(int err, const std::string& what) {
  return os::from_errno(err, what);
}

} // namespace

std::string fake_file_system::temp_name_for(const std::string& path) {
  auto p = normalize(path);
  return join(dir_of(p), "." + p.substr(p.rfind('/') + 1) + ".roamd-tmp-fake");
}

void fake_file_system::put_file(const std::string& path, const std::string& content, uint32_t mode, uint32_t uid,
                                uint32_t gid) {
  lock l{mtx_};
  auto p = normalize(path);
  nodes_[p] = node{false, content, "", mode & 07777, uid, gid};
  add_parents(p);
}

void fake_file_system::put_symlink(const std::string& path, const std::string& target) {
  lock l{mtx_};
  auto p = normalize(path);
  nodes_[p] = node{true, "", target, 0777, 0, 0};
  add_parents(p);
}

void fake_file_system::erase(const std::string& path) {
  lock l{mtx_};
  nodes_.erase(normalize(path));
}

void fake_file_system::set_bind_mounted(const std::string& path, bool on) {
  lock l{mtx_};
  on ? void(bind_mounted_.insert(normalize(path))) : void(bind_mounted_.erase(normalize(path)));
}

void fake_file_system::set_immutable(const std::string& path, bool on) {
  lock l{mtx_};
  on ? void(immutable_.insert(normalize(path))) : void(immutable_.erase(normalize(path)));
}

void fake_file_system::set_unreadable(const std::string& path, bool on) {
  lock l{mtx_};
  on ? void(unreadable_.insert(normalize(path))) : void(unreadable_.erase(normalize(path)));
}

void fake_file_system::set_read_only_prefix(const std::string& prefix) {
  lock l{mtx_};
  read_only_prefix_ = prefix.empty() ? prefix : normalize(prefix);
}

void fake_file_system::set_full_disk_prefix(const std::string& prefix) {
  lock l{mtx_};
  full_disk_prefix_ = prefix.empty() ? prefix : normalize(prefix);
}

void fake_file_system::set_boot_id(const std::string& id) {
  lock l{mtx_};
  boot_id_ = id;
}

void fake_file_system::crash_after(size_t n) {
  lock l{mtx_};
  crash_at_ = mutations_ + n + 1;
  crash_ = crash_kind::before;
}

void fake_file_system::crash_mid_write(size_t n) {
  lock l{mtx_};
  crash_at_ = mutations_ + n + 1;
  crash_ = crash_kind::mid_write;
}

std::map<std::string, fake_file_system::node> fake_file_system::nodes() const {
  lock l{mtx_};
  return nodes_;
}

std::optional<fake_file_system::node> fake_file_system::at(const std::string& path) const {
  lock l{mtx_};
  auto it = nodes_.find(normalize(path));
  return it == nodes_.end() ? std::nullopt : std::optional<node>{it->second};
}

size_t fake_file_system::mutations() const {
  lock l{mtx_};
  return mutations_;
}

size_t fake_file_system::inspections() const {
  lock l{mtx_};
  return inspections_;
}

os::file_state fake_file_system::inspect(const std::string& path) {
  lock l{mtx_};
  ++inspections_;
  os::file_state st;
  auto p = normalize(path);
  auto it = nodes_.find(p);
  if (it == nodes_.end()) {
    if (is_dir(p)) {
      st.exists = true;
      st.mode = 0755;
    }
    return st;
  }
  st.exists = true;
  const node* described = &it->second;
  if (it->second.is_symlink) {
    st.is_symlink = true;
    st.link_target = it->second.target;
    std::string final_path;
    described = resolve(p, final_path) == 0 ? &nodes_.at(final_path) : nullptr;
  }
  if (described != nullptr) {
    st.mode = described->mode;
    st.uid = described->uid;
    st.gid = described->gid;
  }
  st.readable = !read_locked(p, st.content, size_t{1} << 20);
  st.bind_mounted = bind_mounted_.count(p) > 0;
  st.immutable = !it->second.is_symlink && immutable_.count(p) > 0;
  return st;
}

os::os_error fake_file_system::read(const std::string& path, std::string& out, size_t limit) {
  lock l{mtx_};
  return read_locked(normalize(path), out, limit);
}

os::os_error fake_file_system::write_atomic(const std::string& path, const std::string& content, uint32_t mode,
                                            uint32_t uid, uint32_t gid) {
  lock l{mtx_};
  mutation_point();
  auto p = normalize(path);
  auto tmp = temp_name_for(p);
  if (!is_dir(dir_of(p)))
    return fail(ENOENT, "open " + tmp);
  if (under(tmp, read_only_prefix_))
    return fail(EROFS, "open " + tmp);
  if (under(tmp, full_disk_prefix_) && !content.empty())
    return fail(ENOSPC, "write " + tmp);
  if (auto err = check_rename_over(p, tmp))
    return err;
  nodes_[p] = node{false, content, "", mode & 07777, uid, gid};
  return {};
}

os::os_error fake_file_system::write_in_place(const std::string& path, const std::string& content) {
  lock l{mtx_};
  mutation_point(path);
  auto p = normalize(path);
  auto it = nodes_.find(p);
  if (it == nodes_.end())
    return fail(is_dir(p) ? EISDIR : ENOENT, "open " + p);
  if (it->second.is_symlink)
    return fail(ELOOP, "open " + p + " (a symlink: not writing through it)");
  if (under(p, read_only_prefix_))
    return fail(EROFS, "open " + p);
  if (immutable_.count(p) > 0)
    return fail(EPERM, "open " + p);
  it->second.content.clear();  // ftruncate
  if (under(p, full_disk_prefix_) && !content.empty())
    return fail(ENOSPC, "write " + p);
  it->second.content = content;
  return {};
}

os::os_error fake_file_system::symlink_atomic(const std::string& path, const std::string& target) {
  lock l{mtx_};
  mutation_point();
  auto p = normalize(path);
  auto tmp = temp_name_for(p);
  if (!is_dir(dir_of(p)))
    return fail(ENOENT, "symlink " + tmp);
  if (under(tmp, read_only_prefix_))
    return fail(EROFS, "symlink " + tmp);
  if (auto err = check_rename_over(p, tmp))
    return err;
  nodes_[p] = node{true, "", target, 0777, 0, 0};
  return {};
}

size_t fake_file_system::remove_stale_temporaries(const std::string& path) {
  std::lock_guard<std::mutex> lock{mtx_};
  auto prefix = join(dir_of(path), "." + path.substr(path.rfind('/') + 1) + ".roamd-tmp-");
  size_t removed = 0;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->first.compare(0, prefix.size(), prefix) == 0) {
      it = nodes_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

os::os_error fake_file_system::remove(const std::string& path) {
  lock l{mtx_};
  mutation_point();
  auto p = normalize(path);
  if (under(p, read_only_prefix_))  // the kernel checks for a writable mount before looking the name up
    return fail(EROFS, "unlink " + p);
  auto it = nodes_.find(p);
  if (it == nodes_.end())
    return is_dir(p) ? fail(EISDIR, "unlink " + p) : os::os_error{};
  if (!it->second.is_symlink && immutable_.count(p) > 0)
    return fail(EPERM, "unlink " + p);
  if (bind_mounted_.count(p) > 0)
    return fail(EBUSY, "unlink " + p);
  nodes_.erase(it);
  return {};
}

os::os_error fake_file_system::make_dirs(const std::string& path, uint32_t mode) {
  lock l{mtx_};
  mutation_point();
  auto p = normalize(path);
  std::vector<std::string> missing;
  for (auto d = p; d != "/"; d = dir_of(d))
    missing.insert(missing.begin(), d);
  for (const auto& d : missing) {
    if (nodes_.count(d) > 0)
      return fail(ENOTDIR, "mkdir " + d);
    if (dirs_.count(d) > 0)
      continue;
    if (under(d, read_only_prefix_))
      return fail(EROFS, "mkdir " + d);
    dirs_.insert(d);
  }
  return {};
}

std::string fake_file_system::boot_id() {
  lock l{mtx_};
  return boot_id_;
}

void fake_file_system::mutation_point(const std::string& in_place_path) {
  ++mutations_;
  if (crash_ == crash_kind::none || mutations_ != crash_at_)
    return;
  auto kind = crash_;
  crash_ = crash_kind::none;
  if (kind == crash_kind::mid_write && !in_place_path.empty()) {
    auto it = nodes_.find(normalize(in_place_path));
    bool opens = it != nodes_.end() && !it->second.is_symlink && !under(it->first, read_only_prefix_) &&
                 immutable_.count(it->first) == 0;
    if (opens)
      it->second.content.clear();  // truncated, killed before the content was written
  }
  throw fake_crash("fake_file_system: crash at mutation " + std::to_string(mutations_));
}

int fake_file_system::resolve(const std::string& path, std::string& out) const {
  std::string cur = path;
  for (int hops = 0; hops <= 40; ++hops) {
    auto it = nodes_.find(cur);
    if (it == nodes_.end())
      return is_dir(cur) ? EISDIR : ENOENT;
    if (!it->second.is_symlink) {
      out = cur;
      return 0;
    }
    const auto& t = it->second.target;
    cur = normalize(!t.empty() && t[0] == '/' ? t : join(dir_of(cur), t));
  }
  return ELOOP;
}

bool fake_file_system::is_dir(const std::string& path) const {
  return dirs_.count(path) > 0;
}

void fake_file_system::add_parents(const std::string& path) {
  for (auto d = dir_of(path); d != "/"; d = dir_of(d))
    dirs_.insert(d);
}

os::os_error fake_file_system::read_locked(const std::string& path, std::string& out, size_t limit) const {
  out.clear();
  std::string final_path;
  if (int err = resolve(path, final_path))
    return fail(err, (err == EISDIR ? "read " : "open ") + path);
  if (unreadable_.count(path) > 0 || unreadable_.count(final_path) > 0)
    return fail(EACCES, "open " + path);
  const auto& content = nodes_.at(final_path).content;
  if (content.size() > limit)
    return fail(EFBIG, "read " + path + " (more than " + std::to_string(limit) + " bytes)");
  out = content;
  return {};
}

os::os_error fake_file_system::check_rename_over(const std::string& path, const std::string& tmp) const {
  auto what = "rename " + tmp + " -> " + path;
  if (is_dir(path))
    return fail(EISDIR, what);
  auto it = nodes_.find(path);
  if (it != nodes_.end() && !it->second.is_symlink && immutable_.count(path) > 0)
    return fail(EPERM, what);
  if (bind_mounted_.count(path) > 0)
    return fail(EBUSY, what);
  return {};
}

} // namespace roamd::test
