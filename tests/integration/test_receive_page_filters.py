"""The receiver's page, what issue 12 left (and issue 16's page side), against a receiver fed with
reports signed by PyNaCl; the expected figures are counted here from what the test sent:

- the filters (my prefix or victim, source, key, class, reason) narrow the summary, so every view
  of the overview (tiles, charts, reporters, top sources) and not only the reports list;
- each reporting network's series comes from the roll-ups (every report in the range), not from
  the evidence rows (at most 200);
- the overview's refresh asks the summary whether its version changed (?unless=) and reads nothing
  else when not; the drill-downs (source, key) refresh by ?after=;
- a query past the read time limit (--api-time-limit) is a 503 with Retry-After, and the page
  says "busy, retrying" and tries again;
- /api/reports?reason= (a reason's class or rule name), and the reports view lists SUSPICIOUS
  reports first, with their reasons;
- --max-body-bytes sets the POST body cap (and the published max_body_bytes).

The Chromium parts are skipped on a sanitizer build (the binary links libasan): the page adds no
sanitizer value over the API calls this file makes anyway, and Chromium under the sanitizer stage's
load is slow. Without chromium they skip too. One Chromium per test (cdp_support.Browser) loads each
view and waits on a condition in the page (rendered, the refreshes seen), not on a virtual-time
budget. Packets go only to loopback."""

import base64
import html
import re
import shutil
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import overflowd_testlib as lib
import pg_support
import receive_support as rs
from cdp_support import Browser
from test_receive_page_views import CHROMIUM, part

SYN = [{"class": "syn-flood", "rule": "syn-only"}]


def signed(key, identity, data, reasons=None):
    """A report signed with PyNaCl (full wire form); SUSPICIOUS with `reasons` as the policy writes them."""
    meta = {"class": "SUSPICIOUS" if reasons else "INFORMATIONAL", "info": "FLOWSEEN", "time": round(time.time(), 6)}
    if reasons:
        meta["reasons"] = reasons
    report = {"contact": {"email": "noc@" + identity.split()[0].lower() + ".example", "identity": identity},
              "flowdata": {"data": data, "sourcetype": {"type": "Netflow", "version": 5}}, "metadata": meta}
    message = lib.canonical(report).encode()
    sig = key.sign(message)
    compact = lib.canonical({"key": key.verify_key.encode().hex(), "signature": base64.b64encode(bytes(sig)).decode()})
    return message[:-1].decode() + ',"signature":' + compact + "}"


def post_all(test, rx, lines, per_post=40):
    for i in range(0, len(lines), per_post):
        status, answer = rx.post("\n".join(lines[i:i + per_post]))
        test.assertEqual(status, 200, answer)
    if isinstance(rx.db, str):
        # PostgreSQL: read by psql (a 1 ms limit covers the whole request there too, and even
        # /api/stats' few statements, each a round trip to the server, can pass it).
        rows = pg_support.shared().psql("SELECT COUNT(*) FROM reports", database=pg_support.database_of(rx.db))
        test.assertEqual(int(rows[0][0]), len(lines))
    else:
        test.assertEqual(rx.get("/api/stats")["rows"]["reports"], len(lines))


def sanitized():
    """Whether the binary under test is a sanitizer build (make test-asan)."""
    out = subprocess.run(["ldd", str(lib.binary_path())], capture_output=True, text=True)
    return "libasan" in out.stdout or "libtsan" in out.stdout


def fetch_log(page):
    return html.unescape(re.search(r'<pre id="fetch-log"[^>]*>([^<]*)</pre>', page).group(1)).splitlines()


def tile(page, label):
    """The number on an overview tile."""
    m = re.search(r'<div class="tile"><b[^>]*>([\d,]+)</b><span>' + re.escape(label) + "</span>", page)
    return int(m.group(1).replace(",", "")) if m else None


