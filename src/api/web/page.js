"use strict";
// The receiver's page: every view is driven by the state in the address's #fragment (view, time
// range, filters, drill-down), so a view can be linked, reloaded and screenshot as it is.
const $ = (id) => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";
const RANGES = { "15m": 900, "1h": 3600, "1d": 86400 };
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function svgEl(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function fmtTime(s) {
  if (typeof s !== "number" || !isFinite(s) || s <= 0) return "";
  return new Date(s * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
function fmtNum(n) { return typeof n === "number" ? n.toLocaleString("en-US") : ""; }
function fmtShort(n) {
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
  if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
  return String(Math.round(n * 100) / 100);
}
function fmtSpan(s) {
  if (s % 86400 === 0) return s / 86400 + " d";
  if (s % 3600 === 0) return s / 3600 + " h";
  if (s % 60 === 0) return s / 60 + " min";
  return s + " s";
}
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
function packetsOf(f) { return f ? (f.pcount || 0) * Math.max(f.sampling_interval || 1, 1) : 0; }

// ---- state (the #fragment) ----
function readState() {
  const p = new URLSearchParams(location.hash.slice(1));
  const s = {};
  for (const k of ["view", "range", "since", "until", "prefix", "daddr", "saddr", "key", "class", "reason", "src", "k", "every", "before"]) s[k] = p.get(k) || "";
  if (!s.view) s.view = "overview";
  if (!s.range) s.range = "1h";
  return s;
}
function hashOf(s) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(s)) if (v !== "" && v !== undefined && v !== null) p.set(k, v);
  return "#" + p.toString();
}
function go(changes) {
  const h = hashOf(Object.assign(readState(), changes));
  if (h === location.hash) render(false); else location.hash = h;  // the same state: read again
}
let state = readState();
// The range in Unix seconds: a relative one ends now.
function timeRange() {
  if (state.range === "custom") {
    const since = Number(state.since), until = Number(state.until);
    if (isFinite(since) && isFinite(until) && since > 0 && until > since) return { since, until, fixed: until < Date.now() / 1000 };
  }
  if (state.range === "all") return { since: 0, until: Math.ceil(Date.now() / 1000), fixed: false, all: true };
  const span = RANGES[state.range] || 3600, until = Math.ceil(Date.now() / 1000);
  return { since: until - span, until, fixed: false };
}
function rangeText(r) { return r.all ? "all that is stored" : fmtTime(r.since) + " to " + fmtTime(r.until); }
const rangeQuery = (r) => r.all ? "" : "?since=" + r.since + "&until=" + r.until;
// The report filters, as /api/reports parameters (received time in the range).
function reportParams(extra, withRange) {
  const p = new URLSearchParams();
  const r = timeRange();
  if (withRange !== false && !r.all) { p.set("since", String(r.since)); p.set("until", String(r.until)); }
  const daddr = state.daddr || state.prefix;
  if (daddr) p.set("daddr", daddr);
  if (state.saddr) p.set("saddr", state.saddr);
  if (state.key) p.set("key", state.key);
  if (state.class) p.set("class", state.class);
  if (state.reason) p.set("reason", state.reason);
  for (const [k, v] of Object.entries(extra || {})) { if (v === null) p.delete(k); else p.set(k, String(v)); }
  return p.toString();
}

// ---- fetching (every request logged in #fetch-log, for the test) ----
// A query past the receiver's time limit is a 503 with Retry-After: the page says "busy, retrying"
// and renders again after that long.
class Busy extends Error { constructor(path, after) { super(path + ": busy"); this.after = after; } }
async function get(path) {
  const log = $("fetch-log");
  log.textContent += path + "\n";
  const r = await fetch(path, { cache: "no-store" });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (r.status === 503) throw new Busy(path.split("?")[0], Math.min(Math.max(Number(r.headers.get("Retry-After")) || 2, 1), 60));
  if (!r.ok) throw new Error(path.split("?")[0] + ": " + r.status + (body && body.error ? " " + body.error : ""));
  if (body && body.error) throw new Error(path.split("?")[0] + ": " + body.error);
  return body;
}

// ---- tables: columns are [header, (row) => text or Node, className] ----
function table(target, rows, columns, emptyText) {
  const box = typeof target === "string" ? $(target) : target;
  box.replaceChildren();
  if (!rows || rows.length === 0) { box.appendChild(el("div", emptyText || "nothing in this range", "empty")); return; }
  const t = el("table"), head = el("tr");
  for (const [h] of columns) head.appendChild(el("th", h));
  const thead = el("thead"); thead.appendChild(head); t.appendChild(thead);
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    for (const [, getv, cls] of columns) {
      const v = getv(r);
      const td = el("td", v instanceof Node ? null : v, typeof cls === "function" ? cls(r) : cls);
      if (v instanceof Node) td.appendChild(v);
      else if (typeof v === "string" && v.length > 48) td.title = v;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  t.appendChild(body);
  box.appendChild(t);
}
function drill(text, changes, cls) {
  const a = el("a", text, "drill" + (cls ? " " + cls : ""));
  a.href = hashOf(Object.assign(readState(), changes));
  return a;
}
const sourceLink = (ip) => ip ? drill(ip, { view: "source", src: ip }, "mono") : "";
const keyLink = (k) => k ? drill(shortKey(k), { view: "key", k }, "mono") : "";
function tiles(target, items) {
  const box = $(target); box.replaceChildren();
  for (const [label, value, bad] of items) {
    const t = el("div", null, "tile"); const b = el("b", typeof value === "number" ? fmtNum(value) : value); if (bad) b.className = "bad";
    t.appendChild(b); t.appendChild(el("span", label)); box.appendChild(t);
  }
}
const REPORT_COLUMNS = [
  ["id", (r) => r.id, "num"], ["received", (r) => fmtTime(r.received)], ["network", (r) => who(r.contact), "wrap"],
  ["key", (r) => keyLink(r.key)], ["class", (r) => r.class === "SUSPICIOUS" ? "suspicious" : (r.class || "").toLowerCase(), (r) => r.class === "SUSPICIOUS" ? "bad" : ""],
  ["reasons", (r) => (r.reasons || "").split(",").join(", "), "wrap"],
  ["source", (r) => sourceLink(r.flow && r.flow.saddr)], ["flow", (r) => flowText(r.flow), "mono"],
  ["flow start", (r) => fmtTime(r.flow && r.flow.stime / 1000)],
  ["packets", (r) => fmtNum(r.flow && r.flow.pcount), "num"], ["bytes", (r) => fmtNum(r.flow && r.flow.bcount), "num"],
  ["flags", (r) => r.flow && r.flow.flags, "num"], ["exporter", (r) => r.flow && r.flow.exporter, "mono"], ["input", (r) => r.input],
  ["time", (r) => r.time_flag, (r) => r.time_flag === "ok" ? "good" : "bad"],
  ["spoof", (r) => r.spoof === "not_mine" ? "" : r.spoof, (r) => r.spoof === "suspect" ? "bad" : ""], ["dups", (r) => r.duplicates, "num"]];

// ---- charts (inline SVG, sized to their box in CSS pixels so text stays readable) ----
function niceStep(max, n) {
  const raw = Math.max(max, 1) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return Math.max(m * mag, 1);
  return 10 * mag;
}
function timeLabel(t, span) {
  const iso = new Date(t * 1000).toISOString();
  if (span > 2 * 86400) return iso.slice(5, 10) + " " + iso.slice(11, 16);
  if (span <= 600) return iso.slice(11, 19);
  return iso.slice(11, 16);
}
const charts = {};  // id -> () => draw again (on resize)
function timeChart(id, points, opt) {
  const draw = () => {
    const box = $(id); box.replaceChildren();
    const W = Math.max(box.clientWidth || 600, 280), H = W < 500 ? 190 : 230;
    const L = 56, R = 12, T = 22, B = 42, pw = W - L - R, ph = H - T - B;
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": opt.label });
    const from = opt.from, to = Math.max(opt.to, opt.from + 1), bucket = opt.bucket || 1;
    const max = Math.max(1, ...points.map((p) => p.v));
    const step = niceStep(max, 4), top = Math.ceil(max / step) * step;
    const y = (v) => T + ph - ph * v / top, x = (t) => L + pw * (t - from) / (to - from);
    for (let v = 0; v <= top + step / 2; v += step) {
      svg.appendChild(svgEl("line", { x1: L, x2: L + pw, y1: y(v), y2: y(v), class: "grid" }));
      svg.appendChild(svgEl("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "label" }, fmtShort(v)));
    }
    const bw = Math.max(pw * bucket / (to - from) - 1, 1);
    for (const p of points) {
      if (p.t + bucket < from || p.t > to) continue;
      const h = ph * p.v / top;
      const r = svgEl("rect", { x: Math.max(x(p.t), L), y: T + ph - h, width: bw, height: Math.max(h, p.v > 0 ? 1 : 0), class: opt.cls || "bar" });
      r.appendChild(svgEl("title", {}, fmtTime(p.t) + ": " + fmtNum(p.v) + " " + opt.unit + (p.note ? " (" + p.note + ")" : "")));
      svg.appendChild(r);
    }
    svg.appendChild(svgEl("line", { x1: L, x2: L + pw, y1: T + ph, y2: T + ph, class: "axis" }));
    svg.appendChild(svgEl("line", { x1: L, x2: L, y1: T, y2: T + ph, class: "axis" }));
    // Ticks at round times (UTC), as many as fit (one per ~90 px).
    const want = Math.max(2, Math.floor(pw / 90));
    const tick = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
      .find((s) => (to - from) / s <= want) || 2592000;
    for (let t = Math.ceil(from / tick) * tick; t <= to; t += tick) {
      const xx = x(t);
      svg.appendChild(svgEl("line", { x1: xx, x2: xx, y1: T + ph, y2: T + ph + 4, class: "axis" }));
      const anchor = xx - L < 20 ? "start" : L + pw - xx < 20 ? "end" : "middle";
      svg.appendChild(svgEl("text", { x: xx, y: T + ph + 16, "text-anchor": anchor, class: "label" }, timeLabel(t, to - from)));
    }
    svg.appendChild(svgEl("text", { x: L + pw / 2, y: H - 6, "text-anchor": "middle", class: "title" }, opt.xTitle || "time (UTC)"));
    svg.appendChild(svgEl("text", { x: 4, y: 12, class: "title" }, opt.unit + " per " + fmtSpan(bucket)));
    if (points.length === 0) svg.appendChild(svgEl("text", { x: L + pw / 2, y: T + ph / 2, "text-anchor": "middle", class: "label" }, "nothing in this range"));
    box.appendChild(svg);
  };
  charts[id] = draw; draw();
}
// Horizontal bars, one row per reporting network: packets (bar) and reports (in the label).
function networkChart(id, rows) {
  const draw = () => {
    const box = $(id); box.replaceChildren();
    if (!rows.length) { box.appendChild(el("div", "no network reported flows toward my prefixes in this range", "empty")); return; }
    const W = Math.max(box.clientWidth || 600, 280), rowH = 24, T = 20, B = 40;
    const L = Math.min(260, Math.floor(W * 0.42)), R = 16, pw = W - L - R, H = T + rows.length * rowH + B;
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "packets per reporting network" });
    const max = Math.max(1, ...rows.map((r) => r.packets));
    const step = niceStep(max, Math.max(2, Math.floor(pw / 90))), top = Math.ceil(max / step) * step;
    const x = (v) => L + pw * v / top, ph = rows.length * rowH;
    for (let v = 0; v <= top + step / 2; v += step) {
      svg.appendChild(svgEl("line", { x1: x(v), x2: x(v), y1: T, y2: T + ph, class: "grid" }));
      svg.appendChild(svgEl("text", { x: x(v), y: T + ph + 14, "text-anchor": "middle", class: "label" }, fmtShort(v)));
    }
    rows.forEach((r, i) => {
      const yy = T + i * rowH;
      const name = (r.contact && (r.contact.identity || r.contact.email)) || shortKey(r.key);
      const maxChars = Math.floor((L - 8) / 6.2);
      const label = name.length > maxChars ? name.slice(0, maxChars - 1) + "\u2026" : name;
      svg.appendChild(svgEl("text", { x: L - 6, y: yy + 15, "text-anchor": "end", class: "label" }, label));
      const rect = svgEl("rect", { x: L, y: yy + 4, width: Math.max(x(r.packets) - L, 1), height: rowH - 8, class: "bar" });
      rect.appendChild(svgEl("title", {}, who(r.contact) + " key " + r.key + ": " + fmtNum(r.packets) + " packets in " + fmtNum(r.reports) + " reports"));
      svg.appendChild(rect);
      const tx = x(r.packets) + 4, inside = tx > W - 110;
      svg.appendChild(svgEl("text", { x: inside ? x(r.packets) - 4 : tx, y: yy + 15, "text-anchor": inside ? "end" : "start", class: inside ? "label inside" : "label" }, fmtShort(r.packets) + " pkts / " + fmtNum(r.reports) + " reports"));
    });
    svg.appendChild(svgEl("line", { x1: L, x2: L, y1: T, y2: T + ph, class: "axis" }));
    svg.appendChild(svgEl("line", { x1: L, x2: L + pw, y1: T + ph, y2: T + ph, class: "axis" }));
    svg.appendChild(svgEl("text", { x: L + pw / 2, y: H - 6, "text-anchor": "middle", class: "title" }, W < 520 ? "packets in the range" : "packets reported (times sampling interval) in the range"));
    svg.appendChild(svgEl("text", { x: 4, y: 12, class: "title" }, "reporting network"));
    box.appendChild(svg);
  };
  charts[id] = draw; draw();
}
// One network's series from the summary (the roll-up sum_key, by flow start time): packets per
// bucket, with its reports in each bar's title.
function seriesChart(id, network, summary, r, label) {
  const bucket = summary.bucket_s || 60;
  const from = (summary.range && summary.range.since) || r.since, to = (summary.range && summary.range.until) || r.until;
  timeChart(id, (network.series || []).map((p) => ({ t: p.t, v: p.packets, note: fmtNum(p.reports) + " reports" })),
    { from, to, bucket, unit: "packets", cls: "bar2", label, xTitle: "flow start (UTC)" });
}
// The overview's small charts: the first `n` reporting networks over time.
function networkSeries(id, summary, r, n) {
  const box = $(id); box.replaceChildren();
  // Every box first, then the charts: each is sized to its box once the grid has its columns.
  const nets = (summary.reporters || []).filter((x) => Array.isArray(x.series)).slice(0, n);
  nets.forEach((x, i) => {
    const fig = el("figure"); fig.appendChild(el("figcaption", who(x.contact) + " \u2014 key " + shortKey(x.key) + ": " + fmtNum(x.reports) + " reports"));
    const chart = el("div", null, "chart"); chart.id = id + "-" + i; fig.appendChild(chart); box.appendChild(fig);
  });
  nets.forEach((x, i) => seriesChart(id + "-" + i, x, summary, r, "a reporting network's packets over time"));
}
let resizeTimer = 0;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => { for (const d of Object.values(charts)) d(); }, 150); });

