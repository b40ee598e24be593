#include "api/http_api.hpp"
#include "core/clock.hpp"
#include "core/parse.hpp"


#include <charconv>
#include <cmath>
#include <ctime>

namespace overflowd::api {

using nlohmann::json;
using namespace receive;
using namespace store;

namespace {


void send_json(Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(Response& res, int status, const std::string& why) { send_json(res, {{"error", why}}, status); }

// A query's answer: one that ran past the read connections' time limit is a 503 the client may
// retry (the page says "busy, retrying"), not a 200.
void send_answer(Response& res, const json& j) {
  if (j.is_object() && j.contains("timed_out")) {
    res.set_header("Retry-After", "2");
    return send_json(res, j, 503);
  }
  send_json(res, j);
}

core::IpAddress peer_address(const Request& req) { return req.peer; }

// Query parameters, checked: a bad value is a 400 that names it.
struct Params {
  const Request& req;
  std::string error;

  std::optional<std::int64_t> integer(const char* name, std::int64_t lo, std::int64_t hi) {
    if (!req.has_param(name)) return std::nullopt;
    const std::string v = req.get_param_value(name);
    const auto n = core::parse_whole<std::int64_t>(v, lo, hi);
    if (!n) {
      error = std::string(name) + ": '" + v.substr(0, 64) + "' is not a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
      return std::nullopt;
    }
    return n;
  }
  std::optional<double> number(const char* name) {
    if (!req.has_param(name)) return std::nullopt;
    const std::string v = req.get_param_value(name);
    const auto d = core::parse_real(v, -HUGE_VAL, HUGE_VAL);
    if (!d) {
      error = std::string(name) + ": '" + v.substr(0, 64) + "' is not a number (Unix seconds)";
      return std::nullopt;
    }
    return d;
  }
  std::optional<Cidr> prefix(const char* name) {
    if (!req.has_param(name)) return std::nullopt;
    const std::string v = req.get_param_value(name);
    auto c = Cidr::parse(v);
    if (!c) {
      error = std::string(name) + ": '" + v.substr(0, 64) + "' is not an address or prefix (host bits zero)";
      return std::nullopt;
    }
    return *c;
  }
  // The page's filters, the same on every view: key, saddr, daddr, class, reason.
  void narrowing(Narrowing& n) {
    n.key = key("key");
    n.saddr = prefix("saddr");
    n.daddr = prefix("daddr");
    if (req.has_param("class")) {  // metadata.class, as the report says it
      n.report_class = req.get_param_value("class");
      if (n.report_class.empty() || n.report_class.size() > 32 ||
          !std::all_of(n.report_class.begin(), n.report_class.end(), [](char ch) { return std::isupper(static_cast<unsigned char>(ch)); }))
        error = "class: '" + n.report_class.substr(0, 64) + "' is not a report class (SUSPICIOUS, INFORMATIONAL)";
    }
    if (req.has_param("reason")) {  // a reason's class (syn-flood, ...) or a rule's name
      n.reason = req.get_param_value("reason");
      if (n.reason.empty() || n.reason.size() > 64 || !std::all_of(n.reason.begin(), n.reason.end(), [](char ch) {
            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.' || ch == ':';
          }))
        error = "reason: '" + n.reason.substr(0, 64) + "' is not a reason's class or a rule's name (letters, digits, - _ . :)";
    }
  }
  std::string key(const char* name) {
    if (!req.has_param(name)) return {};
    const std::string v = req.get_param_value(name);
    const bool ok = v.size() == 64 && std::all_of(v.begin(), v.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)); });
    if (!ok) error = std::string(name) + ": not 64 hex digits";
    return ok ? v : std::string();
  }
};

