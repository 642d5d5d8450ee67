#include "tools/inspect/debug_port.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/ssl/context.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/inspect/auth.hpp"
#include "tools/inspect/debug_connection.hpp"
#include "tools/inspect/loopback.hpp"

namespace roamd::inspect {

namespace {

using generic = boost::asio::generic::stream_protocol;
using acceptor_type = boost::asio::basic_socket_acceptor<generic>;

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// Whether the Unix peer may inspect: root, roamd's own user, or a member of the socket's group (primary group from
/// SO_PEERCRED, supplementary groups from /proc/PID/status).
bool peer_allowed(int fd, gid_t socket_gid, std::string& who) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    who = "unknown peer";
    return false;
  }
  who = "uid " + std::to_string(cred.uid) + " gid " + std::to_string(cred.gid) + " pid " + std::to_string(cred.pid);
  if (cred.uid == 0 || cred.uid == ::geteuid() || cred.gid == socket_gid)
    return true;
  std::ifstream status{"/proc/" + std::to_string(cred.pid) + "/status"};
  std::string line;
  for (int i = 0; i < 64 && std::getline(status, line); ++i)
    if (line.rfind("Groups:", 0) == 0) {
      std::istringstream groups{line.substr(7)};
      unsigned long g = 0;
      while (groups >> g)
        if (g == socket_gid)
          return true;
    }
  return false;
}

/// Writes `text` to `path` (mode 0600) through a fresh temporary file and a rename: never through a planted link.
std::string write_private_file(const std::string& path, const std::string& text) {
  auto dir = parent_dir(path);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return sys_error("cannot create " + dir);
  auto tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return sys_error("cannot create " + tmp);
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  auto err = ok ? std::string{} : sys_error("cannot write " + tmp);
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0)
    err = sys_error("cannot rename " + tmp + " to " + path);
  if (!err.empty())
    ::unlink(tmp.c_str());
  return err;
}

/// Removes a socket file an earlier run left (nobody answers on it); refuses to touch anything else.
std::string clear_stale_socket(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0)
    return errno == ENOENT ? "" : sys_error("cannot inspect " + path);
  if (!S_ISSOCK(st.st_mode))
    return path + " exists and is not a socket; not replacing it";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), std::min(path.size(), sizeof sa.sun_path - 1));
  bool live = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  if (fd >= 0)
    ::close(fd);
  if (live)
    return "another process serves " + path + " (is roamd already running?)";
  ::unlink(path.c_str());
  return "";
}

} // namespace

struct debug_port::impl {
  std::unique_ptr<boost::asio::io_context> ioc = std::make_unique<boost::asio::io_context>();
  detail::shared s;
  std::unique_ptr<acceptor_type> unix_acceptor;
  std::unique_ptr<acceptor_type> tcp_acceptor;
  std::unique_ptr<boost::asio::steady_timer> retry;
  gid_t socket_gid = 0;
  uint16_t port = 0;
  std::thread thread;
  bool socket_created = false, token_written = false;
  detail::log_limit busy_log;

  std::string open_unix();
  std::string open_tcp();
  void accept(acceptor_type& a, bool is_unix);
  void admit(generic::socket sock, bool is_unix);
  void remove_files();
};

std::string debug_port::impl::open_unix() {
  const auto& path = s.opts.socket_path;
  auto dir = parent_dir(path);
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
    return sys_error("cannot create " + dir);
  if (auto err = clear_stale_socket(path); !err.empty())
    return err;
  boost::system::error_code ec;
  generic::endpoint ep{boost::asio::local::stream_protocol::endpoint{path}};
  unix_acceptor = std::make_unique<acceptor_type>(*ioc);
  unix_acceptor->open(ep.protocol(), ec);
  if (!ec)
    unix_acceptor->bind(ep, ec);
  if (ec)
    return "cannot bind " + path + ": " + ec.message();
  socket_created = true;
  // Permissions before listen(): until then nobody can connect.
  struct stat st{};
  if (::chmod(path.c_str(), 0660) != 0 || ::stat(path.c_str(), &st) != 0)
    return sys_error("cannot set the mode of " + path);
  socket_gid = st.st_gid;
  unix_acceptor->listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec)
    return "cannot listen on " + path + ": " + ec.message();
  return "";
}