// ---- addresses: is `ip` in one of my prefixes (for the evidence of a note) ----
function ipBits(ip) {
  if (ip.includes(":")) {
    let [head, tail] = ip.split("::");
    const h = head ? head.split(":") : [], t = tail !== undefined ? (tail ? tail.split(":") : []) : [];
    if (t.length && t[t.length - 1].includes(".")) { const v4 = ipBits(t.pop()); t.push(parseInt(v4.slice(0, 16), 2).toString(16), parseInt(v4.slice(16), 2).toString(16)); }
    const groups = tail !== undefined ? h.concat(Array(8 - h.length - t.length).fill("0"), t) : h;
    return groups.map((g) => parseInt(g || "0", 16).toString(2).padStart(16, "0")).join("");
  }
  return ip.split(".").map((o) => Number(o).toString(2).padStart(8, "0")).join("");
}
function inPrefix(ip, cidr) {
  const [net, len] = cidr.split("/");
  if (!ip || ip.includes(":") !== net.includes(":")) return false;
  const n = len === undefined ? (net.includes(":") ? 128 : 32) : Number(len);
  return ipBits(ip).slice(0, n) === ipBits(net).slice(0, n);
}

// ---- contact cards and the abuse note ----
let me = { contact: null, prefixes: [] };
function abuseNote(network, evidence, r0, what) {
  const times = evidence.map((e) => e.flow ? e.flow.stime / 1000 : e.received);
  const r = r0.all && times.length ? { since: Math.min(...times), until: Math.max(...times) } : r0;
  const counted = evidence.reduce((a, e) => a + packetsOf(e.flow), 0);
  // The totals: the roll-ups' when the card has them (the evidence is then the newest reports).
  const total = Math.max(network.reports || 0, evidence.length), packets = Math.max(network.packets || 0, counted);
  const bySource = new Map();
  for (const e of evidence) if (e.flow) bySource.set(e.flow.saddr, (bySource.get(e.flow.saddr) || 0) + packetsOf(e.flow));
  const top = [...bySource.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([s, n]) => "  " + s + " (" + fmtNum(n) + " packets)");
  const lines = evidence.filter((e) => e.signed).map((e) => JSON.stringify(e.signed));
  const head = [
    "Hello " + (network.contact.identity || network.contact.email || "") + ",",
    "",
    "Your network (signing key " + network.key + ") reported " + fmtNum(total) + " flows " + what +
      " between " + fmtTime(r.since) + " and " + fmtTime(r.until) + ", " + fmtNum(packets) + " packets in all" +
      (total > evidence.length ? "; the newest " + fmtNum(evidence.length) + " are attached." : "."),
    "The sources in " + (total > evidence.length ? "those attached" : "them") + ", by packets:", ...top, "",
    "Please look at this traffic on your side and stop it if it is an attack.",
    "", "From: " + (me.contact ? who(me.contact) : "the receiver") + (me.prefixes.length ? ", for " + me.prefixes.join(", ") : ""),
    "",
    "The evidence: the reports your exporters signed, one per line as JSON {\"key\", \"signature\"}: the signature",
    "is the NaCl/Ed25519 signed message (base64), which you can re-verify with your key (`overflowd verify`, or any",
    "NaCl library's crypto_sign_open) and which holds the whole report.", ""];
  return { subject: "Flows from your network " + what + " (" + fmtTime(r.since) + " to " + fmtTime(r.until) + ")", head: head.join("\n"), lines };
}
function contactCard(network, evidenceRows, r, what, extra) {
  const card = el("div", null, "card");
  card.appendChild(el("h3", network.contact.identity || "(no identity)"));
  const row = (label, node) => { const d = el("div", null, "row"); d.appendChild(el("span", label + ": ", "muted")); d.appendChild(typeof node === "string" ? el("span", node) : node); card.appendChild(d); };
  const email = network.contact.email;
  const note = abuseNote(network, evidenceRows, r, what);
  const text = note.head + note.lines.join("\n") + "\n";
  if (email) {
    const a = el("a", email, "mailto");
    // A mail client takes a bounded address: the note and as many evidence lines as fit; the whole
    // evidence is in the file below and the box.
    let body = note.head, n = 0;
    for (const l of note.lines) { if (body.length + l.length > 6000) break; body += l + "\n"; n++; }
    if (n < note.lines.length) body += "(" + (note.lines.length - n) + " more lines in the attached evidence file)\n";
    a.href = "mailto:" + encodeURIComponent(email).replace(/%40/g, "@") + "?subject=" + encodeURIComponent(note.subject) + "&body=" + encodeURIComponent(body);
    row("email", a);
  } else row("email", "(none signed)");
  row("key", keyLink(network.key));
  if (extra) for (const [l, v] of extra) row(l, v);
  const others = network.other_contacts || [];
  if (others.length) row("the key's other contacts", others.map((c) => who(c) + " (" + fmtTime(c.first_seen) + " to " + fmtTime(c.last_seen) + ")").join("; "));
  const ta = el("textarea", text); ta.readOnly = true; ta.className = "note";
  card.appendChild(el("div", "Ready-to-send abuse note (" + note.lines.length + " signed reports as evidence):", "row muted"));
  card.appendChild(ta);
  const actions = el("div", null, "actions");
  const dl = el("a", "evidence as JSON lines");
  dl.href = "data:application/x-ndjson;charset=utf-8," + encodeURIComponent(note.lines.join("\n") + "\n");
  dl.download = "overflowd-evidence-" + network.key.slice(0, 12) + ".jsonl";
  actions.appendChild(dl);
  const copy = el("button", "copy the note"); copy.type = "button";
  copy.onclick = () => { ta.select(); if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => document.execCommand("copy")); else document.execCommand("copy"); };
  actions.appendChild(copy);
  card.appendChild(actions);
  return card;
}

