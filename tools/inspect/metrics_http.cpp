// The only translation unit that includes Boost.Beast (heavy to compile): keep it that way.
#include "tools/inspect/metrics_http.hpp"

#include <array>
#include <atomic>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "tools/inspect/debug_connection.hpp"
#include "tools/inspect/loopback.hpp"

namespace roamd::inspect {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using steady = std::chrono::steady_clock;

/// Whether `ec` is the HTTP parser's (the request is malformed) rather than the socket's (the client went away).
bool parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

/// The questions of one scrape, in the order of metrics_scrape's members.
constexpr std::array<proto::Query, 4> questions{proto::QUERY_STATUS, proto::QUERY_STATS, proto::QUERY_UPSTREAMS,
                                                proto::QUERY_EVENTS};

struct atomic_counts {
  std::atomic<uint64_t> scrapes{0}, not_found{0}, bad_method{0}, bad_request{0}, too_large{0}, timeouts{0}, busy{0};
  std::array<std::atomic<uint64_t>, questions.size()> missing{};

  metrics_endpoint_counts load() const {
    metrics_endpoint_counts c;
    c.scrapes = scrapes, c.not_found = not_found, c.bad_method = bad_method, c.bad_request = bad_request;
    c.too_large = too_large, c.timeouts = timeouts, c.busy = busy;
    c.status_missing = missing[0], c.stats_missing = missing[1], c.upstreams_missing = missing[2];
    c.arbiter_missing = missing[3];
    return c;
  }
};

} // namespace

struct metrics_http::impl {
  metrics_http_options opts;
  request_handler handler;
  std::unique_ptr<boost::asio::io_context> ioc = std::make_unique<boost::asio::io_context>();
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<boost::asio::steady_timer> retry;
  std::shared_ptr<detail::gate> answers = std::make_shared<detail::gate>();
  atomic_counts counts;
  std::atomic<size_t> open{0};
  std::thread thread;
  uint16_t port = 0;
  steady::time_point last_busy_log{}, last_missing_log{};

  void accept();
  void refuse_busy(tcp::socket& sock);
};

namespace {

/// One connection: read one request (bounded in size and time), answer it, close.
class session : public std::enable_shared_from_this<session> {
public:
  session(metrics_http::impl& s, tcp::socket sock)
      : s_(s), stream_(std::move(sock)), buf_(s.opts.header_limit + 1024), gather_timer_(stream_.get_executor()) {
    ++s_.open;
  }
  ~session() { --s_.open; }

  void start() {
    parser_.header_limit(static_cast<uint32_t>(s_.opts.header_limit));
    parser_.body_limit(0);
    stream_.expires_after(s_.opts.read_timeout);  // the whole request, however slowly it trickles in
    http::async_read(stream_, buf_, parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

private:
  void on_read(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      ++s_.counts.timeouts;
      spdlog::debug("metrics: no complete request within {} ms; closing", s_.opts.read_timeout.count());
      return close();
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      ++s_.counts.too_large;
      return reply(http::status::request_header_fields_too_large,
                   "request headers exceed " + std::to_string(s_.opts.header_limit) + " bytes\n");
    }
    // A body is refused as soon as its header announces it, but the path and the method are answered first.
    bool body = ec == http::error::body_limit;
    if (ec && !body) {
      if (ec == http::error::end_of_stream || ec == http::error::partial_message || !parse_error(ec))
        return close();  // the client went away
      ++s_.counts.bad_request;
      return reply(http::status::bad_request, "not an HTTP request: " + ec.message() + "\n");
    }
    const auto& req = parser_.get();
    head_ = req.method() == http::verb::head;  // no body in any answer to HEAD
    auto target = std::string_view{req.target().data(), req.target().size()};
    if (target != "/metrics" && target.rfind("/metrics?", 0) != 0) {
      ++s_.counts.not_found;
      return reply(http::status::not_found, "only /metrics is served here\n");
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      ++s_.counts.bad_method;
      return reply(http::status::method_not_allowed, "only GET and HEAD are allowed\n");
    }
    if (body) {
      ++s_.counts.too_large;
      return reply(http::status::payload_too_large, "requests to this endpoint have no body\n");
    }
    gather();
  }

  /// Asks every question at once; the answer is rendered when all are in or at gather_timeout, whichever is first.
  void gather() {
    pending_ = questions.size();
    gather_timer_.expires_after(s_.opts.gather_timeout);
    gather_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec)
        self->finish();
    });
    for (size_t i = 0; i < questions.size(); ++i) {
      proto::InspectRequest req;
      req.set_id(i + 1);
      req.set_query(questions[i]);
      s_.handler(req, detail::deliver_to(s_.answers, weak_from_this(), &session::on_answer));
    }
  }

  void on_answer(proto::InspectResponse r) {
    if (finished_)
      return;
    switch (r.payload_case()) {
      case proto::InspectResponse::kStatus:
        scrape_.status = std::move(*r.mutable_status());
        break;
      case proto::InspectResponse::kStats:
        scrape_.stats = std::move(*r.mutable_stats());
        break;
      case proto::InspectResponse::kUpstreams:
        scrape_.upstreams = std::move(*r.mutable_upstreams());
        break;
      case proto::InspectResponse::kEvents:
        scrape_.arbiter = std::move(*r.mutable_events());
        break;
      default:  // an error answer (UNAVAILABLE, TIMEOUT): that part is left out
        errors_ += (errors_.empty() ? "" : "; ") + r.error().message();
        break;
    }
    if (--pending_ == 0)
      finish();
  }

  void finish() {
    if (finished_)
      return;
    finished_ = true;
    gather_timer_.cancel();
    const bool got[] = {scrape_.status.has_value(), scrape_.stats.has_value(), scrape_.upstreams.has_value(),
                        scrape_.arbiter.has_value()};
    std::string missing;
    for (size_t i = 0; i < questions.size(); ++i)
      if (!got[i]) {
        ++s_.counts.missing[i];
        missing += (missing.empty() ? "" : ", ") + proto::Query_Name(questions[i]);
      }
    if (!missing.empty() && steady::now() - s_.last_missing_log > std::chrono::minutes(1)) {
      s_.last_missing_log = steady::now();
      spdlog::warn("metrics: served a partial scrape without {} ({})", missing,
                   errors_.empty() ? "no answer within " + std::to_string(s_.opts.gather_timeout.count()) + " ms"
                                   : errors_);
    }
    ++s_.counts.scrapes;
    reply(http::status::ok, render_metrics(scrape_, s_.counts.load(), s_.opts.names), content_type);
  }

  void reply(http::status status, std::string body, const char* type = "text/plain; charset=utf-8") {
    res_.result(status);
    res_.version(parser_.is_header_done() ? parser_.get().version() : 11);
    res_.set(http::field::content_type, type);
    if (status == http::status::method_not_allowed)
      res_.set(http::field::allow, "GET, HEAD");
    res_.keep_alive(false);
    res_.body() = std::move(body);
    res_.prepare_payload();
    if (head_)
      res_.body().clear();  // Content-Length still tells the size of the GET answer
    stream_.expires_after(s_.opts.write_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec == beast::error::timeout)
        ++self->s_.counts.timeouts;
      self->close();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  metrics_http::impl& s_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> res_;
  boost::asio::steady_timer gather_timer_;
  metrics_scrape scrape_;
  std::string errors_;
  size_t pending_ = 0;
  bool head_ = false;
  bool finished_ = false;
};

} // namespace