std::string debug_port::impl::open_tcp() {
  auto where = tcp_endpoint(s.opts.tcp);
  if (!where)
    return "debug TCP listener " + s.opts.tcp + ": expected \"IP:PORT\"";
  if (!where->address().is_loopback() && !s.opts.tls.enabled())
    return "debug TCP listener " + s.opts.tcp + ": only a loopback address is allowed without mutual TLS";
  if (s.opts.tls.enabled()) {  // the client certificate authenticates: no token
    s.tls = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
    if (auto err = configure_context(s.tls->native_handle(), s.opts.tls, config_labels, true); !err.empty())
      return "debug TCP listener " + s.opts.tcp + ": " + err;
  } else {
    auto token = random_bytes(token_size);
    if (!token)
      return "no random token available for the debug TCP listener";
    s.token = *token;
    if (auto err = write_private_file(s.opts.token_file, token_to_text(s.token)); !err.empty())
      return err;
    token_written = true;
  }
  tcp_acceptor = std::make_unique<acceptor_type>(*ioc);
  if (auto err = listen_on(*tcp_acceptor, generic::endpoint{*where}, s.opts.tcp); !err.empty())
    return err;
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ::getsockname(tcp_acceptor->native_handle(), reinterpret_cast<sockaddr*>(&sa), &len);
  port = ntohs(sa.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  return "";
}

void debug_port::impl::accept(acceptor_type& a, bool is_unix) {
  a.async_accept([this, &a, is_unix](const boost::system::error_code& ec, generic::socket sock) {
    if (ec == boost::asio::error::operation_aborted)
      return;
    if (ec) {  // EMFILE and the like: try again shortly instead of spinning
      spdlog::warn("debug_port: accept failed: {}", ec.message());
      retry = std::make_unique<boost::asio::steady_timer>(*ioc, std::chrono::milliseconds(100));
      retry->async_wait([this, &a, is_unix](const boost::system::error_code& e) {
        if (!e)
          accept(a, is_unix);
      });
      return;
    }
    admit(std::move(sock), is_unix);
    accept(a, is_unix);
  });
}

void debug_port::impl::admit(generic::socket sock, bool is_unix) {
  ++s.counters->accepted;
  if (s.open.load() >= s.opts.max_connections) {
    ++s.counters->busy;
    if (busy_log.allow())
      spdlog::warn("debug_port: {} inspection connections open; refusing more{}", s.opts.max_connections,
                   busy_log.held_back_text());
    if (s.tls && !is_unix) {  // a TLS client cannot read a plain frame: the close says it
      boost::system::error_code ignored;
      sock.close(ignored);
      return;
    }
    detail::refuse(sock, proto::InspectError::BUSY,
                   "too many inspection connections (" + std::to_string(s.opts.max_connections) + "); try again later");
    return;
  }
  if (is_unix) {
    std::string who;
    if (!peer_allowed(sock.native_handle(), socket_gid, who)) {
      ++s.counters->peer_refused;
      spdlog::info("debug_port: refused {}: not root and not in the socket's group {}", who, socket_gid);
      detail::refuse(sock, proto::InspectError::PERMISSION_DENIED,
                     "permission denied: only root and members of the socket's group may inspect roamd");
      return;
    }
  }
  if (s.tls && !is_unix)  // counted against the cap from here on, before the handshake
    std::make_shared<detail::connection<detail::tls_stream>>(s, detail::tls_stream{std::move(sock), *s.tls}, false)
      ->start();
  else
    std::make_shared<detail::connection<detail::socket_type>>(s, std::move(sock), !is_unix)->start();
}

void debug_port::impl::remove_files() {
  if (socket_created)
    ::unlink(s.opts.socket_path.c_str());
  if (token_written)
    ::unlink(s.opts.token_file.c_str());
  socket_created = token_written = false;
}

proto::DebugPortStatus to_proto(const debug_port_counters& c) {
  proto::DebugPortStatus p;
  p.set_accepted(c.accepted);
  p.set_answered(c.answered);
  p.set_busy(c.busy);
  p.set_peer_refused(c.peer_refused);
  p.set_tls_failed(c.tls_failed);
  p.set_auth_failed(c.auth_failed);
  p.set_too_large(c.too_large);
  p.set_bad_request(c.bad_request);
  p.set_timeouts(c.timeouts);
  return p;
}

debug_port::debug_port(debug_port_options opts, request_handler handler) : impl_(std::make_unique<impl>()) {
  impl_->s.counters = opts.counters ? opts.counters : std::make_shared<debug_port_counters>();
  impl_->s.opts = std::move(opts);
  impl_->s.handler = std::move(handler);
}

debug_port::~debug_port() { stop(); }

std::string debug_port::open() {
  std::string err;
  if (!impl_->s.opts.socket_path.empty())
    err = impl_->open_unix();
  if (err.empty() && !impl_->s.opts.tcp.empty())
    err = impl_->open_tcp();
  if (!err.empty()) {
    impl_->unix_acceptor.reset();
    impl_->tcp_acceptor.reset();
    impl_->remove_files();
  }
  return err;
}

void debug_port::start() {
  auto& i = *impl_;
  if (i.thread.joinable() || !i.ioc)
    return;
  {
    std::lock_guard<std::mutex> lock{i.s.answers->mu};
    i.s.answers->ioc = i.ioc.get();
  }
  if (i.unix_acceptor)
    i.accept(*i.unix_acceptor, true);
  if (i.tcp_acceptor)
    i.accept(*i.tcp_acceptor, false);
  i.thread = std::thread{[&i] { i.ioc->run(); }};
}

void debug_port::stop() {
  auto& i = *impl_;
  if (!i.ioc)
    return;
  {
    std::lock_guard<std::mutex> lock{i.s.answers->mu};
    i.s.answers->ioc = nullptr;  // late answers are dropped from now on
  }
  i.ioc->stop();
  if (i.thread.joinable())
    i.thread.join();
  i.retry.reset();
  i.unix_acceptor.reset();
  i.tcp_acceptor.reset();
  i.ioc.reset();  // destroys the connections still waiting in it
  i.remove_files();
}

uint16_t debug_port::tcp_port() const noexcept { return impl_->port; }

size_t debug_port::connections() const noexcept { return impl_->s.open.load(); }

const debug_port_counters& debug_port::counters() const noexcept { return *impl_->s.counters; }

} // namespace roamd::inspect