// ---- views ----
let cache = { summaryKey: "", summary: null, reports: null };
// The summary narrowed by the same filters as the reports (my prefix or victim, source, key,
// class, reason); its range by flow start time.
function summaryPath(r) {
  const p = new URLSearchParams(reportParams({}, false));
  if (!r.all) { p.set("since", String(r.since)); p.set("until", String(r.until)); }
  const q = p.toString();
  return "/api/summary" + (q ? "?" + q : "");
}
// Returns the summary and whether it changed. A fixed range in the past is read once; otherwise the
// page sends the version it holds (?unless=) and the receiver answers {"unchanged": true} when the
// same periods hold the same reports, without reading the sums again.
// What the summary answers for: the filters and the range as chosen (a relative range moves with
// the clock; the receiver's version says whether its periods did).
function summaryKey() { return reportParams({}, false) + "|" + state.range + "|" + state.since + "|" + state.until; }
async function loadSummary(r, refreshing) {
  const k = summaryPath(r);
  if (cache.summaryKey === summaryKey() && cache.summary) {
    if (r.fixed) return { summary: cache.summary, changed: false };
    if (refreshing && cache.summary.version) {
      const got = await get(k + (k.includes("?") ? "&" : "?") + "unless=" + encodeURIComponent(cache.summary.version));
      if (got.unchanged) return { summary: cache.summary, changed: false };
      cache.summary = got;
      return { summary: got, changed: true };
    }
  }
  cache.summary = await get(k); cache.summaryKey = summaryKey();
  return { summary: cache.summary, changed: true };
}
// The filters that a list without a server-side filter is narrowed by in the page (suspects).
function matchesFilters(x) {
  const f = x.flow || {};
  const victim = state.daddr || state.prefix;
  if (victim && !inPrefix(f.daddr, victim.includes("/") ? victim : victim + (victim.includes(":") ? "/128" : "/32"))) return false;
  if (state.saddr && !inPrefix(f.saddr, state.saddr.includes("/") ? state.saddr : state.saddr + (state.saddr.includes(":") ? "/128" : "/32"))) return false;
  if (state.key && x.key !== state.key) return false;
  if (state.class && x.class !== state.class) return false;
  if (state.reason && !("," + (x.reasons || "") + ",").includes("," + state.reason + ",")) return false;
  return true;
}
// The overview's newest reports (the filters and range apply); a refresh asks only for newer ids.
async function newestReports(r, refreshing) {
  const q = reportParams({}, false), st = cache.recent;
  if (refreshing && st && st.q === q && st.rows.length) {
    const got = await get("/api/reports?" + reportParams({ after: st.rows[0].id, limit: RECENT }, false));
    st.rows = got.gap ? got.reports : (got.reports || []).concat(st.rows).filter((x) => x.received >= r.since).slice(0, RECENT);
  } else {
    const got = await get("/api/reports?" + reportParams({ limit: RECENT }, true));
    cache.recent = { q, rows: got.reports || [] };
  }
  table("recent", cache.recent.rows, REPORT_COLUMNS, "no report received in this range with these filters");
}
const RECENT = 50;
function filterText() {
  return [state.prefix && "prefix " + state.prefix, state.daddr && "victim " + state.daddr, state.saddr && "source " + state.saddr,
    state.key && "key " + shortKey(state.key), state.class && "class " + state.class, state.reason && "reason " + state.reason].filter(Boolean);
}
function overviewTiles(r, stats, summary, spoof) {
  const c = stats.counters || {}, rows = stats.rows || {}, tot = summary.totals || {}, f = filterText();
  $("range-text").textContent = "(" + rangeText(r) + (f.length ? "; " + f.join(", ") : "") + ")";
  const suspects = f.length ? (spoof.suspects || []).length : (spoof.counts || {}).suspect || 0;
  tiles("tiles", [["reports toward me (range)", tot.reports || 0], ["packets toward me (range)", tot.packets || 0],
    ["reporting keys (range)", tot.keys || 0], ["reports stored (all)", rows.reports || 0], ["duplicates", c.duplicates || 0],
    ["refused", c.invalid || 0, (c.invalid || 0) > 0], ["alerts", rows.alerts || 0, rows.alerts > 0],
    ["spoofing suspects (range)", suspects, suspects > 0],
    ["flagged times", (summary.flagged || {}).reports || 0]]);
}
async function overview(r, refreshing) {
  // A refresh asks the summary for changes since the version it holds; unchanged, the tables
  // (summary, suspects, alerts, keys, refused) are not read again: only the counters and the reports
  // newer than the newest held.
  const [stats, loaded] = await Promise.all([get("/api/stats"), loadSummary(r, refreshing)]);
  const summary = loaded.summary;
  if (refreshing && !loaded.changed && cache.overview === summaryKey()) {
    overviewTiles(r, stats, summary, cache.spoof);
    return newestReports(r, true);
  }
  const keyFilter = state.key ? "&key=" + state.key : "";
  const [spoof, alerts, keys, invalid] = await Promise.all([get("/api/spoofing" + rangeQuery(r)),
    get("/api/alerts?limit=50" + keyFilter), get("/api/keys?limit=50" + keyFilter), get("/api/invalid?limit=20")]);
  spoof.suspects = (spoof.suspects || []).filter(matchesFilters);
  cache.spoof = spoof; cache.overview = summaryKey();
  overviewTiles(r, stats, summary, spoof);
  const c = stats.counters || {};
  $("prefixes").textContent = summary.my_prefixes && summary.my_prefixes.length ? "(" + summary.my_prefixes.join(", ") + "; by flow start time)" : "(none configured: --my-prefix)";
  const series = summary.series || [], bucket = summary.bucket_s || 60;
  const from = (summary.range && summary.range.since) || r.since, to = (summary.range && summary.range.until) || r.until;
  timeChart("chart-reports", series.map((p) => ({ t: p.t, v: p.reports, note: p.keys + " keys" })), { from, to, bucket, unit: "reports", label: "reports over time", xTitle: "flow start time (UTC)" });
  timeChart("chart-packets", series.map((p) => ({ t: p.t, v: p.packets, note: p.reports + " reports" })), { from, to, bucket, unit: "packets", label: "packets over time", xTitle: "flow start time (UTC)", cls: "bar2" });
  $("chart-note").textContent = summary.note || ("packets are as reported times the sampling interval; " + fmtSpan(bucket) + " buckets; reports with implausible times are left out (listed below)");
  networkChart("chart-networks", summary.reporters || []);
  networkSeries("network-series", summary, r, 6);
  table("reporters", summary.reporters, [
    ["network (as signed)", (x) => who(x.contact), "wrap"], ["key", (x) => keyLink(x.key)], ["reports", (x) => fmtNum(x.reports), "num"],
    ["packets", (x) => fmtNum(x.packets), "num"], ["exporters", (x) => fmtNum(x.exporters), "num"], ["first", (x) => fmtTime(x.first)], ["last", (x) => fmtTime(x.last)],
    ["other contacts of the key", (x) => (x.other_contacts || []).map(who).join("; "), (x) => (x.other_contacts || []).length ? "wrap bad" : "wrap"]],
    summary.note || "no reports toward my prefixes in this range");
  table("sources", summary.top_sources, [
    ["source", (x) => sourceLink(x.saddr)], ["packets", (x) => fmtNum(x.packets), "num"], ["reports", (x) => fmtNum(x.reports), "num"],
    ["seen by", (x) => (x.seen_by || []).map((n) => who(n.contact) + " [" + shortKey(n.key) + " exporter " + n.exporter + " if " + n.input + " AS" + n.src_as + "]").join("; "), "wrap"]],
    summary.note || "no reports toward my prefixes in this range");
  table("spoofing", spoof.suspects, [
    ["flow", (x) => flowText(x.flow), "mono"], ["source", (x) => sourceLink(x.flow.saddr)], ["flow start", (x) => fmtTime(x.flow.stime / 1000)],
    ["seen by", (x) => who(x.contact)], ["key", (x) => keyLink(x.key)], ["exporter", (x) => x.flow.exporter, "mono"],
    ["input if", (x) => x.flow.input, "num"], ["src AS", (x) => x.flow.src_as, "num"], ["packets", (x) => fmtNum(x.flow.pcount), "num"]],
    spoof.note || ((spoof.own_exports && !spoof.own_exports.configured) ? "my own exports are not fed in (--own-exports-port, --own-exports-file): nothing can be judged"
      : "no suspect in this range: " + fmtNum((spoof.counts || {}).seen || 0) + " reported flows from my prefixes were seen by my exporters, " + fmtNum((spoof.counts || {}).unknown || 0) + " could not be judged"));
  table("alerts", alerts.alerts, [
    ["when", (x) => fmtTime(x.created)], ["kind", (x) => x.kind, "bad"], ["key", (x) => keyLink(x.key)],
    ["what", (x) => x.kind === "contact_changed" ? who(x.detail.from) + " \u2192 " + who(x.detail.to)
      : who(x.detail) + " was seen under " + (x.detail.previous_keys || []).map(shortKey).join(", "), "wrap"]], "no alert");
  table("keys", keys.keys, [
    ["key", (x) => keyLink(x.key)], ["latest contact", (x) => who(x.contact), "wrap"], ["reports", (x) => fmtNum(x.reports), "num"],
    ["exporters", (x) => fmtNum(x.exporters), "num"], ["contacts", (x) => (x.contacts || []).length, (x) => (x.contacts || []).length > 1 ? "num bad" : "num"],
    ["last seen", (x) => fmtTime(x.last_seen)]], "no key yet");
  table("flagged", (summary.flagged || {}).newest, [
    ["id", (x) => x.id, "num"], ["received", (x) => fmtTime(x.received)], ["network", (x) => who(x.contact), "wrap"], ["key", (x) => keyLink(x.key)],
    ["flow", (x) => flowText(x.flow), "mono"], ["flow start", (x) => fmtTime(x.flow && x.flow.stime / 1000) || String(x.flow && x.flow.stime)], ["time", (x) => x.time_flag, "bad"]],
    "no report with an implausible time");
  await newestReports(r, refreshing);
  const reasons = Object.entries(c).filter(([k]) => k.startsWith("invalid.")).map(([k, v]) => ({ reason: k.slice(8), count: v }));
  table("invalid-counts", reasons, [["reason", (x) => x.reason], ["count", (x) => fmtNum(x.count), "num"]], "nothing refused");
  table("invalid", invalid.invalid, [
    ["received", (x) => fmtTime(x.received)], ["input", (x) => x.input], ["peer", (x) => x.peer, "mono"],
    ["reason", (x) => x.reason, "bad"], ["bytes", (x) => x.size, "num"], ["start", (x) => (x.preview || "").slice(0, 60), "mono"]], "nothing refused");
}