// Splits a POST body into report lines: one JSON object, or several one per line.
std::vector<std::string_view> split_reports(std::string_view body) {
  std::vector<std::string_view> out;
  while (!body.empty()) {
    const auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

void post_reports(HttpContext& ctx, Input input, const Request& req, Response& res) {
  // The server has read the body within its limit (whatever the framing); this is the API's own.
  const std::string& body = req.body;
  const std::size_t cap = ctx.config.max_body;
  if (body.size() > cap) return send_error(res, 413, "the body is over " + std::to_string(cap) + " bytes");
  const auto lines = split_reports(body);
  if (lines.empty()) return send_error(res, 400, "no report in the body");
  if (lines.size() > kMaxReportsPerRequest)
    return send_error(res, 413, "over " + std::to_string(kMaxReportsPerRequest) + " reports in one request");
  const std::int64_t now = core::system_clock().wall_ns();
  const std::string peer = peer_address(req).to_string();
  std::vector<Item> items;
  items.reserve(lines.size());
  for (auto line : lines) items.push_back(Item{Arrival{input, peer, now}, ingest(line, now, ctx.skew, ctx.cache), SpoofStatus::not_mine});
  std::vector<std::string> reasons(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    if (const auto* r = std::get_if<Rejected>(&items[i].verdict)) reasons[i] = r->reason;
  auto outcomes = ctx.writer.commit(std::move(items), std::chrono::seconds(2));
  if (!outcomes) {
    res.set_header("Retry-After", "1");
    return send_error(res, 503, outcomes.error());
  }
  std::size_t stored = 0, duplicates = 0;
  json rejected = json::array();
  for (std::size_t i = 0; i < outcomes->size(); ++i) {
    switch ((*outcomes)[i]) {
      case Outcome::stored:
        ++stored;
        break;
      case Outcome::duplicate:
        ++duplicates;
        break;
      case Outcome::rejected:
        rejected.push_back({{"index", i}, {"reason", reasons[i]}});
        break;
    }
  }
  // Stored and duplicate reports are safe on disk: 200. Nothing usable at all: 400.
  const int status = (stored + duplicates) > 0 ? 200 : 400;
  send_json(res, {{"stored", stored}, {"duplicates", duplicates}, {"rejected", rejected}}, status);
}

}  // namespace

// The route-binding plumbing: `s.Get(path, handler)` adds an API route (allow-listed, Host checked).
struct Routes {
  HttpServer& server;
  RouteOptions api;
  void Get(const std::string& path, Handler h) const { server.add_route("GET", path, std::move(h), api); }
};

std::expected<std::unique_ptr<HttpServer>, std::string> make_http_server(HttpContext& ctx, bool tls) {
  ServerLimits limits = ctx.config.limits;
  limits.default_headers = {{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}, {"Server", "overflowd"}};
  auto server = tls ? HttpServer::create(limits, ctx.config.tls_cert, ctx.config.tls_key) : HttpServer::create(limits);
  if (!server) return std::unexpected(server.error());
  const Input input = tls ? Input::https : Input::http;
  const HttpContext* c = &ctx;
  // The API and the page: only --api-allow addresses, and only under a Host this receiver serves
  // (DNS rebinding). Reports and discovery: anyone, under any name.
  RouteOptions api;
  api.allow = [c](const core::IpAddress& peer) {
    if (c->api_allowed) return c->api_allowed(peer);
    return std::any_of(c->config.api_allow.begin(), c->config.api_allow.end(), [&](const Cidr& p) { return p.contains(peer); });
  };
  RouteOptions anyone;
  anyone.check_host = false;
  anyone.max_body = ctx.config.max_body;
  Routes s{**server, api};

  s.server.add_route("POST", "/.well-known/overflowd", [&ctx, input](const Request& req, Response& res) {
    post_reports(ctx, input, req, res);
  }, anyone);
  s.server.add_route("GET", "/.well-known/overflowd", [c](const Request&, Response& res) {
    if (c->document) return res.set_content(c->document(), "application/json");
    send_json(res, c->discovery);
  }, anyone);
  s.Get("/", [](const Request&, Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                   "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_content(web_page(), "text/html; charset=utf-8");
  });
  s.Get("/api/reports", [c](const Request& req, Response& res) {
    Params p{req, {}};
    ReportFilter f;
    p.narrowing(f);
    f.since = p.number("since");
    f.until = p.number("until");
    f.before = p.integer("before", 1, INT64_MAX);
    f.limit = p.integer("limit", 1, kMaxLimit).value_or(100);
    f.raw = req.has_param("raw") && req.get_param_value("raw") != "0";
    // ?after=ID: only rows newer than the newest the page holds (its refresh). The newest `limit`
    // are read and the older cut off; "gap": true when there may be more between (page again).
    const auto after = p.integer("after", 0, INT64_MAX);
    if (!p.error.empty()) return send_error(res, 400, p.error);
    json out = c->queries.reports(f);
    if (after && out.contains("reports")) {
      json kept = json::array();
      for (auto& r : out["reports"])
        if (r.value("id", std::int64_t{0}) > *after) kept.push_back(std::move(r));
      out["gap"] = static_cast<std::int64_t>(kept.size()) == f.limit;
      out["reports"] = std::move(kept);
    }
    send_answer(res, out);
  });
  // The lists by key (?key=, empty for all) and ?limit=.
  using ByKey = json (ReportQueries::*)(const std::string&, std::int64_t);
  for (const auto& [path, list] : {std::pair{"/api/keys", ByKey{&ReportQueries::keys}},
                                   std::pair{"/api/alerts", ByKey{&ReportQueries::alerts}}}) {
    s.Get(path, [c, list](const Request& req, Response& res) {
      Params p{req, {}};
      const std::string key = p.key("key");
      const auto limit = p.integer("limit", 1, kMaxLimit).value_or(100);
      if (!p.error.empty()) return send_error(res, 400, p.error);
      send_answer(res, (c->queries.*list)(key, limit));
    });
  }
  s.Get("/api/invalid", [c](const Request& req, Response& res) {
    Params p{req, {}};
    const auto limit = p.integer("limit", 1, kMaxLimit).value_or(100);
    if (!p.error.empty()) return send_error(res, 400, p.error);
    send_answer(res, c->queries.invalid(limit));
  });
  s.Get("/api/summary", [c](const Request& req, Response& res) {
    Params p{req, {}};
    SummaryQuery q;
    q.my_prefixes = c->config.my_prefixes;
    q.since = p.number("since");
    q.until = p.number("until");
    q.bucket_s = p.integer("bucket", 1, 366 * 86'400).value_or(0);
    q.top = p.integer("top", 1, 100).value_or(20);
    p.narrowing(q.filter);
    // ?unless=VERSION: the version the page holds; the same answer is {"unchanged": true}.
    if (req.has_param("unless")) q.unless = req.get_param_value("unless").substr(0, 200);
    // ?series_key=HEX: only that key's series (the key view's chart, from the roll-ups).
    if (req.has_param("series_key")) {
      q.series_key = req.get_param_value("series_key");
      if (q.series_key.size() != 64 || q.series_key.find_first_not_of("0123456789abcdef") != std::string::npos)
        return send_error(res, 400, "series_key: 64 lowercase hex digits");
    }
    if (!p.error.empty()) return send_error(res, 400, p.error);
    send_answer(res, c->queries.summary(q));
  });
  s.Get("/api/spoofing", [c](const Request& req, Response& res) {
    Params p{req, {}};
    SpoofQuery q;
    q.my_prefixes = c->config.my_prefixes;
    q.since = p.number("since");
    q.until = p.number("until");
    q.limit = p.integer("limit", 1, 10 * kMaxLimit).value_or(kMaxLimit);
    if (!p.error.empty()) return send_error(res, 400, p.error);
    json out = c->queries.spoofing(q, c->recheck);
    if (c->runtime_stats && !out.contains("timed_out")) out["own_exports"] = c->runtime_stats()["own_exports"];
    send_answer(res, out);
  });
  s.Get("/api/paths", [c](const Request& req, Response& res) {  // issue 19: one flow's reports, lined up
    Params p{req, {}};
    PathQuery q;
    q.since = p.number("since");
    q.until = p.number("until");
    q.bucket_s = p.integer("bucket", 1, 86'400).value_or(60);
    q.min_keys = p.integer("min_keys", 1, 64).value_or(2);
    q.limit = p.integer("limit", 1, kMaxLimit).value_or(100);
    if (!p.error.empty()) return send_error(res, 400, p.error);
    send_json(res, c->queries.paths(q));
  });
  s.Get("/api/stats", [c](const Request&, Response& res) {
    json out = c->queries.counters();
    if (c->runtime_stats && !out.contains("timed_out")) out["runtime"] = c->runtime_stats();
    send_answer(res, out);
  });
  return server;
}

std::expected<int, std::string> bind_http(HttpServer& server, const std::string& address, int port) {
  return server.bind(address, port);
}

void serve_http(HttpServer& server) { server.run(); }
void stop_http(HttpServer& server) { server.stop(); }

}  // namespace overflowd::api