class PageFilters(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls.page = CHROMIUM is not None and not sanitized()

    def need_page(self):
        if not self.page:
            self.skipTest("chromium is absent, or a sanitizer build (the page adds no sanitizer value)")

    def show(self, browser, rx, fragment, until=None):
        """The page at `fragment`, loaded afresh, once `until` holds (default: the view rendered and
        no render running); the DOM as HTML."""
        view = dict(urllib.parse.parse_qsl(fragment[1:])).get("view", "overview")
        browser.load(rx.url("/") + fragment)
        browser.wait(until or f"!busy && document.body.dataset.rendered === {view!r}", what=f"{fragment} rendered")
        return browser.html()

    def test_filters_series_refresh_and_suspicious_first(self):
        self.longMessage = False
        with lib.temp_dir() as d:
            now_ms = int(time.time()) * 1000
            rx = rs.Receiver(d, "--my-prefix", "127.2.0.0/16")
            try:
                a, b = rs.signing_key(81), rs.signing_key(82)
                kb = b.verify_key.encode().hex()
                lines = []
                # Alpha: 250 flows toward 127.2.0.1 from ten sources over the last 40 minutes (more
                # than the 200 evidence rows a card reads).
                for i in range(250):
                    lines.append(signed(a, "Alpha Net", rs.flow_data(
                        saddr=f"127.5.0.{1 + i % 10}", daddr="127.2.0.1", sport=1000 + i,
                        stime=now_ms - 2_400_000 + i * 9_000, etime=now_ms - 2_399_000 + i * 9_000, pcount=10)))
                # Bravo: 12 flows toward 127.2.0.2 from 127.6.0.1, 4 of them SUSPICIOUS (syn-flood, rule syn-only).
                for i in range(12):
                    lines.append(signed(b, "Bravo Net", rs.flow_data(
                        saddr="127.6.0.1", daddr="127.2.0.2", sport=2000 + i, stime=now_ms - 300_000 + i * 1000,
                        etime=now_ms - 299_000 + i * 1000, pcount=7), reasons=SYN if i < 4 else None))
                post_all(self, rx, lines)
                t = now_ms // 1000
                rng = f"since={t - 3600}&until={t + 60}"

                # The API: the summary narrowed by the victim, the class, the reason, the key.
                def summary(q):
                    out = rx.get(f"/api/summary?{rng}&{q}")
                    self.assertNotIn("error", out, out)
                    return out
                whole = summary("top=20")
                self.assertEqual(whole["totals"]["reports"], 262)
                v = summary("daddr=127.2.0.2")
                self.assertEqual((v["totals"]["reports"], v["totals"]["packets"]), (12, 12 * 7))
                self.assertEqual([r["contact"]["identity"] for r in v["reporters"]], ["Bravo Net"])
                self.assertEqual(sum(p["reports"] for p in v["reporters"][0]["series"]), 12)  # narrowed too
                self.assertEqual(v["top_sources"][0]["keys"], 1)
                self.assertEqual(v["top_sources"][0]["seen_by"][0]["reports"], 12)
                self.assertEqual([s["saddr"] for s in v["top_sources"]], ["127.6.0.1"])
                self.assertEqual(sum(p["reports"] for p in v["series"]), 12)
                self.assertEqual(summary("class=SUSPICIOUS")["totals"]["reports"], 4)
                self.assertEqual(summary("reason=syn-flood")["totals"]["reports"], 4)
                self.assertEqual(summary("reason=syn-only")["totals"]["reports"], 4)
                self.assertEqual(summary(f"key={kb}")["totals"]["reports"], 12)
                self.assertEqual(summary("saddr=127.5.0.3")["totals"]["reports"], 25)
                # /api/reports?reason=: by a reason's class or its rule's name; a bad one is a 400.
                for reason in ("syn-flood", "syn-only"):
                    got = rx.get(f"/api/reports?reason={reason}")["reports"]
                    self.assertEqual(len(got), 4, reason)
                    self.assertTrue(all(r["class"] == "SUSPICIOUS" and r["reasons"] == "syn-flood" for r in got))
                self.assertEqual(rx.get("/api/reports?reason=volumetric")["reports"], [])
                self.assertEqual(rx.request("GET", "/api/reports?reason=a%25b")[0], 400)
                # Each reporting network's series: every one of its reports in the range (roll-ups).
                for r in whole["reporters"]:
                    self.assertEqual(sum(p["reports"] for p in r["series"]), r["reports"], r["contact"])
                    self.assertEqual(sum(p["packets"] for p in r["series"]), r["packets"], r["contact"])
                # The version: unchanged while nothing arrives.
                again = rx.get(f"/api/summary?{rng}&top=20&unless={urllib.parse.quote(whole['version'])}")
                self.assertEqual(again, {"unchanged": True, "version": whole["version"]})

                self.need_page()
                with Browser(d / "profile") as b:
                    self.check_page(b, rx, kb)
            finally:
                rx.stop()

    def check_page(self, b, rx, kb):
        """The page's side of test_filters_series_refresh_and_suspicious_first, in one browser."""
        # The overview narrowed to the victim: tiles, reporters and sources are Bravo's only.
        page = self.show(b, rx, "#view=overview&range=1h&daddr=127.2.0.2")
        self.assertEqual(tile(page, "reports toward me (range)"), 12)
        self.assertEqual(tile(page, "packets toward me (range)"), 84)
        self.assertIn("Bravo Net", part(page, "reporters"))
        self.assertNotIn("Alpha Net", part(page, "reporters"))
        self.assertIn("127.6.0.1", part(page, "sources"))
        self.assertNotIn("127.5.0.", part(page, "sources"))
        self.assertTrue(any(l.startswith("/api/summary?") and "daddr=127.2.0.2" in l for l in fetch_log(page)))
        # By class and by reason.
        page = self.show(b, rx, "#view=overview&range=1h&class=SUSPICIOUS")
        self.assertEqual(tile(page, "reports toward me (range)"), 4)
        page = self.show(b, rx, "#view=overview&range=1h&reason=syn-only")
        self.assertEqual(tile(page, "reports toward me (range)"), 4)
        self.assertNotIn("Alpha Net", part(page, "reporters"))

        # Whom to call: Alpha's chart counts its 250 reports (the roll-ups), not its newest 200.
        page = self.show(b, rx, "#view=contacts&range=1h")
        charts = re.findall(r'<div class="chart" id="chart-net-(\d+)">(.*?)</svg>', page, re.S)
        self.assertEqual(len(charts), 2)
        per_chart = sorted(sum(int(n.replace(",", "")) for n in re.findall(r"\(([\d,]+) reports\)</title>", svg))
                           for _, svg in charts)
        self.assertEqual(per_chart, [12, 250])
        # The overview has a chart per reporting network too.
        page = self.show(b, rx, "#view=overview&range=1h")
        self.assertEqual(part(page, "network-series").count("a reporting network's packets over time"), 2)

        # Refresh every second: the summary is read once, then asked with its version (?unless=);
        # the suspects, alerts and keys are read again only when an answer changed. Nothing arrives,
        # so an answer changes only when the range's minute periods move on (a relative range ends
        # now; the version holds its periods): once per distinct window among the summary's reads.
        # The log is read between renders, after at least two refreshes.
        two_refreshes = ("!busy && document.body.dataset.rendered === 'overview' && document.getElementById('fetch-log')"
                         ".textContent.split('\\n').filter((l) => l.startsWith('/api/summary?') && l.includes('unless=')).length >= 2")
        log = fetch_log(self.show(b, rx, "#view=overview&range=1h&every=1", until=two_refreshes))
        summaries = [l for l in log if l.startswith("/api/summary?") and "since=0&until=1" not in l]
        self.assertEqual(len([l for l in summaries if "unless=" not in l]), 1, log)
        self.assertGreaterEqual(len([l for l in summaries if "unless=" in l]), 2, log)
        windows = {int(dict(urllib.parse.parse_qsl(l.split("?", 1)[1]))["until"]) // 60 for l in summaries}
        for once in ("/api/spoofing", "/api/alerts", "/api/keys"):
            self.assertEqual(len([l for l in log if l.startswith(once)]), len(windows), (once, log))
        # The drill-downs refresh by ?after= (the newest id they hold).
        newest = rx.get("/api/reports?limit=1")["reports"][0]["id"]
        for frag in ("#view=source&src=127.6.0.1&range=1h&every=1", f"#view=key&k={kb}&range=1h&every=1"):
            view = dict(urllib.parse.parse_qsl(frag[1:]))["view"]
            after = ("!busy && document.body.dataset.rendered === '" + view + "' && document.getElementById('fetch-log')"
                     ".textContent.split('\\n').some((l) => l.startsWith('/api/reports?') && l.includes('after='))")
            log = fetch_log(self.show(b, rx, frag, until=after))
            reads = [l for l in log if l.startswith("/api/reports?")]
            self.assertEqual(len([l for l in reads if "after=" not in l]), 1, (frag, log))
            self.assertGreaterEqual(len([l for l in reads if dict(urllib.parse.parse_qsl(l.split("?", 1)[1])).get("after") == str(newest)]), 1, (frag, log))

        # The reports view: the SUSPICIOUS first, with their reasons, above every report.
        page = self.show(b, rx, "#view=reports&range=1h")
        sus = page[page.index('id="suspicious"'):page.index('id="reports"')]
        self.assertEqual(sus.count('<td class="bad">suspicious</td>'), 4, sus[:2000])
        self.assertEqual(sus.count("syn-flood"), 4)
        self.assertNotIn("informational", sus)
        self.assertLess(page.index('id="suspicious"'), page.index('id="reports"'))
        first_sus = page.find('<td class="bad">suspicious</td>')
        first_info = page.find("<td>informational</td>")
        self.assertTrue(0 < first_sus < first_info, "the suspicious are listed first")
        page = self.show(b, rx, "#view=reports&range=1h&reason=syn-only")
        self.assertEqual(len(re.findall(r'<td class="num">(\d+)</td><td>\d{4}-', part(page, "reports"))), 4)

    def test_the_key_views_chart_counts_every_report_of_the_key_from_the_roll_ups(self):
        """The key view's chart was drawn from the key's newest 1,000 reports; it is the key's
        series from the roll-ups (sum_key): 1,100 reports toward my prefix all count."""
        with lib.temp_dir() as d:
            now_ms = int(time.time()) * 1000
            rx = rs.Receiver(d, "--my-prefix", "127.2.0.0/16")
            try:
                a, b = rs.signing_key(91), rs.signing_key(92)
                ka = a.verify_key.encode().hex()
                lines = [signed(a, "Alpha Net" if i % 3 else "Alpha Other", rs.flow_data(
                    saddr=f"127.5.0.{1 + i % 10}", daddr="127.2.0.1", sport=1000 + i % 50000,
                    stime=now_ms - 2_400_000 + i * 2_000, etime=now_ms - 2_399_000 + i * 2_000, pcount=3))
                    for i in range(1100)]
                lines += [signed(b, "Bravo Net", rs.flow_data(saddr="127.6.0.1", daddr="127.2.0.2", sport=2000 + i,
                                                              stime=now_ms - 300_000, etime=now_ms - 299_000, pcount=7))
                          for i in range(5)]
                post_all(self, rx, lines)
                t = now_ms // 1000
                got = rx.get(f"/api/summary?since={t - 3600}&until={t + 60}&series_key={ka}")
                self.assertNotIn("error", got, got)
                self.assertEqual(sum(p["reports"] for p in got["key_series"]), 1100)
                self.assertEqual(sum(p["packets"] for p in got["key_series"]), 3300)
                self.assertEqual((got["reporters"], got["top_sources"]), ([], []))  # the key's series alone
                self.assertEqual(rx.request("GET", "/api/summary?series_key=zz")[0], 400)

                self.need_page()
                with Browser(d / "profile") as browser:
                    page = self.show(browser, rx, f"#view=key&k={ka}&range=1h")
                chart = re.search(r'<div class="chart" id="chart-key">(.*?)</svg>', page, re.S).group(1)
                self.assertEqual(sum(int(n.replace(",", "")) for n in re.findall(r": ([\d,]+) reports", chart)), 1100)
                self.assertTrue(any(l.startswith("/api/summary?") and "series_key=" + ka in l for l in fetch_log(page)))
            finally:
                rx.stop()

    def test_a_query_past_the_time_limit_is_a_503_and_the_page_retries(self):
        with lib.temp_dir() as d:
            now_ms = int(time.time()) * 1000
            rx = rs.Receiver(d, "--my-prefix", "127.2.0.0/16", "--api-time-limit", "1")
            try:
                key = rs.signing_key(83)
                post_all(self, rx, [signed(key, "Alpha Net", rs.flow_data(
                    saddr=f"127.5.{i % 7}.{1 + i % 50}", daddr=f"127.2.0.{1 + i % 9}", sport=1000 + i,
                    stime=now_ms - 600_000 + i * 500, etime=now_ms - 599_000 + i * 500)) for i in range(600)])
                t = now_ms // 1000
                # Narrowed to part of my prefix, the summary reads the reports themselves: far more
                # than 1 ms of work (the whole prefix would be answered from the roll-ups, which a
                # warm cache can do within 1 ms).
                status, body = rx.request("GET", f"/api/summary?since={t - 3600}&until={t + 60}&daddr=127.2.0.0/17")
                self.assertEqual(status, 503, body)
                self.assertTrue(body["timed_out"])
                self.assertIn("took longer than 1 ms", body["error"])
                # The same query again, for the 503's headers: a warm cache may answer one within
                # 1 ms, so a few tries; every 503 must carry Retry-After.
                retry_after = None
                for _ in range(20):
                    req = urllib.request.Request(rx.url(f"/api/summary?since={t - 3600}&until={t + 60}&daddr=127.2.0.0/17"))
                    try:
                        urllib.request.urlopen(req, timeout=30)
                    except urllib.error.HTTPError as e:
                        self.assertEqual(e.code, 503)
                        retry_after = e.headers.get("Retry-After")
                        break
                self.assertEqual(retry_after, "2", "no 503 in 20 tries, or one without Retry-After")
                self.need_page()
                # The page says so and tries again after Retry-After (2 s): waited for until it did.
                # On PostgreSQL 1 ms covers each request's round trips to the server, so the page's
                # first requests (before the narrowed summary) are the ones answered 503 (below).
                asked = ("(l) => l.startsWith('/api/') && lines.filter((m) => m === l).length >= 2"
                         if isinstance(rx.db, str) else "(l) => l.startsWith('/api/summary?') && l.includes('daddr=')")
                retried = ("!busy && document.getElementById('updated').textContent === 'busy, retrying' && "
                           "((lines) => lines.filter(" + asked + ").length >= 2)"
                           "(document.getElementById('fetch-log').textContent.split('\\n'))")
                with Browser(d / "profile") as browser:
                    page = self.show(browser, rx, "#view=overview&range=1h&daddr=127.2.0.0/17", until=retried)
                self.assertIn("busy, retrying", page)
                self.assertNotIn('data-rendered="overview"', page)
                log = fetch_log(page)
                tries = [l for l in log if l.startswith("/api/summary?") and "daddr=" in l]
                if isinstance(rx.db, str):  # any request asked again (above)
                    tries = [l for l in log if l.startswith("/api/") and log.count(l) >= 2]
                self.assertGreaterEqual(len(tries), 2, ("the page tries again after Retry-After", log))
            finally:
                rx.stop()

    def test_the_body_cap_is_a_setting(self):
        with lib.temp_dir() as d:
            key = rs.signing_key(84)
            lines = [signed(key, "Alpha Net", rs.flow_data(saddr="127.5.0.1", daddr="127.2.0.1", sport=1000 + i))
                     for i in range(120)]
            body = "\n".join(lines)
            self.assertGreater(len(body), 100_000)
            self.assertLess(len(body), 200_000)
            for cap, expect in ((None, 413), (200_000, 200)):
                rx = rs.Receiver(d, *(["--max-body-bytes", str(cap)] if cap else []), db=d / f"rx-{cap}.db")
                try:
                    self.assertEqual(rx.get("/.well-known/overflowd")["accepts"]["max_body_bytes"], cap or 65536)
                    status, answer = rx.post(body)
                    self.assertEqual(status, expect, answer)
                    if cap:
                        self.assertEqual(answer["stored"], 120)
                        self.assertEqual(rx.post(body + "\n" + " " * (cap - len(body)))[0], 413, "over the cap")
                finally:
                    rx.stop()


if __name__ == "__main__":
    lib.main()
