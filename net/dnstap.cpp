#include "net/dnstap.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

#include <fstrm.h>

#include "net/dns_codec.hpp"
#include "proto/dnstap.pb.h"

namespace roamd::net {

namespace {

constexpr char content_type[] = "protobuf:dnstap.Dnstap";

/// Sets family, address and port from a socket address; false when it is neither IPv4 nor IPv6.
/// Sets one side's address and port; the family comes from the client's side (roamd's listener is of the same
/// family). False when the address is neither IPv4 nor IPv6.
bool set_address(const sockaddr* sa, socklen_t len, dnstap::Message& m, bool query_side) {
  std::string addr;
  uint16_t port = 0;
  dnstap::SocketFamily family;
  if (sa && sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    addr.assign(reinterpret_cast<const char*>(&in->sin_addr), 4);
    port = ntohs(in->sin_port);
    family = dnstap::INET;
  } else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    addr.assign(reinterpret_cast<const char*>(&in6->sin6_addr), 16);
    port = ntohs(in6->sin6_port);
    family = dnstap::INET6;
  } else {
    return false;
  }
  if (query_side) {
    m.set_socket_family(family);
    m.set_query_address(std::move(addr));
    m.set_query_port(port);
  } else {
    m.set_response_address(std::move(addr));
    m.set_response_port(port);
  }
  return true;
}

void set_time(std::chrono::system_clock::time_point t, uint64_t& sec, uint32_t& nsec) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  sec = static_cast<uint64_t>(ns / 1000000000);
  nsec = static_cast<uint32_t>(ns % 1000000000);
}

/// The route's domain in wire format ("" is the root).
std::string wire_zone(std::string_view domain) {
  std::string out;
  size_t start = 0;
  while (start < domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string_view::npos)
      dot = domain.size();
    size_t n = std::min<size_t>(dot - start, 63);
    out.push_back(static_cast<char>(n));
    out.append(domain.substr(start, n));
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

} // namespace

dnstap_writer::dnstap_writer(dnstap_options opts) : opts_(std::move(opts)) {
}

std::unique_ptr<dnstap_writer> dnstap_writer::open(const dnstap_options& opts, std::string& error) {
  if (opts.socket.empty() == opts.file.empty()) {
    error = "dnstap needs exactly one of a socket and a file";
    return nullptr;
  }
  if (opts.queue_size < 2 || opts.queue_size > 16384 || (opts.queue_size & (opts.queue_size - 1)) != 0) {
    error = "the dnstap queue size must be a power of 2 from 2 to 16384";
    return nullptr;
  }
  std::unique_ptr<dnstap_writer> w{new dnstap_writer(opts)};
  auto* wopt = fstrm_writer_options_init();
  fstrm_writer_options_add_content_type(wopt, content_type, sizeof(content_type) - 1);
  fstrm_writer* writer = nullptr;
  if (!opts.file.empty()) {
    // Our own file output instead of libfstrm's stdio one: frames reach the file with each flush of the I/O thread
    // (within a second), not when an 8 KiB stdio buffer fills or at exit; the file is 0640 (it records who asked
    // for what); the previous run's file is kept as <file>.1 (a restart after a crash does not wipe it).
    std::rename(opts.file.c_str(), (opts.file + ".1").c_str());
    int fd = ::open(opts.file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
      error = "cannot create the dnstap file " + opts.file + ": " + std::strerror(errno);
      fstrm_writer_options_destroy(&wopt);
      return nullptr;
    }
    auto* rdwr = fstrm_rdwr_init(new int{fd});
    fstrm_rdwr_set_destroy(rdwr, [](void* obj) {
      auto* fd = static_cast<int*>(obj);
      if (*fd >= 0)
        ::close(*fd);
      delete fd;
      return fstrm_res_success;
    });
    fstrm_rdwr_set_open(rdwr, [](void* obj) { return *static_cast<int*>(obj) >= 0 ? fstrm_res_success : fstrm_res_failure; });
    fstrm_rdwr_set_close(rdwr, [](void* obj) {
      auto* fd = static_cast<int*>(obj);
      if (*fd >= 0)
        ::close(*fd);
      *fd = -1;  // closed for good: the I/O thread's reopen attempts fail
      return fstrm_res_success;
    });
    fstrm_rdwr_set_write(rdwr, [](void* obj, const struct iovec* iov, int iovcnt) {
      int fd = *static_cast<int*>(obj);
      std::vector<struct iovec> left(iov, iov + iovcnt);
      size_t i = 0;
      while (i < left.size()) {
        ssize_t n = ::writev(fd, left.data() + i, static_cast<int>(left.size() - i));
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          return fstrm_res_failure;
        auto done = static_cast<size_t>(n);
        while (i < left.size() && done >= left[i].iov_len)
          done -= left[i++].iov_len;
        if (i < left.size()) {
          left[i].iov_base = static_cast<char*>(left[i].iov_base) + done;
          left[i].iov_len -= done;
        }
      }
      return fstrm_res_success;
    });
    writer = fstrm_writer_init(wopt, &rdwr);
  } else {
    auto* uopt = fstrm_unix_writer_options_init();
    fstrm_unix_writer_options_set_socket_path(uopt, opts.socket.c_str());
    writer = fstrm_unix_writer_init(uopt, wopt);
    fstrm_unix_writer_options_destroy(&uopt);
  }
  fstrm_writer_options_destroy(&wopt);
  if (!writer) {
    error = "cannot make the dnstap writer";
    return nullptr;
  }
  auto* iopt = fstrm_iothr_options_init();
  unsigned queues = std::max<uint32_t>(opts.workers, 1);
  fstrm_iothr_options_set_num_input_queues(iopt, queues);
  fstrm_iothr_options_set_input_queue_size(iopt, opts.queue_size);
  fstrm_iothr_options_set_queue_model(iopt, FSTRM_IOTHR_QUEUE_MODEL_SPSC);
  fstrm_iothr_options_set_reopen_interval(iopt, 1);
  w->iothr_ = fstrm_iothr_init(iopt, &writer);
  fstrm_iothr_options_destroy(&iopt);
  if (!w->iothr_) {
    if (writer)
      fstrm_writer_destroy(&writer);
    error = "cannot start the dnstap I/O thread";
    return nullptr;
  }
  w->queues_.reset(new fstrm_iothr_queue*[queues]);
  for (unsigned i = 0; i < queues; ++i)
    w->queues_[i] = fstrm_iothr_get_input_queue_idx(w->iothr_, i);
  return w;
}

