// The store's statements whose plans matter (run per report, per key or per API request), in one
// place: the store and the API prepare them from here, and tests/store/query_plan_test.cpp checks
// with EXPLAIN QUERY PLAN that each uses an index, with no full scan and no temporary B-tree.
#pragma once

#include <array>
#include <string_view>

namespace overflowd::store::stmt {

// Keys remembered per email and per identity for the continuity check: beyond, the oldest forgotten.
inline constexpr long kMaxKeysPerContact = 64;
// Alerts raised per key per hour: beyond, counted (alerts.suppressed) and not stored.
inline constexpr long kMaxAlertsPerKeyPerHour = 100;

// Writer (store.cpp).
inline constexpr std::string_view select_key =
    "SELECT email, identity, exporters, prefixes, reports, predecessor FROM keys WHERE key = ?1";
inline constexpr std::string_view update_contact =
    "UPDATE key_contacts SET last_seen_ns = MAX(last_seen_ns, ?4), reports = reports + ?5"
    " WHERE key = ?1 AND email = ?2 AND identity = ?3";
// The keys an identity / email was seen under, oldest first (the caller keeps the first 8 distinct).
inline constexpr std::string_view other_keys_identity =
    "SELECT key FROM key_contacts WHERE identity = ?1 AND key <> ?2 ORDER BY first_seen_ns, key";
inline constexpr std::string_view other_keys_email =
    "SELECT key FROM key_contacts WHERE email = ?1 AND key <> ?2 ORDER BY first_seen_ns, key";
// The contact rows of an email / identity beyond its newest ?2 (the caller deletes them by
// delete_contact): at most kMaxKeysPerContact rows, so at most as many keys, per email and identity.
inline constexpr std::string_view over_email =
    "SELECT key, identity FROM key_contacts WHERE email = ?1 ORDER BY first_seen_ns DESC, key DESC LIMIT -1 OFFSET ?2";
inline constexpr std::string_view over_identity =
    "SELECT key, email FROM key_contacts WHERE identity = ?1 ORDER BY first_seen_ns DESC, key DESC LIMIT -1 OFFSET ?2";
inline constexpr std::string_view delete_contact =
    "DELETE FROM key_contacts WHERE key = ?1 AND email = ?2 AND identity = ?3";
inline constexpr std::string_view count_contacts = "SELECT COUNT(*) FROM key_contacts WHERE key = ?1";
inline constexpr std::string_view count_recent_alerts =
    "SELECT COUNT(*) FROM alerts WHERE key = ?1 AND created_ns >= ?2";

// My own exports' flows, bounded by age (?1: the oldest end time kept) and count (?1: how many go).
inline constexpr std::string_view own_flows_older = "DELETE FROM own_flows WHERE etime_ms < ?1";
inline constexpr std::string_view own_flows_oldest =
    "DELETE FROM own_flows WHERE (hash, etime_ms) IN (SELECT hash, etime_ms FROM own_flows ORDER BY etime_ms LIMIT ?1)";
// The refused inputs beyond the cap (?1: the newest id less max_invalid), deleted at each commit.
inline constexpr std::string_view trim_invalid = "DELETE FROM invalid WHERE id <= ?1";
// The stored suspects to judge again, newest first. The verdict is written as its value (suspect:
// 1), not bound: reports_suspects holds only those rows, and a planner takes a partial index only
// for a query that names its predicate.
inline constexpr std::string_view stored_suspects =
    "SELECT id, saddr, daddr, sport, dport, protocol, stime, etime FROM reports WHERE spoof = 1 AND received_ns >= ?1"
    " ORDER BY received_ns DESC LIMIT ?2";
// A class filter other than the common class: reports_class holds only the reports of the other
// classes (SUSPICIOUS), so a query for one of them says so in these words. The common class is
// nearly every report: read by id, as without a filter.
inline constexpr std::string_view kCommonClass = "INFORMATIONAL";
inline constexpr std::string_view uncommon_class = "class <> 'INFORMATIONAL'";

// API (queries.cpp).
inline constexpr std::string_view key_contacts =
    "SELECT email, identity, first_seen_ns, last_seen_ns, reports FROM key_contacts WHERE key = ?1"
    " ORDER BY first_seen_ns LIMIT 50";
inline constexpr std::string_view keys_all =
    "SELECT key, first_seen_ns, last_seen_ns, reports, exporters, prefixes, email, identity, alerts, predecessor,"
    " rotated_ns FROM keys WHERE ?1 = '' ORDER BY last_seen_ns DESC LIMIT ?2";
inline constexpr std::string_view keys_one =
    "SELECT key, first_seen_ns, last_seen_ns, reports, exporters, prefixes, email, identity, alerts, predecessor,"
    " rotated_ns FROM keys WHERE key = ?1 ORDER BY last_seen_ns DESC LIMIT ?2";
inline constexpr std::string_view alerts_all =
    "SELECT id, created_ns, kind, key, report_id, detail FROM alerts WHERE ?1 = '' ORDER BY id DESC LIMIT ?2";
inline constexpr std::string_view alerts_one =
    "SELECT id, created_ns, kind, key, report_id, detail FROM alerts WHERE key = ?1 ORDER BY id DESC LIMIT ?2";

// The summary, from the roll-ups (rollups.hpp): ?1 the resolution, ?2..?3 the range of periods.
inline constexpr std::string_view sum_first =
    "SELECT MIN(t) FROM sum_time WHERE res = ?1 AND t BETWEEN ?2 AND ?3";
inline constexpr std::string_view sum_last =
    "SELECT MAX(t) FROM sum_time WHERE res = ?1 AND t BETWEEN ?2 AND ?3";
inline constexpr std::string_view sum_totals =
    "SELECT COALESCE(SUM(reports), 0), COALESCE(SUM(packets), 0), COALESCE(SUM(bytes), 0) FROM sum_time" " WHERE res = ?1 AND t BETWEEN ?2 AND ?3";
inline constexpr std::string_view sum_keys =
    "SELECT COUNT(DISTINCT key) FROM sum_key WHERE res = ?1 AND t BETWEEN ?2 AND ?3";
inline constexpr std::string_view sum_reporters =
    "SELECT s.key, s.email, s.identity, SUM(s.reports), SUM(s.packets), SUM(s.bytes), MIN(s.first_ns)," " MAX(s.last_ns), (SELECT exporters FROM keys k WHERE k.key = s.key) FROM sum_key s" " WHERE s.res = ?1 AND s.t BETWEEN ?2 AND ?3 GROUP BY s.key, s.email, s.identity ORDER BY 4 DESC LIMIT ?4";
inline constexpr std::string_view sum_series =
    "SELECT (t - ?2) / ?4, SUM(reports), SUM(packets), SUM(bytes) FROM sum_time" " WHERE res = ?1 AND t BETWEEN ?2 AND ?3 GROUP BY 1 ORDER BY 1";
inline constexpr std::string_view sum_series_keys =
    "SELECT (t - ?2) / ?4, COUNT(DISTINCT key) FROM sum_key WHERE res = ?1 AND t BETWEEN ?2 AND ?3" " GROUP BY 1";
// One reporting network's series (?4 the bucket, ?5..?7 its key and contact as signed).
inline constexpr std::string_view sum_key_series =
    "SELECT (t - ?2) / ?4, SUM(reports), SUM(packets) FROM sum_key"
    " WHERE res = ?1 AND t BETWEEN ?2 AND ?3 AND key = ?5 AND email = ?6 AND identity = ?7 GROUP BY 1 ORDER BY 1";
// Every reporting network's series at once (a narrowed summary: one pass over the matching reports
// instead of one per network, and the whole series with its keys per bucket from the same rows;
// ?4 the bucket).
inline constexpr std::string_view sum_all_key_series =
    "SELECT key, email, identity, (t - ?2) / ?4, SUM(reports), SUM(packets), SUM(bytes) FROM sum_key"
    " WHERE res = ?1 AND t BETWEEN ?2 AND ?3 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
// One key's series over all the contacts it signed (the key view's chart; ?4 the bucket, ?5 the key).
inline constexpr std::string_view sum_one_key_series =
    "SELECT (t - ?2) / ?4, SUM(reports), SUM(packets) FROM sum_key"
    " WHERE res = ?1 AND t BETWEEN ?2 AND ?3 AND key = ?5 GROUP BY 1 ORDER BY 1";
inline constexpr std::string_view sum_sources =
    "SELECT saddr, SUM(reports), SUM(packets), SUM(bytes) FROM sum_source" " WHERE res = ?1 AND t BETWEEN ?2 AND ?3 GROUP BY saddr ORDER BY 3 DESC, 2 DESC LIMIT ?4";
inline constexpr std::string_view sum_source_keys =
    "SELECT COUNT(DISTINCT key) FROM sum_path WHERE res = ?1 AND saddr = ?4 AND t BETWEEN ?2 AND ?3";
inline constexpr std::string_view sum_path =
    "SELECT key, email, identity, exporter, input_if, src_as, SUM(reports) FROM sum_path" " WHERE res = ?1 AND saddr = ?4 AND t BETWEEN ?2 AND ?3" " GROUP BY key, email, identity, exporter, input_if, src_as ORDER BY 7 DESC LIMIT 10";
// The reports kept out of the charts (the column list is the API's; the plan is the same):
// reports_flagged holds only these.
inline constexpr std::string_view flagged_newest = "SELECT id, stime FROM reports WHERE chart = 2 ORDER BY id DESC LIMIT 20";
inline constexpr std::string_view flagged_count = "SELECT COUNT(*) FROM reports WHERE chart = 2";
// The spoofing view over one prefix (the API ORs one such range per prefix), through reports_saddr
// (saddr_bin, spoof, received_ns): the counts read the index alone.
inline constexpr std::string_view spoof_counts =
    "SELECT spoof, COUNT(*) FROM reports WHERE spoof IN (-1, 0, 1, 2) AND (saddr_bin BETWEEN ?1 AND ?2)"
    " AND received_ns >= ?3 AND received_ns <= ?4 GROUP BY spoof";
inline constexpr std::string_view spoof_open =
    "SELECT id FROM reports WHERE spoof IN (-1, 1, 2) AND (saddr_bin BETWEEN ?1 AND ?2) AND received_ns >= ?3 LIMIT ?4";
// Paths (issue 19): flows reported by the path-coherent draw under at least ?4 keys, newest first
// (?1..?2 the receive time range, ?3 the start-time bucket in ms, as the senders' coherent bucket;
// reports_coherent holds only coherent = 1); then one flow's reports in one bucket (every report,
// coherent or not), oldest first.
inline constexpr std::string_view path_groups =
    "SELECT saddr_bin, daddr_bin, sport, dport, protocol, stime / ?3, COUNT(DISTINCT key), MAX(id) FROM reports"
    " WHERE coherent = 1 AND received_ns >= ?1 AND received_ns <= ?2 AND saddr_bin IS NOT NULL AND daddr_bin IS NOT NULL"
    " GROUP BY saddr_bin, daddr_bin, sport, dport, protocol, stime / ?3 HAVING COUNT(DISTINCT key) >= ?4"
    " ORDER BY 8 DESC LIMIT ?5";
inline constexpr std::string_view path_hops =
    "SELECT id FROM reports WHERE saddr_bin = ?1 AND daddr_bin = ?2 AND sport = ?3 AND dport = ?4 AND protocol = ?5"
    " AND stime >= ?6 AND stime < ?7 ORDER BY id LIMIT 32";

struct Planned {
  std::string_view sql;
  // Walks a table in its rowid order under a LIMIT (SCAN <table> with no index is expected).
  bool rowid_walk = false;
  // Aggregates a bounded set of indexed rows (a GROUP BY, DISTINCT or ORDER BY over them may use a
  // temporary B-tree; a full scan is still refused).
  bool grouped = false;
};
inline constexpr std::array kPlanned = {
    Planned{select_key},     Planned{update_contact}, Planned{other_keys_identity}, Planned{other_keys_email},
    Planned{over_email},     Planned{over_identity},  Planned{delete_contact},      Planned{count_contacts},
    Planned{count_recent_alerts}, Planned{key_contacts},  Planned{keys_all},
    Planned{keys_one},       Planned{alerts_all, true}, Planned{alerts_one},
    Planned{sum_first}, Planned{sum_last}, Planned{sum_totals}, Planned{sum_keys, false, true},
    Planned{sum_reporters, false, true}, Planned{sum_series, false, true}, Planned{sum_series_keys, false, true}, Planned{sum_key_series, false, true}, Planned{sum_one_key_series, false, true},
    Planned{sum_sources, false, true}, Planned{sum_source_keys, false, true}, Planned{sum_path, false, true},
    Planned{flagged_newest}, Planned{flagged_count}, Planned{spoof_counts, false, true}, Planned{spoof_open},
    Planned{own_flows_older}, Planned{trim_invalid}, Planned{own_flows_oldest}, Planned{stored_suspects},
    Planned{path_groups, false, true}, Planned{path_hops}};

}  // namespace overflowd::store::stmt
