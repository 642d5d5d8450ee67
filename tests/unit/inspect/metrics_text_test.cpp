// The Prometheus text renderer: escaping, number formats, the histogram helper (made-up buckets, for the latency
// histogram StatsBatch will carry), every family from full answers and from a partial scrape, the format's rules
// checked line by line, and `promtool check metrics` on the output when Prometheus's promtool is installed.
#include "tools/inspect/metrics_text.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/unit/os/temp_dir.hpp"

namespace roamd::inspect {
namespace {

const metrics_names names{{"too_short", "overload", "tcp_idle"}, {"router", "enforcer", "upstream_io"}};

metrics_scrape full_scrape() {
  metrics_scrape s;
  auto& st = s.status.emplace();
  st.set_version("0.1.0");
  st.set_started_unix_ms(1700000000500);
  st.set_uptime_ms(61500);
  st.set_state("protected by settings");
  st.set_since_unix_ms(1700000001000);
  st.set_decisions(7);
  st.set_contests(2);
  st.set_writes(3);
  (*st.mutable_restarts())["enforcer"] = 1;
  st.mutable_enforcer()->set_state("protecting");
  st.mutable_enforcer()->set_backend("file");
  st.mutable_enforcer()->set_intercepting(true);
  st.mutable_debug_port()->set_accepted(12);
  st.mutable_debug_port()->set_answered(30);
  st.mutable_debug_port()->set_auth_failed(3);
  auto& stats = s.stats.emplace();
  stats.set_queries_udp(5);
  stats.set_queries_tcp(2);
  stats.set_answers(6);
  stats.set_cache_hits(1);
  stats.set_cache_misses(6);
  stats.set_servfail_sent(1);
  stats.set_local_answers(1);
  stats.set_fallback_sent(4);
  stats.set_fallback_used(3);
  stats.set_intercepted(7);
  stats.set_original_kept(5);
  stats.set_loops_broken(1);
  (*stats.mutable_drops())["overload"] = 9;
  (*stats.mutable_drops())["something_new"] = 2;
  stats.set_formerr_sent(2);
  stats.set_notimp_sent(3);
  stats.set_untagged_cloud(4);
  (*stats.mutable_route_answers())["corp.test"] = 5;
  (*stats.mutable_route_answers())["."] = 1;
  auto* lat = stats.mutable_latency();
  for (auto b : {100u, 1000u, 5000u})
    lat->add_bounds_us(b);
  for (auto c : {3u, 0u, 2u, 1u})  // per bucket; the last is above 5 ms
    lat->add_counts(c);
  lat->set_sum_us(25000);
  auto& ups = s.upstreams.emplace();
  auto* a = ups.add_upstreams();
  a->set_address("127.0.10.1:53");
  a->set_up(true);
  a->set_sent(10);
  a->set_answered(9);
  a->set_timeouts(1);
  a->set_srtt_us(1500);
  auto* b = ups.add_upstreams();
  b->set_address("[fd00::53]:53");
  b->set_interface("tun\"0\\x\ny");
  b->set_consecutive_failures(3);
  b->set_changed_unix_ms(1700000002000);
  s.arbiter.emplace().set_coalesced_events(11);
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

/// The exposition format's rules a scraper relies on: every sample belongs to the family last declared by its
/// # TYPE (histograms: name_bucket/_sum/_count), each family is declared once with # HELP then # TYPE, counters end
/// in _total, names are [a-zA-Z_:][a-zA-Z0-9_:]*, no series appears twice, the text ends with a line feed.
void expect_well_formed(const std::string& text) {
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::istringstream in{text};
  std::string line, family, type, help_for;
  std::set<std::string> declared, series;
  while (std::getline(in, line)) {
    SCOPED_TRACE(line);
    if (line.rfind("# HELP ", 0) == 0) {
      help_for = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t{line.substr(7)};
      t >> family >> type;
      EXPECT_EQ(help_for, family) << "# HELP must precede # TYPE";
      EXPECT_TRUE(declared.insert(family).second) << family << " declared twice";
      if (type == "counter") {
        EXPECT_EQ(family.substr(family.size() - 6), "_total");
      }
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << type;
      continue;
    }
    auto end = line.find_first_of("{ ");
    ASSERT_NE(end, std::string::npos);
    auto name = line.substr(0, end);
    for (char c : name)
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':') << name;
    if (type == "histogram") {
      EXPECT_TRUE(name == family + "_bucket" || name == family + "_sum" || name == family + "_count") << name;
    } else {
      EXPECT_EQ(name, family);
    }
    auto key = line.substr(0, line.rfind(' '));
    EXPECT_TRUE(series.insert(key).second) << key << " appears twice";
  }
}

TEST(metrics_text, label_values_are_escaped) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_label_value("tab\tstays"), "tab\tstays");
  metrics_writer w;
  w.family("x", "gauge", "Help with a \\ and a\nline feed, \"quotes\" kept.");
  w.sample({{"a", "q\""}, {"b", "\\\n"}}, 1);
  EXPECT_EQ(w.text(), "# HELP x Help with a \\\\ and a\\nline feed, \"quotes\" kept.\n"
                      "# TYPE x gauge\n"
                      "x{a=\"q\\\"\",b=\"\\\\\\n\"} 1\n");
}

