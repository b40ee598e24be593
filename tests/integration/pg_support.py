"""A PostgreSQL 15 cluster made by a test in a temporary folder (Debian's postgresql-15: initdb and
pg_ctl from /usr/lib/postgresql/15/bin), reached over a Unix socket in that folder only
(listen_addresses=''), stopped and removed by the test. initdb refuses to run as root: as root the
cluster belongs to the `postgres` user (runuser). When initdb cannot run, the test is skipped with
the reason.

OVERFLOWD_TEST_DB=postgres makes receive_support.Receiver put each receiver on a fresh database of
one cluster shared by the test run (started at the first use, stopped at exit)."""

import atexit
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

BIN = Path(os.environ.get("OVERFLOWD_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_owner(cmd):
    """The command, run as the cluster's owner when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + [str(c) for c in cmd]
    return [str(c) for c in cmd]


class Cluster:
    def __init__(self):
        initdb = BIN / "initdb"
        if not initdb.is_file():
            raise unittest.SkipTest(f"no {initdb}: PostgreSQL 15 is not installed (apt install postgresql-15)")
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise unittest.SkipTest("running as root and there is no `postgres` user to own the cluster")
        self.dir = Path(tempfile.mkdtemp(prefix="overflowd-pg-"))
        os.chmod(self.dir, 0o755)
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            try:
                os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            except OSError as e:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise unittest.SkipTest(f"cannot give the cluster's folder to the postgres user here: {e}")
        made = subprocess.run(_as_owner([initdb, "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
                                         "-E", "UTF8", "--locale", "C"]),
                              capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise unittest.SkipTest("initdb cannot run here: " + (made.stderr or made.stdout).strip()[-400:])
        self.names = itertools.count(1)
        self.by_directory = {}
        self.running = False
        self.start()

    def start(self):
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{self.dir}' -c fsync=off "
                "-c synchronous_commit=on -c max_connections=300 -c shared_buffers=32MB")
        subprocess.run(_as_owner([BIN / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.dir / "log", "-w",
                                  "-t", "60", "start"]), check=True, capture_output=True, timeout=90)
        self.running = True

    def stop(self, mode="fast"):
        if not self.running:
            return
        subprocess.run(_as_owner([BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"]),
                       capture_output=True, timeout=90)
        self.running = False

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database="postgres"):
        return f"postgresql:///{database}?host={self.dir}&user=postgres"

    def psql(self, sql, database="postgres"):
        """The rows of `sql` (psql's unaligned output), read by psql, not by overflowd."""
        out = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.dir), "-U", "postgres",
                              "-d", database, "-c", sql], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"psql failed: {out.stderr}")
        return [line.split("|") for line in out.stdout.splitlines() if line]

    def database_for(self, directory):
        """The database standing for `directory`'s receive.db: the same one each time (a restart)."""
        key = str(Path(directory).resolve())
        if key not in self.by_directory:
            self.by_directory[key] = self.new_database()
        return self.by_directory[key]

    def new_database(self):
        name = f"t{os.getpid()}_{next(self.names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Attached(Cluster):
    """A cluster a parent test process started (OVERFLOWD_TEST_PG_DIR): used, not owned."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.data = self.dir / "data"
        self.names = itertools.count(1)
        self.by_directory = {}
        self.running = True

    def close(self):
        pass


_shared = None


def shared():
    """One cluster for the whole test run (OVERFLOWD_TEST_DB=postgres), removed at exit; a child
    process (a test run in another namespace) uses its parent's."""
    global _shared
    if _shared is None:
        inherited = os.environ.get("OVERFLOWD_TEST_PG_DIR")
        if inherited:
            _shared = Attached(inherited)
        else:
            _shared = Cluster()
            atexit.register(_shared.close)
            os.environ["OVERFLOWD_TEST_PG_DIR"] = str(_shared.dir)
    return _shared


def database_of(url):
    """The database name of a postgresql:///NAME?host=... URL."""
    return url.split("///", 1)[1].split("?", 1)[0]


def wanted():
    return os.environ.get("OVERFLOWD_TEST_DB", "") == "postgres"


def wait_for(condition, timeout=30.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()
