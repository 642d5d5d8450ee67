#pragma once

#include <sys/fsuid.h>

#include <cstdint>

namespace roamd::net {

/// The uid roamd's listen sockets are created under ((uid_t)-2: no user, no process runs as it). The kernel lets a
/// socket join an SO_REUSEPORT group only when it was created by the same uid as the group's sockets, so with this
/// owner no other process, root included, can bind roamd's listen addresses beside it and take a share of its
/// queries, while roamd's own workers (all created under it) share them as before.
constexpr uint32_t listen_socket_uid = 0xfffffffeu;

/// While alive, sockets this thread creates belong to `listen_socket_uid` (setfsuid: this thread only, and only
/// with CAP_SETUID; without it nothing changes and the sockets are the process's own, as before).
class listen_owner_scope {
public:
  listen_owner_scope() : previous_(::setfsuid(listen_socket_uid)) {
    took_ = ::setfsuid(static_cast<uid_t>(-1)) == static_cast<int>(listen_socket_uid);  // -1: asks, changes nothing
  }
  ~listen_owner_scope() {
    ::setfsuid(previous_);
  }
  /// Whether the sockets made now belong to `listen_socket_uid` (false without CAP_SETUID).
  bool took() const {
    return took_;
  }
  listen_owner_scope(const listen_owner_scope&) = delete;
  listen_owner_scope& operator=(const listen_owner_scope&) = delete;

private:
  int previous_;
  bool took_ = false;
};

} // namespace roamd::net
