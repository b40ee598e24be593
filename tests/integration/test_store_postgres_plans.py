"""The store's plans and schema step on a real PostgreSQL 15 (tests/store/pg_plan_test.cpp): a
cluster made in a temporary folder (pg_support.py, its Unix socket only), the GoogleTest binary run
with OVERFLOWD_TEST_PG_URL pointing at it. Every one of its tests must run and pass: one skipped
(no server reached) fails here."""

import os
import re
import subprocess
import unittest

import overflowd_testlib as lib
import pg_support


class StorePostgresPlans(unittest.TestCase):
    def test_plans_and_migration_on_postgresql(self):
        binary = lib.build_dir() / "tests" / "pg_plan_test"
        if not binary.is_file():
            raise unittest.SkipTest(f"no {binary}: build it first (ninja -C build pg_plan_test)")
        with pg_support.Cluster() as cluster:
            env = dict(os.environ, OVERFLOWD_TEST_PG_URL=cluster.url())
            out = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=300)
            text = out.stdout + out.stderr
            self.assertEqual(out.returncode, 0, text[-6000:])
            self.assertNotIn("SKIPPED", text, text[-3000:])
            passed = re.search(r"\[  PASSED  \] (\d+) test", text)
            self.assertTrue(passed and int(passed.group(1)) >= 3, text[-3000:])


if __name__ == "__main__":
    lib.main()