void metrics_http::impl::refuse_busy(tcp::socket& sock) {
  ++counts.busy;
  auto now = steady::now();
  if (now - last_busy_log > std::chrono::seconds(10)) {
    spdlog::warn("metrics: {} connections open; refusing more", opts.max_connections);
    last_busy_log = now;
  }
  static const std::string body = "too many connections; try again later\n";
  static const std::string answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                    "Content-Length: " + std::to_string(body.size()) +
                                    "\r\nConnection: close\r\n\r\n" + body;
  boost::system::error_code ec;
  sock.non_blocking(true, ec);
  if (!ec)
    sock.write_some(boost::asio::buffer(answer), ec);  // a fresh socket's buffer takes it; if not, the close says it
  sock.close(ec);
}

void metrics_http::impl::accept() {
  acceptor->async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
    if (ec == boost::asio::error::operation_aborted)
      return;
    if (ec) {  // EMFILE and the like: try again shortly instead of spinning
      spdlog::warn("metrics: accept failed: {}", ec.message());
      retry = std::make_unique<boost::asio::steady_timer>(*ioc, std::chrono::milliseconds(100));
      retry->async_wait([this](const boost::system::error_code& e) {
        if (!e)
          accept();
      });
      return;
    }
    if (open.load() >= opts.max_connections)
      refuse_busy(sock);
    else
      std::make_shared<session>(*this, std::move(sock))->start();
    accept();
  });
}

metrics_http::metrics_http(metrics_http_options opts, request_handler handler) : impl_(std::make_shared<impl>()) {
  impl_->opts = std::move(opts);
  impl_->handler = std::move(handler);
}

metrics_http::~metrics_http() { stop(); }

std::string metrics_http::open() {
  auto& i = *impl_;
  auto where = loopback_endpoint(i.opts.address);
  if (!where)
    return "metrics endpoint " + i.opts.address + ": only a loopback \"IP:PORT\" is allowed";
  i.acceptor = std::make_unique<tcp::acceptor>(*i.ioc);
  auto err = listen_on(*i.acceptor, *where, i.opts.address);
  boost::system::error_code ec;
  if (err.empty() && (i.port = i.acceptor->local_endpoint(ec).port(), ec))
    err = "cannot listen on " + i.opts.address + ": " + ec.message();
  if (!err.empty()) {
    i.acceptor.reset();
    return err;
  }
  return "";
}

void metrics_http::start() {
  auto& i = *impl_;
  if (i.thread.joinable() || !i.ioc || !i.acceptor)
    return;
  {
    std::lock_guard<std::mutex> lock{i.answers->mu};
    i.answers->ioc = i.ioc.get();
  }
  i.accept();
  i.thread = std::thread{[&i] { i.ioc->run(); }};
}

void metrics_http::stop() {
  auto& i = *impl_;
  if (!i.ioc)
    return;
  {
    std::lock_guard<std::mutex> lock{i.answers->mu};
    i.answers->ioc = nullptr;  // late answers are dropped from now on
  }
  i.ioc->stop();
  if (i.thread.joinable())
    i.thread.join();
  i.retry.reset();
  i.acceptor.reset();
  i.ioc.reset();  // destroys the connections still waiting in it
}

uint16_t metrics_http::port() const noexcept { return impl_->port; }

metrics_endpoint_counts metrics_http::counts() const { return impl_->counts.load(); }

} // namespace roamd::inspect