// Reports: paged by id (`before`); on refresh, the first page asks only for what is newer than the
// newest id it holds (`after`).
const PAGE = 50;
async function reportsView(r, refreshing) {
  const q = reportParams({}, true);
  const st = cache.reports;
  const before = Number(readState().before || 0);
  if (refreshing && st && r.fixed) return;  // a range in the past: nothing new can fall in it
  if (refreshing && st && st.q === reportParams({}, false) && st.pages.length === 0 && st.rows.length) {
    const newest = st.rows[0].id;
    const got = await get("/api/reports?" + reportParams({ after: newest, limit: PAGE }, false));
    if (got.gap) { cache.reports = null; return reportsView(r, false); }
    st.rows = (got.reports || []).concat(st.rows).filter((x) => x.received >= r.since);
    st.fresh = (got.reports || []).length;
  } else if (!refreshing || !st) {
    const got = await get("/api/reports?" + q + "&limit=" + PAGE + (before ? "&before=" + before : ""));
    cache.reports = { q: reportParams({}, false), rows: got.reports || [], pages: before ? [before] : [], fresh: 0 };
  }
  const s = cache.reports;
  // The suspicious first (issue 16): the newest SUSPICIOUS reports with these filters, their reasons
  // shown; read again only when the list itself was (or new rows came).
  if (!refreshing || s.fresh) {
    if (state.class && state.class !== "SUSPICIOUS") cache.suspicious = null;
    else if (!before) cache.suspicious = (await get("/api/reports?" + reportParams({ class: "SUSPICIOUS", limit: PAGE }, true))).reports || [];
  }
  table("suspicious", before ? [] : cache.suspicious, REPORT_COLUMNS, before ? "(on the first page)" : cache.suspicious === null
    ? "(filtered to " + state.class + ")" : "no suspicious report in this range with these filters");
  const f = filterText();
  $("reports-what").textContent = "(received " + rangeText(r) + (f.length ? "; " + f.join(", ") : "") + ")";
  table("reports", s.rows, REPORT_COLUMNS, "no report in this range with these filters");
  const oldest = s.rows.length ? s.rows[s.rows.length - 1].id : 0;
  $("older").disabled = s.rows.length < PAGE;
  $("older").onclick = () => { cache.reports = null; go({ before: String(oldest) }); };
  $("newest").disabled = !before;
  $("newest").onclick = () => { cache.reports = null; go({ before: "" }); };
  $("page-note").textContent = s.rows.length ? "ids " + s.rows[0].id + " to " + oldest + (before ? " (older than " + before + ")" : " (newest first)") + (s.fresh ? "; " + s.fresh + " new on the last refresh" : "") : "";
}
function groupNetworks(rows) {
  const m = new Map();
  for (const x of rows) {
    const k = x.key + "\n" + (x.contact || {}).email + "\n" + (x.contact || {}).identity;
    if (!m.has(k)) m.set(k, { key: x.key, contact: x.contact || {}, reports: 0, packets: 0, exporters: new Set(), rows: [], first: x.received, last: x.received });
    const n = m.get(k);
    n.reports++; n.packets += packetsOf(x.flow); if (x.flow) n.exporters.add(x.flow.exporter); n.rows.push(x);
    n.first = Math.min(n.first, x.received); n.last = Math.max(n.last, x.received);
  }
  return [...m.values()].sort((a, b) => b.packets - a.packets);
}
// A drill-down's reports: read once, then on each refresh only those newer than the newest held
// (?after=), merged in; nothing new: nothing is drawn again. Returns null when nothing changed.
async function drillRows(name, extra, r, refreshing) {
  const q = reportParams(extra, false), st = cache[name];
  if (refreshing && st && st.q === q) {
    if (r.fixed || !st.rows.length) return null;
    const got = await get("/api/reports?" + reportParams(Object.assign({}, extra, { after: st.rows[0].id }), false));
    const fresh = got.reports || [];
    if (!fresh.length && !got.gap) return null;
    if (!got.gap) { st.rows = fresh.concat(st.rows).filter((x) => x.received >= r.since).slice(0, 1000); return st.rows; }
  }
  const got = await get("/api/reports?" + reportParams(extra, true));
  cache[name] = { q, rows: got.reports || [] };
  return cache[name].rows;
}
async function sourceView(r, refreshing) {
  const src = state.src;
  $("source-name").textContent = src + " (received " + rangeText(r) + ")";
  const rows = await drillRows("source", { saddr: src, key: null, class: null, reason: null, limit: 1000, raw: 1 }, r, refreshing);
  if (rows === null) return;
  const nets = groupNetworks(rows);
  tiles("source-tiles", [["reports", rows.length + (rows.length >= 1000 ? "+" : "")], ["packets", rows.reduce((a, x) => a + packetsOf(x.flow), 0)],
    ["reporting networks", nets.length], ["victims", new Set(rows.map((x) => x.flow && x.flow.daddr)).size],
    ["spoofing suspects", rows.filter((x) => x.spoof === "suspect").length, rows.some((x) => x.spoof === "suspect")]]);
  const cards = $("source-cards"); cards.replaceChildren();
  if (!nets.length) cards.appendChild(el("div", "no report of this source in this range", "empty"));
  for (const n of nets)
    cards.appendChild(contactCard(n, n.rows, r, "from " + src, [["reports", fmtNum(n.reports) + " (" + fmtNum(n.packets) + " packets)"],
      ["exporters", [...n.exporters].join(", ")], ["first / last", fmtTime(n.first) + " / " + fmtTime(n.last)]]));
  table("source-reports", rows, REPORT_COLUMNS, "no report of this source in this range");
}
async function keyView(r, refreshing) {
  const k = state.k;
  $("key-name").textContent = k;
  const rows = await drillRows("key", { key: k, saddr: null, daddr: null, class: null, reason: null, limit: 1000 }, r, refreshing);
  if (rows === null) return;
  const [keys, alerts] = await Promise.all([get("/api/keys?key=" + k + "&limit=1"), get("/api/alerts?key=" + k + "&limit=100")]);
  const info = (keys.keys || [])[0] || {};
  tiles("key-tiles", [["reports (all time)", info.reports || 0], ["reports (range)", rows.length + (rows.length >= 1000 ? "+" : "")],
    ["exporters", info.exporters || 0], ["prefixes", info.prefixes || 0], ["contacts", (info.contacts || []).length, (info.contacts || []).length > 1],
    ["alerts", (alerts.alerts || []).length, (alerts.alerts || []).length > 0], ["first seen", fmtTime(info.first_seen)], ["last seen", fmtTime(info.last_seen)]]);
  // The chart: every report of the key toward my prefixes in the range, from the roll-ups (sum_key),
  // not the newest rows listed below.
  const ks = await get("/api/summary?" + (r.all ? "" : "since=" + r.since + "&until=" + r.until + "&") + "series_key=" + k);
  const bucket = ks.bucket_s || 60, from = (ks.range && ks.range.since) || r.since, to = (ks.range && ks.range.until) || r.until;
  timeChart("chart-key", (ks.key_series || []).map((p) => ({ t: p.t, v: p.reports, note: fmtNum(p.packets) + " packets" })),
    { from, to, bucket, unit: "reports", label: "this key's reports toward my prefixes over time", xTitle: "flow start time (UTC)" });
  table("key-contacts", info.contacts, [["contact", (x) => who(x), "wrap"], ["first seen", (x) => fmtTime(x.first_seen)], ["last seen", (x) => fmtTime(x.last_seen)],
    ["reports", (x) => fmtNum(x.reports), "num"]], "no contact");
  table("key-alerts", alerts.alerts, [["when", (x) => fmtTime(x.created)], ["kind", (x) => x.kind, "bad"],
    ["what", (x) => x.kind === "contact_changed" ? who(x.detail.from) + " \u2192 " + who(x.detail.to)
      : who(x.detail) + " was seen under " + (x.detail.previous_keys || []).map(shortKey).join(", "), "wrap"]], "no alert for this key");
  table("key-reports", rows.slice(0, 200), REPORT_COLUMNS, "no report from this key in this range");
}
async function contactsView(r) {
  const summary = (await loadSummary(r, false)).summary;
  const victim = state.daddr || state.prefix;
  $("contacts-what").textContent = "(" + (r.all ? "all stored flows" : "flows starting " + rangeText(r)) + (victim ? "; toward " + victim : "") + ")";
  const cards = $("cards"); cards.replaceChildren();
  const nets = summary.reporters || [];
  if (!nets.length) { cards.appendChild(el("div", summary.note || "no network reported flows toward my prefixes in this range", "empty")); return; }
  // The evidence of each card: that network's signed reports toward me (or the victim), in the range.
  const evidence = await Promise.all(nets.slice(0, 20).map((n) => get("/api/reports?" + reportParams({ key: n.key, saddr: null, class: null, raw: 1, limit: 200,
    since: r.all ? null : Math.floor(r.since - 3600), until: null }, true))));
  nets.slice(0, 20).forEach((n, i) => {
    const rows = (evidence[i].reports || []).filter((x) => x.flow && (x.contact || {}).email === n.contact.email && (x.contact || {}).identity === n.contact.identity &&
      (victim ? true : me.prefixes.some((p) => inPrefix(x.flow.daddr, p))) && (r.all || (x.flow.stime / 1000 >= r.since - 1 && x.flow.stime / 1000 <= r.until + 1)));
    const card = contactCard(n, rows, r, "toward " + (victim || me.prefixes.join(", ")), [["reports (range)", fmtNum(n.reports) + " (" + fmtNum(n.packets) + " packets)"],
      ["exporters", fmtNum(n.exporters)], ["first / last", fmtTime(n.first) + " / " + fmtTime(n.last)]]);
    // This network's packets over time, from the roll-ups (every report in the range, not the evidence).
    const box = el("div", null, "chart"); box.id = "chart-net-" + i;
    card.insertBefore(box, card.querySelector(".note").previousSibling);
    cards.appendChild(card);
    seriesChart(box.id, n, summary, r, "this network's packets over time");
  });
}