dnstap_writer::~dnstap_writer() {
  if (iothr_)
    fstrm_iothr_destroy(&iothr_);  // flushes what is queued, then joins the I/O thread
}

namespace {

void fill(const dnstap_options& opts, const query_event& e, dnstap::Dnstap& d) {
  d.set_type(dnstap::Dnstap::MESSAGE);
  if (!opts.identity.empty())
    d.set_identity(opts.identity);
  if (!opts.version.empty())
    d.set_version(opts.version);
  auto& m = *d.mutable_message();
  bool response = e.kind == query_event::response;
  m.set_type(response ? dnstap::Message::CLIENT_RESPONSE : dnstap::Message::CLIENT_QUERY);
  m.set_socket_protocol(e.tcp ? dnstap::TCP : dnstap::UDP);
  set_address(e.client, e.client_len, m, true);
  set_address(e.server, e.server_len, m, false);
  uint64_t sec = 0;
  uint32_t nsec = 0;
  set_time(e.query_time, sec, nsec);
  m.set_query_time_sec(sec);
  m.set_query_time_nsec(nsec);
  if (response) {
    set_time(e.response_time, sec, nsec);
    m.set_response_time_sec(sec);
    m.set_response_time_nsec(nsec);
    m.set_response_message(reinterpret_cast<const char*>(e.message), e.size);
    if (e.source == answer_source::upstream)
      m.set_query_zone(wire_zone(e.route));
  } else {
    m.set_query_message(reinterpret_cast<const char*>(e.message), e.size);
  }
}

} // namespace

std::string dnstap_writer::encode(const query_event& e) const {
  dnstap::Dnstap d;
  fill(opts_, e, d);
  return d.SerializeAsString();
}

void dnstap_writer::observe(const query_event& e) noexcept {
  bool wanted = e.kind == query_event::response ? opts_.client_responses : opts_.client_queries;
  if (!wanted || !iothr_)
    return;
  uint32_t q = e.worker < std::max<uint32_t>(opts_.workers, 1) ? e.worker : 0;
  try {
    thread_local dnstap::Dnstap d;  // reused: its buffers stay allocated between events
    d.Clear();
    fill(opts_, e, d);
    size_t n = d.ByteSizeLong();
    auto* buf = static_cast<uint8_t*>(std::malloc(n));
    if (!buf) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    d.SerializeWithCachedSizesToArray(buf);
    if (fstrm_iothr_submit(iothr_, queues_[q], buf, n, fstrm_free_wrapper, nullptr) == fstrm_res_success) {
      written_.fetch_add(1, std::memory_order_relaxed);
    } else {
      std::free(buf);
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (...) {  // bad_alloc while encoding: the frame is lost, the query is not
    dropped_.fetch_add(1, std::memory_order_relaxed);
  }
}

} // namespace roamd::net
