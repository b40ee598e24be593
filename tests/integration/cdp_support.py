"""One headless Chromium for a whole test, driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages ended by NUL on fds 3 and 4, so no websocket library is
needed). A test loads a page, waits on a condition in the page (a JavaScript expression polled
until it is truthy), and reads the DOM, as often as it likes, in one browser: no Chromium start per
check and no virtual-time budget that a loaded machine can run out of. Only loopback pages are
loaded (the receiver under test)."""

import fcntl
import json
import os
import subprocess
import threading
import time

from test_receive_page_views import CHROMIUM


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self, profile, width=1400, height=1600):
        # Chromium reads commands on fd 3 and writes answers on fd 4: both ends are moved above the
        # low numbers first, so that placing one cannot close the other.
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_r, from_w)]
        for fd in (to_r, from_w):
            os.close(fd)
        child_in, child_out = high

        def place():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               "--remote-debugging-pipe", f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=place)
        os.close(child_in)
        os.close(child_out)
        self.out = os.fdopen(to_w, "wb", buffering=0)
        self.inp = os.fdopen(from_r, "rb", buffering=0)
        self.answers = {}
        self.cond = threading.Condition()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        try:
            targets = self.call("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
            self.call("Page.enable", session=True)
            self.call("Runtime.enable", session=True)
        except BaseException:
            self.close()
            raise

    def _read(self):
        buf = b""
        while True:
            chunk = self.inp.read(65536)
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self.cond:
                        self.answers[msg["id"]] = msg
                        self.cond.notify_all()
        with self.cond:
            self.answers[None] = {"error": {"message": "chromium closed its pipe"}}
            self.cond.notify_all()

    def call(self, method, session=False, timeout=60, **params):
        with self.cond:
            self.next_id += 1
            ident = self.next_id
        msg = {"id": ident, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cond:
            while ident not in self.answers and None not in self.answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"{method}: no answer in {timeout} s")
                self.cond.wait(left)
            answer = self.answers.pop(ident, None) or self.answers[None]
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer["result"]

    def eval(self, expression):
        """The value of a JavaScript expression in the page (JSON-able), awaited if a promise."""
        got = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in got:
            raise BrowserError(f"{expression}: {got['exceptionDetails'].get('text')} "
                               f"{got['exceptionDetails'].get('exception', {}).get('description', '')}")
        return got["result"].get("value")

    def load(self, url):
        """A fresh document at `url` (through about:blank, so a new #fragment is a new page too)."""
        self.call("Page.navigate", session=True, url="about:blank")
        self.wait("location.href === 'about:blank' && document.readyState === 'complete'", what="about:blank")
        self.call("Page.navigate", session=True, url=url)
        self.wait("location.href !== 'about:blank' && document.readyState === 'complete'", what=url)

    def wait(self, expression, timeout=60, what=None):
        """Polls `expression` until it is truthy; returns its value. Fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"waited {timeout} s for {what or expression}; the page says: "
                                   + str(self.eval("(document.getElementById('error') || {}).textContent || ''")))
            time.sleep(0.05)

    def html(self):
        return self.eval("document.documentElement.outerHTML")

    def close(self):
        try:
            self.out.close()
        except OSError:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