// ---- controls ----
function toLocalInput(s) { return s ? new Date(Number(s) * 1000).toISOString().slice(0, 19) : ""; }
function fromLocalInput(v) { return v ? String(Math.floor(Date.parse(v + "Z") / 1000)) : ""; }
function syncControls() {
  $("range").value = state.range;
  $("custom-range").hidden = state.range !== "custom";
  const r = timeRange();
  $("since").value = toLocalInput(state.since || r.since); $("until").value = toLocalInput(state.until || r.until);
  $("f-prefix").value = state.prefix; $("f-daddr").value = state.daddr; $("f-saddr").value = state.saddr;
  $("f-key").value = state.key; $("f-class").value = state.class; $("f-reason").value = state.reason;
  for (const a of document.querySelectorAll("#tabs a")) {
    const v = a.dataset.view;
    a.classList.toggle("on", v === state.view);
    a.href = hashOf(Object.assign(readState(), { view: v, before: "" }));
  }
  $("tab-source").hidden = !state.src; $("tab-source").textContent = "Source " + state.src;
  $("tab-key").hidden = !state.k; $("tab-key").textContent = "Key " + shortKey(state.k);
  for (const v of ["overview", "reports", "contacts", "paths", "source", "key"]) $("view-" + v).hidden = v !== state.view;
}
$("range").onchange = () => { $("custom-range").hidden = $("range").value !== "custom"; if ($("range").value !== "custom") $("controls").requestSubmit(); };
$("controls").onsubmit = (e) => {
  e.preventDefault();
  const range = $("range").value;
  cache.reports = null;
  go({ range, since: range === "custom" ? fromLocalInput($("since").value) : "", until: range === "custom" ? fromLocalInput($("until").value) : "",
    prefix: $("f-prefix").value, daddr: $("f-daddr").value.trim(), saddr: $("f-saddr").value.trim(), key: $("f-key").value.trim().toLowerCase(),
    class: $("f-class").value, reason: $("f-reason").value.trim(), before: "" });
};
$("clear").onclick = () => { cache.reports = null; go({ prefix: "", daddr: "", saddr: "", key: "", class: "", reason: "", before: "" }); };

