"use strict";
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function fmtTime(s) {
  if (typeof s !== "number" || !isFinite(s) || s <= 0) return "";
  return new Date(s * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
function fmtNum(n) { return typeof n === "number" ? n.toLocaleString("en-US") : ""; }
function shortKey(k) { return typeof k === "string" ? k.slice(0, 12) + "\u2026" : ""; }
function who(c) {
  if (!c) return "";
  const parts = [];
  if (c.identity) parts.push(c.identity);
  if (c.email) parts.push("<" + c.email + ">");
  return parts.length ? parts.join(" ") : "(no contact)";
}
function flowText(f) {
  if (!f) return "";
  return f.saddr + ":" + f.sport + " \u2192 " + f.daddr + ":" + f.dport + " proto " + f.protocol;
}
// columns: [header, (row) => text, className]
function table(target, rows, columns, emptyText) {
  const box = $(target);
  box.replaceChildren();
  if (!rows || rows.length === 0) { box.appendChild(el("div", emptyText || "nothing yet", "empty")); return; }
  const t = el("table"), head = el("tr");
  for (const [h] of columns) head.appendChild(el("th", h));
  const thead = el("thead"); thead.appendChild(head); t.appendChild(thead);
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    for (const [, get, cls] of columns) {
      const v = get(r);
      const td = el("td", v, typeof cls === "function" ? cls(r) : cls);
      if (typeof v === "string" && v.length > 48) td.title = v;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  t.appendChild(body);
  box.appendChild(t);
}
async function get(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}
function chart(series, bucket) {
  const svg = $("chart");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const ns = "http://www.w3.org/2000/svg";
  const line = document.createElementNS(ns, "line");
  line.setAttribute("x1", "0"); line.setAttribute("x2", "1000"); line.setAttribute("y1", "140"); line.setAttribute("y2", "140");
  line.setAttribute("class", "axis"); svg.appendChild(line);
  if (!series || series.length === 0) { $("chart-note").textContent = "no reports toward my prefixes yet"; return; }
  const t0 = series[0].t, t1 = series[series.length - 1].t + bucket;
  const max = Math.max(...series.map((p) => p.packets), 1);
  const w = 1000 * bucket / Math.max(t1 - t0, bucket);
  for (const p of series) {
    const h = 130 * p.packets / max;
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", String(1000 * (p.t - t0) / Math.max(t1 - t0, bucket)));
    r.setAttribute("width", String(Math.max(w - 1, 1)));
    r.setAttribute("y", String(140 - h)); r.setAttribute("height", String(h));
    r.setAttribute("class", "bar");
    const title = document.createElementNS(ns, "title");
    title.textContent = fmtTime(p.t) + ": " + fmtNum(p.packets) + " packets in " + p.reports + " reports from " + p.keys + " keys";
    r.appendChild(title);
    svg.appendChild(r);
  }
  for (const [x, t, anchor] of [[2, t0, "start"], [998, t1, "end"]]) {
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(x)); label.setAttribute("y", "155"); label.setAttribute("class", "label");
    label.setAttribute("text-anchor", anchor); label.textContent = fmtTime(t);
    svg.appendChild(label);
  }
  $("chart-note").textContent = "reported packets (times sampling interval) per " + bucket + " s of flow start time; peak " + fmtNum(max);
}
async function refresh() {
  try {
    const [disc, stats, summary, spoof, alerts, keys, reports, invalid, suspicious] = await Promise.all([
      get("/.well-known/overflowd"), get("/api/stats"), get("/api/summary"), get("/api/spoofing"),
      get("/api/alerts?limit=50"), get("/api/keys?limit=50"), get("/api/reports?limit=50"), get("/api/invalid?limit=20"),
      get("/api/reports?class=SUSPICIOUS&limit=50")]);
    // The suspicious first (the sender's policy boosted them, and says why), then the rest.
    const recent = (suspicious.reports || []).concat((reports.reports || []).filter((r) => r.class !== "SUSPICIOUS"));
    $("identity").textContent = who(disc.contact);
    $("pubkey").textContent = disc.keys && disc.keys[0] ? "key " + disc.keys[0].key : "";
    $("updated").textContent = "updated " + fmtTime(Date.now() / 1000);
    const c = stats.counters || {}, rows = stats.rows || {};
    const tiles = $("tiles"); tiles.replaceChildren();
    for (const [label, value, bad] of [["reports stored", rows.reports], ["keys", rows.keys], ["duplicates", c.duplicates || 0],
        ["refused", c.invalid || 0, (c.invalid || 0) > 0], ["alerts", rows.alerts, rows.alerts > 0],
        ["spoofing suspects", (spoof.counts || {}).suspect || 0, ((spoof.counts || {}).suspect || 0) > 0],
        ["time flagged", (c["time.future"] || 0) + (c["time.past"] || 0)]]) {
      const t = el("div", null, "tile"); const b = el("b", fmtNum(value || 0)); if (bad) b.className = "bad";
      t.appendChild(b); t.appendChild(el("span", label)); tiles.appendChild(t);
    }
    $("prefixes").textContent = summary.my_prefixes && summary.my_prefixes.length ? "(" + summary.my_prefixes.join(", ") + ")" : "(none configured: --my-prefix)";
    chart(summary.series, summary.bucket_s || 1);
    table("reporters", summary.reporters, [
      ["network", (r) => who(r.contact), "wrap"], ["key", (r) => shortKey(r.key), "mono"], ["reports", (r) => fmtNum(r.reports), "num"],
      ["packets", (r) => fmtNum(r.packets), "num"], ["exporters", (r) => fmtNum(r.exporters), "num"], ["last", (r) => fmtTime(r.last)]],
      summary.note || "no reports toward my prefixes yet");
    table("sources", summary.top_sources, [
      ["source", (r) => r.saddr, "mono"], ["packets", (r) => fmtNum(r.packets), "num"], ["reports", (r) => fmtNum(r.reports), "num"],
      ["seen by", (r) => (r.seen_by || []).map((n) => who(n.contact) + " [" + shortKey(n.key) + " exporter " + n.exporter + " if " + n.input + " AS" + n.src_as + "]").join("; "), "wrap"]],
      summary.note || "no reports toward my prefixes yet");
    table("spoofing", spoof.suspects, [
      ["flow", (r) => flowText(r.flow), "mono"], ["flow start", (r) => fmtTime(r.flow.stime / 1000)],
      ["seen by", (r) => who(r.contact)], ["key", (r) => shortKey(r.key), "mono"], ["exporter", (r) => r.flow.exporter, "mono"],
      ["input if", (r) => r.flow.input, "num"], ["src AS", (r) => r.flow.src_as, "num"], ["packets", (r) => fmtNum(r.flow.pcount), "num"]],
      spoof.note || ((spoof.own_exports && !spoof.own_exports.configured) ? "my own exports are not fed in (--own-exports-port, --own-exports-file): nothing can be judged"
        : "no suspect: " + fmtNum((spoof.counts || {}).seen || 0) + " reported flows from my prefixes were seen by my exporters, " + fmtNum((spoof.counts || {}).unknown || 0) + " could not be judged"));
    table("alerts", alerts.alerts, [
      ["when", (r) => fmtTime(r.created)], ["kind", (r) => r.kind, "bad"], ["key", (r) => shortKey(r.key), "mono"],
      ["what", (r) => r.kind === "contact_changed" ? who(r.detail.from) + " \u2192 " + who(r.detail.to)
        : who(r.detail) + " was seen under " + (r.detail.previous_keys || []).map(shortKey).join(", "), "wrap"]], "no alert");
    table("keys", keys.keys, [
      ["key", (r) => shortKey(r.key), "mono"], ["contact", (r) => who(r.contact), "wrap"], ["reports", (r) => fmtNum(r.reports), "num"],
      ["exporters", (r) => fmtNum(r.exporters), "num"], ["prefixes", (r) => fmtNum(r.prefixes), "num"],
      ["contacts", (r) => (r.contacts || []).length, (r) => (r.contacts || []).length > 1 ? "num bad" : "num"],
      ["first seen", (r) => fmtTime(r.first_seen)], ["last seen", (r) => fmtTime(r.last_seen)]], "no key yet");
    table("reports", recent, [
      ["received", (r) => fmtTime(r.received)], ["input", (r) => r.input], ["network", (r) => who(r.contact)],
      ["class", (r) => r.class === "SUSPICIOUS" ? "suspicious" : "", (r) => r.class === "SUSPICIOUS" ? "bad" : ""],
      ["reasons", (r) => (r.reasons || "").split(",").join(", "), "wrap"],
      ["key", (r) => shortKey(r.key), "mono"], ["flow", (r) => flowText(r.flow), "mono"], ["packets", (r) => fmtNum(r.flow.pcount), "num"],
      ["bytes", (r) => fmtNum(r.flow.bcount), "num"], ["exporter", (r) => r.flow.exporter, "mono"],
      ["time", (r) => r.time_flag, (r) => r.time_flag === "ok" ? "good" : "bad"],
      ["spoof", (r) => r.spoof === "not_mine" ? "" : r.spoof, (r) => r.spoof === "suspect" ? "bad" : ""],
      ["dups", (r) => r.duplicates, "num"]], "no report yet");
    const reasons = Object.entries(c).filter(([k]) => k.startsWith("invalid.")).map(([k, v]) => ({ reason: k.slice(8), count: v }));
    table("invalid-counts", reasons, [["reason", (r) => r.reason], ["count", (r) => fmtNum(r.count), "num"]], "nothing refused");
    table("invalid", invalid.invalid, [
      ["received", (r) => fmtTime(r.received)], ["input", (r) => r.input], ["peer", (r) => r.peer, "mono"],
      ["reason", (r) => r.reason, "bad"], ["bytes", (r) => r.size, "num"], ["start", (r) => (r.preview || "").slice(0, 60), "mono"]], "nothing refused");
  } catch (e) {
    $("updated").textContent = "could not load: " + e.message;
  }
}
refresh();
setInterval(refresh, 10000);
