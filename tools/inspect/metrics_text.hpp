#pragma once

// The Prometheus text exposition format (version 0.0.4), rendered from the inspection API's protobuf answers. Pure:
// no sockets, no clock, no CAF; the metrics endpoint (metrics_http) gathers the answers and serves the text.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/inspect.pb.h"

namespace roamd::inspect {

/// One label of a sample: its name and its raw value (escaped when written).
using metric_label = std::pair<std::string_view, std::string>;
using metric_labels = std::vector<metric_label>;

/// Escapes a label value: backslash, double quote and line feed become \\, \" and \n.
std::string escape_label_value(std::string_view value);

/// Formats a sample value: integers exactly, other numbers in the shortest form that reads back the same,
/// "+Inf", "-Inf" and "NaN".
std::string format_value(double value);

/// Writes families of samples: each begins with its # HELP and # TYPE lines, and its samples follow together.
class metrics_writer {
public:
  /// Begins the family `name` of `type` ("counter", "gauge", "histogram").
  void family(std::string_view name, std::string_view type, std::string_view help);

  /// One sample of the current family; `suffix` is appended to the family's name ("_bucket", "_sum", "_count").
  void sample(const metric_labels& labels, double value, std::string_view suffix = {});

  /// A family of one sample without labels.
  void single(std::string_view name, std::string_view type, std::string_view help, double value);

  /// The text so far.
  const std::string& text() const noexcept { return out_; }

private:
  std::string out_;
  std::string name_;
};

/// One bucket of a histogram: how many observations were at most `le` (cumulative, like Prometheus's buckets).
struct histogram_bucket {
  double le;
  uint64_t count;
};

/// One series of a histogram family begun with family(name, "histogram", help): a _bucket sample per bucket with
/// `le` added to `labels`, the +Inf bucket (= count, added unless the last bucket is already +Inf), _sum and _count.
void histogram_series(metrics_writer& w, const metric_labels& labels, const std::vector<histogram_bucket>& buckets,
                      double sum, uint64_t count);

/// What one scrape gathered; an answer is absent when its actor did not answer in time.
struct metrics_scrape {
  std::optional<proto::AgentStatus> status;
  std::optional<proto::StatsBatch> stats;
  std::optional<proto::UpstreamHealthList> upstreams;
  std::optional<proto::ArbiterStatus> arbiter;
};

/// The endpoint's own record since start (scrapes served, answers that did not come, requests refused).
struct metrics_endpoint_counts {
  uint64_t scrapes = 0;
  uint64_t status_missing = 0, stats_missing = 0, upstreams_missing = 0, arbiter_missing = 0;
  uint64_t not_found = 0, bad_method = 0, bad_request = 0, too_large = 0, timeouts = 0, busy = 0;
};

/// Label values exported even while their count is zero (so rates exist before the first event): the data plane's
/// drop reasons and the supervised actors. Others the answers carry are exported too.
struct metrics_names {
  std::vector<std::string> drop_reasons;
  std::vector<std::string> actors;
};

/// The whole exposition: every family roamd exports, from what the scrape got.
std::string render_metrics(const metrics_scrape& scrape, const metrics_endpoint_counts& counts,
                           const metrics_names& names);

} // namespace roamd::inspect