// Paths (issue 19, /api/paths): the coherent reports of one flow from several keys, lined up hop
// by hop (by next hop when the reports chain, else by time). Self-contained: one view, one table.
async function pathsView(r) {
  const got = await get("/api/paths" + (r.all ? "?" : rangeQuery(r) + "&") + "limit=100");
  $("paths-what").textContent = "(received " + rangeText(r) + "; flows in " + got.bucket_s + " s start-time buckets)";
  table("paths", got.paths || [], [
    ["flow", (p) => flowText(p.flow), "mono"],
    ["started", (p) => fmtTime(p.bucket_start / 1000)],
    ["networks", (p) => fmtNum(p.keys), "num"],
    ["hops", (p) => {
      const ol = el("ol", null, "hops");
      for (const h of p.hops) {
        const li = el("li", who(h.contact) + ", exporter " + ((h.flow || {}).exporter || "?") + (h.coherent ? "" : " (private draw)") + " ");
        li.appendChild(drill("key " + shortKey(h.key), { view: "key", k: h.key }, "mono"));
        ol.appendChild(li);
      }
      return ol;
    }],
    ["ordered by", (p) => p.order === "nexthop" ? "next hop" : "time"]],
  "no path in this range: a path needs coherent reports of one flow under two keys or more");
}

