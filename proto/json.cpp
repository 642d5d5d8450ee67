#include "proto/json.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

namespace roamd::proto {

namespace util = google::protobuf::util;

std::string from_json(std::string_view text, google::protobuf::Message& msg) {
  constexpr std::string_view bom = "\xEF\xBB\xBF";  // Windows editors write one; Umbrella's OrgInfo.json may have it
  if (text.substr(0, bom.size()) == bom)
    text.remove_prefix(bom.size());
  msg.Clear();
  util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  auto st = util::JsonStringToMessage({text.data(), text.size()}, &msg, opts);
  if (st.ok())
    return "";
  auto why = st.message();
  return why.empty() ? "not valid JSON for " + msg.GetTypeName() : std::string{why.data(), why.size()};
}

std::string to_json(const google::protobuf::Message& msg) {
  util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  std::string out;
  auto st = util::MessageToJsonString(msg, &out, opts);
  (void)st;  // printing a valid message cannot fail (only invalid UTF-8 in a string field would, which we never hold)
  return out;
}

std::string read_json_file(const std::string& path, google::protobuf::Message& msg) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return path + ": cannot read: " + std::strerror(errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (auto why = from_json(text.str(), msg); !why.empty())
    return path + ": not a " + msg.GetDescriptor()->name() + " in JSON: " + why;
  return "";
}

std::string write_json_file(const std::string& path, const google::protobuf::Message& msg, unsigned mode) {
  auto text = to_json(msg) + "\n";
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return tmp + ": cannot create: " + std::strerror(errno);
  bool ok = ::fchmod(fd, mode) == 0;  // an older file of that name may have had other permissions
  for (size_t done = 0; ok && done < text.size();) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    ok = n > 0;
    done += ok ? static_cast<size_t>(n) : 0;
  }
  ok = ok && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) == 0)
    return "";
  err = ok ? errno : err;
  ::unlink(tmp.c_str());
  return path + ": cannot write: " + std::strerror(err);
}

} // namespace roamd::proto
