"""The sampler seen from outside: over many --seed values, the number of reports averages
sum(min(1, rate x pcount x sampling_interval)) over the capture's records (computed here from the
dpkt decode), within 4 standard errors, overall and per band of probability; flows whose
probability is 1 are reported in every run; a seed repeats its run exactly."""

import collections
import json
import math
import unittest
from concurrent.futures import ThreadPoolExecutor

import overflowd_testlib as lib

SEEDS = range(1, 41)
Z = 4.0


def probability(rate, r):
    return min(1.0, rate * r["pcount"] * r["sampling_interval"])


class _SamplerStatistics:
    rate = None

    @classmethod
    def sample_runs(cls, capture, port, rate):
        cls.rate = rate
        cls.ref = lib.CaptureV5(capture, port=port)
        cls.records = cls.ref.reportable()
        cls.p_of = {}
        for r in cls.records:
            cls.p_of[lib.canonical(r)] = probability(rate, r)

        def one(seed):
            proc = lib.run(["-f", capture, "-r", repr(rate), "--seed", seed, "-q"], timeout=120)
            if proc.returncode != 0:
                raise AssertionError(f"seed {seed}: exit {proc.returncode}: {proc.stderr}")
            return [lib.canonical(json.loads(l)["flowdata"]["data"]) for l in lib.report_lines(proc.stdout)]

        with ThreadPoolExecutor(max_workers=2) as pool:
            cls.runs = list(pool.map(one, SEEDS))

    def assert_mean_within(self, counts, ps, what):
        expected = sum(ps)
        variance = sum(p * (1 - p) for p in ps)
        mean = sum(counts) / len(counts)
        se = math.sqrt(variance / len(counts))
        self.assertLessEqual(abs(mean - expected), Z * se + 1e-9,
                             f"{what}: mean {mean:.2f} over {len(counts)} seeds, expected {expected:.2f} "
                             f"(standard error {se:.2f})")

    def test_every_report_is_a_record_of_the_capture(self):
        for run in self.runs:
            unknown = [d for d in run if d not in self.p_of]
            self.assertEqual(unknown[:3], [])

    def test_mean_report_count_matches_the_sum_of_probabilities(self):
        self.assert_mean_within([len(r) for r in self.runs], list(self.p_of_records()), "reports per run")

    def test_each_band_of_probability_is_sampled_at_its_rate(self):
        bands = [(0, 0.002), (0.002, 0.01), (0.01, 0.1), (0.1, 1.0)]
        ps = list(self.p_of_records())
        for lo, hi in bands:
            in_band = [p for p in ps if lo < p < hi]
            if len(in_band) < 5:
                continue
            with self.subTest(band=(lo, hi)):
                counts = [sum(1 for d in run if lo < self.p_of[d] < hi) for run in self.runs]
                self.assert_mean_within(counts, in_band, f"band ({lo}, {hi}), {len(in_band)} records")

    def test_certain_flows_are_in_every_run(self):
        certain = collections.Counter(lib.canonical(r) for r in self.records if probability(self.rate, r) >= 1)
        self.assertGreater(sum(certain.values()), 0, "the capture has flows with rate x pcount >= 1")
        for seed, run in zip(SEEDS, self.runs):
            missing = certain - collections.Counter(run)
            self.assertEqual(sum(missing.values()), 0, f"seed {seed} left out {list(missing)[:2]}")

    def test_seeds_give_different_samples(self):
        distinct = {tuple(sorted(run)) for run in self.runs}
        self.assertGreater(len(distinct), len(self.runs) // 2)

    def p_of_records(self):
        return (probability(self.rate, r) for r in self.records)


class RealCapture(_SamplerStatistics, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.capture = lib.require_netflow_4m()
        cls.sample_runs(cls.capture, lib.NETFLOW_4M_PORT, 1e-3)

    def test_a_seed_repeats_its_run(self):
        again = lib.run(["-f", self.capture, "-r", "0.001", "--seed", "1", "-q"])
        data = [lib.canonical(json.loads(l)["flowdata"]["data"]) for l in lib.report_lines(again.stdout)]
        self.assertEqual(data, self.runs[0])

    def test_unseeded_run_is_within_five_standard_deviations(self):
        proc = lib.run(["-f", self.capture, "-r", "0.001", "-q"])
        ps = list(self.p_of_records())
        sd = math.sqrt(sum(p * (1 - p) for p in ps))
        self.assertLessEqual(abs(len(lib.report_lines(proc.stdout)) - sum(ps)), 5 * sd)


class SynthCaptureWithSamplingInterval(_SamplerStatistics, unittest.TestCase):
    """The declared 1:N packet sampling multiplies the probability (runs without ../shared)."""

    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        d = cls._tmp.__enter__()
        capture = lib.make_synth(d, "--background-flows", "2000", "--flood-flows", "1000", "--flood-packets", "300",
                                 "--sampling-interval", "10")
        cls.sample_runs(capture, lib.SYNTH_PORT, 1e-4)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def test_interval_is_declared(self):
        self.assertEqual({r["sampling_interval"] for r in self.records}, {10})


if __name__ == "__main__":
    lib.main()