let busy = false;
async function render(refreshing) {
  if (busy) return;
  busy = true;
  state = readState();
  syncControls();
  const r = timeRange();
  try {
    if (!me.contact) {
      const [disc, stats] = await Promise.all([get("/.well-known/overflowd"), get("/api/summary?since=0&until=1")]);
      me = { contact: disc.contact || {}, prefixes: stats.my_prefixes || [] };
      $("identity").textContent = who(disc.contact);
      $("pubkey").textContent = disc.keys && disc.keys[0] ? "key " + disc.keys[0].key : "";
      const sel = $("f-prefix");
      for (const p of me.prefixes) { const o = el("option", p); o.value = p; sel.appendChild(o); }
      sel.value = state.prefix;
    }
    if (state.view === "overview") await overview(r, refreshing);
    else if (state.view === "reports") await reportsView(r, refreshing);
    else if (state.view === "contacts") await contactsView(r);
    else if (state.view === "paths") await pathsView(r);
    else if (state.view === "source" && state.src) await sourceView(r, refreshing);
    else if (state.view === "key" && state.k) await keyView(r, refreshing);
    $("error").hidden = true;
    busyTries = 0;
    document.body.dataset.rendered = state.view;
    document.body.dataset.scrollWidth = String(document.documentElement.scrollWidth);
    document.body.dataset.viewWidth = String(window.innerWidth);
    $("updated").textContent = "updated " + fmtTime(Date.now() / 1000);
  } catch (e) {
    $("error").hidden = false;
    if (e instanceof Busy) {
      // The receiver is busy (a query ran past its time limit): say so and try again after Retry-After.
      busyTries++;
      $("error").textContent = "busy, retrying in " + e.after + " s (" + e.message + ", try " + busyTries + ")";
      $("updated").textContent = "busy, retrying";
      clearTimeout(busyTimer);
      busyTimer = setTimeout(() => render(refreshing), e.after * 1000);
    } else {
      $("error").textContent = "could not load: " + e.message;
      $("updated").textContent = "could not load: " + e.message;
    }
  } finally {
    busy = false;
  }
}
let busyTries = 0, busyTimer = 0;
window.addEventListener("hashchange", () => render(false));
render(false);
// Refresh: the reports' first page and the drill-downs (source, key) ask only for newer ids; the
// overview asks the summary whether its version changed (?unless=); a fixed past range is not
// refetched (it does not change).
const every = Math.max(Number(readState().every) || 10, 1) * 1000;
setInterval(() => {
  if (document.hidden) return;
  const r = timeRange();
  if (r.fixed && state.view !== "reports") return;
  if (state.view === "contacts") return;
  render(true);
}, every);