TEST(metrics_text, values) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(0.0015), "0.0015");
  EXPECT_EQ(format_value(1700000000.5), "1700000000.5");
  EXPECT_EQ(format_value(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(metrics_text, histogram_from_cumulative_buckets) {
  metrics_writer w;
  w.family("roamd_query_duration_seconds", "histogram", "Made-up latencies.");
  histogram_series(w, {{"transport", "udp"}}, {{0.001, 1}, {0.01, 3}, {0.1, 7}}, 0.42, 9);
  histogram_series(w, {{"transport", "tcp"}}, {{0.5, 2}, {std::numeric_limits<double>::infinity(), 4}}, 3.5, 4);
  EXPECT_EQ(w.text(), "# HELP roamd_query_duration_seconds Made-up latencies.\n"
                      "# TYPE roamd_query_duration_seconds histogram\n"
                      "roamd_query_duration_seconds_bucket{transport=\"udp\",le=\"0.001\"} 1\n"
                      "roamd_query_duration_seconds_bucket{transport=\"udp\",le=\"0.01\"} 3\n"
                      "roamd_query_duration_seconds_bucket{transport=\"udp\",le=\"0.1\"} 7\n"
                      "roamd_query_duration_seconds_bucket{transport=\"udp\",le=\"+Inf\"} 9\n"
                      "roamd_query_duration_seconds_sum{transport=\"udp\"} 0.42\n"
                      "roamd_query_duration_seconds_count{transport=\"udp\"} 9\n"
                      "roamd_query_duration_seconds_bucket{transport=\"tcp\",le=\"0.5\"} 2\n"
                      "roamd_query_duration_seconds_bucket{transport=\"tcp\",le=\"+Inf\"} 4\n"
                      "roamd_query_duration_seconds_sum{transport=\"tcp\"} 3.5\n"
                      "roamd_query_duration_seconds_count{transport=\"tcp\"} 4\n");
  expect_well_formed(w.text());
  metrics_writer empty;
  empty.family("h", "histogram", "No buckets: only +Inf.");
  histogram_series(empty, {}, {}, 0, 0);
  EXPECT_TRUE(has_line(empty.text(), "h_bucket{le=\"+Inf\"} 0")) << empty.text();
  EXPECT_TRUE(has_line(empty.text(), "h_count 0")) << empty.text();
}

TEST(metrics_text, every_family_from_full_answers) {
  metrics_endpoint_counts counts;
  counts.scrapes = 4;
  counts.stats_missing = 1;
  counts.not_found = 2;
  auto text = render_metrics(full_scrape(), counts, names);
  expect_well_formed(text);
  for (const char* line : {
         "roamd_up 1",
         "roamd_scrape_source_up{source=\"stats\"} 1",
         "roamd_scrape_errors_total{source=\"stats\"} 1",
         "roamd_metrics_scrapes_total 4",
         "roamd_metrics_refused_total{reason=\"not_found\"} 2",
         "roamd_metrics_refused_total{reason=\"busy\"} 0",
         "roamd_build_info{version=\"0.1.0\"} 1",
         "roamd_start_time_seconds 1700000000.5",
         "roamd_uptime_seconds 61.5",
         "roamd_protection_state{state=\"protected by settings\"} 1",
         "roamd_protection_state_since_seconds 1700000001",
         "roamd_arbiter_decisions_total 7",
         "roamd_arbiter_contests 2",
         "roamd_settings_writes_total 3",
         "roamd_actor_restarts_total{actor=\"enforcer\"} 1",
         "roamd_actor_restarts_total{actor=\"router\"} 0",
         "roamd_actor_restarts_total{actor=\"upstream_io\"} 0",
         "roamd_enforcer_state{state=\"protecting\",backend=\"file\"} 1",
         "roamd_interception_active 1",
         "roamd_arbiter_coalesced_events_total 11",
         "roamd_debug_port_connections_total 12",
         "roamd_debug_port_requests_total 30",
         "roamd_debug_port_refused_total{reason=\"auth\"} 3",
         "roamd_debug_port_refused_total{reason=\"tls\"} 0",
         "roamd_queries_total{transport=\"udp\"} 5",
         "roamd_queries_total{transport=\"tcp\"} 2",
         "roamd_answers_total 6",
         "roamd_local_answers_total 1",
         "roamd_cache_hits_total 1",
         "roamd_cache_misses_total 6",
         "roamd_responses_total{rcode=\"servfail\"} 1",
         "roamd_responses_total{rcode=\"formerr\"} 2",
         "roamd_responses_total{rcode=\"notimp\"} 3",
         "roamd_untagged_cloud_queries_total 4",
         "roamd_route_answers_total{route=\"corp.test\"} 5",
         "roamd_route_answers_total{route=\".\"} 1",
         "roamd_query_duration_seconds_bucket{le=\"0.0001\"} 3",
         "roamd_query_duration_seconds_bucket{le=\"0.001\"} 3",
         "roamd_query_duration_seconds_bucket{le=\"0.005\"} 5",
         "roamd_query_duration_seconds_bucket{le=\"+Inf\"} 6",
         "roamd_query_duration_seconds_sum 0.025",
         "roamd_query_duration_seconds_count 6",
         "roamd_upstream_query_duration_seconds_bucket{le=\"5\"} 0",
         "roamd_upstream_query_duration_seconds_count 0",
         "roamd_fallback_queries_total 4",
         "roamd_fallback_answers_total 3",
         "roamd_intercepted_queries_total 7",
         "roamd_intercepted_original_total 5",
         "roamd_loops_broken_total 1",
         "roamd_drops_total{reason=\"overload\"} 9",
         "roamd_drops_total{reason=\"too_short\"} 0",
         "roamd_drops_total{reason=\"tcp_idle\"} 0",
         "roamd_drops_total{reason=\"something_new\"} 2",
         "roamd_upstream_queries_total{upstream=\"127.0.10.1:53\",interface=\"\"} 10",
         "roamd_upstream_answers_total{upstream=\"127.0.10.1:53\",interface=\"\"} 9",
         "roamd_upstream_timeouts_total{upstream=\"127.0.10.1:53\",interface=\"\"} 1",
         "roamd_upstream_up{upstream=\"127.0.10.1:53\",interface=\"\"} 1",
         "roamd_upstream_rtt_seconds{upstream=\"127.0.10.1:53\",interface=\"\"} 0.0015",
         "roamd_upstream_up{upstream=\"[fd00::53]:53\",interface=\"tun\\\"0\\\\x\\ny\"} 0",
         "roamd_upstream_consecutive_failures{upstream=\"[fd00::53]:53\",interface=\"tun\\\"0\\\\x\\ny\"} 3",
         "roamd_upstream_last_change_seconds{upstream=\"[fd00::53]:53\",interface=\"tun\\\"0\\\\x\\ny\"} 1700000002",
       })
    EXPECT_TRUE(has_line(text, line)) << "missing: " << line << "\n" << text;
}

TEST(metrics_text, a_partial_scrape_serves_what_came) {
  auto s = full_scrape();
  s.stats.reset();
  s.arbiter.reset();
  auto text = render_metrics(s, {}, names);
  expect_well_formed(text);
  EXPECT_TRUE(has_line(text, "roamd_up 0")) << text;
  EXPECT_TRUE(has_line(text, "roamd_scrape_source_up{source=\"stats\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "roamd_scrape_source_up{source=\"arbiter\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "roamd_scrape_source_up{source=\"status\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "roamd_protection_state{state=\"protected by settings\"} 1")) << text;
  EXPECT_EQ(text.find("roamd_queries_total"), std::string::npos) << text;
  EXPECT_EQ(text.find("roamd_arbiter_coalesced_events_total"), std::string::npos) << text;
  auto nothing = render_metrics({}, {}, names);
  expect_well_formed(nothing);
  EXPECT_TRUE(has_line(nothing, "roamd_up 0")) << nothing;
}

/// Runs `promtool check metrics` on `text`; its exit status and output, or nullopt without promtool.
std::optional<std::pair<int, std::string>> promtool(const std::string& text) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    return std::nullopt;
  test::temp_dir dir{"metrics-text"};
  auto file = dir / "metrics.txt";
  std::FILE* f = std::fopen(file.c_str(), "w");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  std::FILE* p = ::popen(("promtool check metrics < " + file + " 2>&1").c_str(), "r");
  std::string out;
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  int status = ::pclose(p);
  return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
}

TEST(metrics_text, promtool_accepts_the_output) {
  metrics_writer hist;
  hist.family("roamd_query_duration_seconds", "histogram", "Made-up latencies.");
  histogram_series(hist, {}, {{0.001, 1}, {0.01, 3}}, 0.02, 5);
  for (const auto& text : {render_metrics(full_scrape(), {}, names), render_metrics({}, {}, names), hist.text()}) {
    auto r = promtool(text);
    if (!r)
      GTEST_SKIP() << "promtool is not installed (Debian package prometheus; tools/install-deps)";
    EXPECT_EQ(r->first, 0) << r->second << "\n" << text;
  }
  auto bad = promtool("# TYPE roamd_x counter\nroamd_x 1\n");  // the check itself can fail
  EXPECT_NE(bad->first, 0) << bad->second;
}

} // namespace
} // namespace roamd::inspect
