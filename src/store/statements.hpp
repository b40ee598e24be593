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
    "SELECT email, identity, exporters, prefixes, reports FROM keys WHERE key = ?1";
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
// The stored suspects to judge again (?1: the suspect verdict), newest first.
inline constexpr std::string_view stored_suspects =
    "SELECT id, saddr, daddr, sport, dport, protocol, stime, etime FROM reports WHERE spoof = ?1 AND received_ns >= ?2"
    " ORDER BY received_ns DESC LIMIT ?3";

// API (queries.cpp).
inline constexpr std::string_view key_contacts =
    "SELECT email, identity, first_seen_ns, last_seen_ns, reports FROM key_contacts WHERE key = ?1"
    " ORDER BY first_seen_ns LIMIT 50";
inline constexpr std::string_view key_alert_count = "SELECT COUNT(*) FROM alerts WHERE key = ?1";
inline constexpr std::string_view keys_all =
    "SELECT key, first_seen_ns, last_seen_ns, reports, exporters, prefixes, email, identity FROM keys"
    " WHERE ?1 = '' ORDER BY last_seen_ns DESC LIMIT ?2";
inline constexpr std::string_view keys_one =
    "SELECT key, first_seen_ns, last_seen_ns, reports, exporters, prefixes, email, identity FROM keys"
    " WHERE key = ?1 ORDER BY last_seen_ns DESC LIMIT ?2";
inline constexpr std::string_view alerts_all =
    "SELECT id, created_ns, kind, key, report_id, detail FROM alerts WHERE ?1 = '' ORDER BY id DESC LIMIT ?2";
inline constexpr std::string_view alerts_one =
    "SELECT id, created_ns, kind, key, report_id, detail FROM alerts WHERE key = ?1 ORDER BY id DESC LIMIT ?2";

struct Planned {
  std::string_view sql;
  // Walks a table in its rowid order under a LIMIT (SCAN <table> with no index is expected).
  bool rowid_walk = false;
};
inline constexpr std::array kPlanned = {
    Planned{select_key},     Planned{update_contact}, Planned{other_keys_identity}, Planned{other_keys_email},
    Planned{over_email},     Planned{over_identity},  Planned{delete_contact},      Planned{count_contacts},
    Planned{count_recent_alerts}, Planned{key_contacts}, Planned{key_alert_count},  Planned{keys_all},
    Planned{keys_one},       Planned{alerts_all, true}, Planned{alerts_one},
    Planned{own_flows_older}, Planned{trim_invalid}, Planned{own_flows_oldest}, Planned{stored_suspects}};

}  // namespace overflowd::store::stmt
