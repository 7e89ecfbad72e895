"""Regression tests of bench/repro/report.py: the statistics, the dev-set LR choice and the report's verdicts.

Run: python3 -m unittest bench/repro/test_report.py  (JUnit runs it too: cola.repro.ReportScriptTest)
The study's conclusions rest on these few functions, so they are checked against values computed independently
(t-distribution tails from tables / scipy) and on synthetic run folders whose answer is known.
"""
import json
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402


def write_run(folder, method, seed_rows, host=None):
    """A finished run folder: seed_rows = {seed: ([(dev_acc, dev_loss) per epoch], test_acc)}."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"method": method}, f)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for seed, (epochs, test_acc) in seed_rows.items():
            for e, (acc, loss) in enumerate(epochs, 1):
                f.write(json.dumps({"method": method, "seed": seed, "epoch": e, "train_loss": 0.5,
                                    "dev_loss": loss, "dev_accuracy": acc}) + "\n")
            f.write(json.dumps({"method": method, "seed": seed, "test_loss": 0.4, "test_accuracy": test_acc,
                                "test_macro_f1": test_acc, "seconds": 10.0, "flops": 1e12,
                                "effective_rank_delta_w": 8.0}) + "\n")
    open(os.path.join(folder, "summary.txt"), "w").write("done\n")
    if host:
        open(os.path.join(folder, "host.txt"), "w").write(host + "\n")


def write_report(tmp, runs):
    """report.py write over the run folders in runs; returns the Markdown (figures go to tmp)."""
    out = os.path.join(tmp, "REPORT.md")
    args = type("A", (), dict(runs=runs, out=out, svg_prefix=os.path.join(tmp, "fig-"), budget="reduced",
                              quick=False, command="reproduce.sh", notes=None))
    report.write(args)
    with open(out) as f:
        return f.read()


class Statistics(unittest.TestCase):
    def test_two_sided_t_p_values_match_tables(self):
        # scipy.stats.t.sf(|t|, df) * 2
        self.assertAlmostEqual(report.t_two_sided_p(2.0, 4), 0.116117, places=5)
        self.assertAlmostEqual(report.t_two_sided_p(2.776445, 4), 0.05, places=5)
        self.assertAlmostEqual(report.t_two_sided_p(-4.302653, 2), 0.05, places=5)
        self.assertAlmostEqual(report.t_two_sided_p(1.0, 10), 0.340893, places=5)
        self.assertAlmostEqual(report.t_two_sided_p(0.0, 3), 1.0, places=12)

    def test_paired_t_uses_common_seeds_only(self):
        a = {1: 0.60, 2: 0.62, 3: 0.61, 9: 0.99}
        b = {1: 0.58, 2: 0.61, 3: 0.57}
        n, d, t, p = report.paired_t(a, b)
        diffs = [0.02, 0.01, 0.04]
        m = sum(diffs) / 3
        sd = math.sqrt(sum((x - m) ** 2 for x in diffs) / 2)
        self.assertEqual(n, 3)
        self.assertAlmostEqual(d, m, places=12)
        self.assertAlmostEqual(t, m / (sd / math.sqrt(3)), places=9)
        self.assertAlmostEqual(p, report.t_two_sided_p(t, 2), places=12)
        self.assertIsNone(report.paired_t({1: 0.5}, {1: 0.4}))

    def test_identical_differences_give_an_exact_answer_not_a_division_by_zero(self):
        self.assertEqual(report.paired_t({1: 0.6, 2: 0.7}, {1: 0.5, 2: 0.6})[2:], (float("inf"), 0.0))
        self.assertEqual(report.paired_t({1: 0.6, 2: 0.7}, {1: 0.6, 2: 0.7})[2:], (0.0, 1.0))


class LrSelection(unittest.TestCase):
    def test_best_last_epoch_dev_accuracy_then_lower_loss_then_larger_lr(self):
        with tempfile.TemporaryDirectory() as tmp:
            v = os.path.join(tmp, "lora")
            # 1e-3 has the best dev accuracy at epoch 1 but not at the last epoch: the last epoch decides
            write_run(os.path.join(v, "lr-1e-3", "seed-1"), "LoRA", {1: ([(0.90, 0.1), (0.70, 0.5)], 0.7)})
            write_run(os.path.join(v, "lr-5e-4", "seed-1"), "LoRA", {1: ([(0.60, 0.6), (0.80, 0.40)], 0.8)})
            write_run(os.path.join(v, "lr-1e-4", "seed-1"), "LoRA", {1: ([(0.60, 0.6), (0.80, 0.30)], 0.8)})
            self.assertEqual(report.select(v), "1e-4")  # tie on accuracy: lower dev loss
            write_run(os.path.join(v, "lr-8e-4", "seed-1"), "LoRA", {1: ([(0.60, 0.6), (0.80, 0.30)], 0.8)})
            self.assertEqual(report.select(v), "8e-4")  # full tie: the larger LR
            # an unfinished run (no summary.txt) is ignored
            os.makedirs(os.path.join(v, "lr-5e-5", "seed-1"))
            self.assertEqual(report.select(v), "8e-4")

    def test_no_finished_run_means_no_choice(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.assertIsNone(report.select(os.path.join(tmp, "lora")))


class Report(unittest.TestCase):
    def test_verdicts_per_task_pooled_and_hosts(self):
        with tempfile.TemporaryDirectory() as tmp:
            runs = os.path.join(tmp, "runs")
            os.makedirs(runs)
            with open(os.path.join(runs, "plan.tsv"), "w") as f:
                for task in ("wic", "spam"):
                    # wic also plans the per-link LR-schedule ablation for M = 2 (plan column 10)
                    f.write("minilm\t%s\t1000,500,1000\t5\t1 2 3\t1e-3\t1e-4\tlora cola2\t\t%s\n" % (
                        task, "2" if task == "wic" else ""))
            host = "cpu=Test CPU; nproc=2; isa=avx512f; finished=2026-01-01T00:00:00Z; git=abc"
            lora = {1: 0.50, 2: 0.55, 3: 0.60}
            cola = {"wic": {1: 0.52, 2: 0.56, 3: 0.63}, "spam": {1: 0.51, 2: 0.57, 3: 0.61}}
            for task in ("wic", "spam"):
                for v, acc in (("lora", lora), ("cola2", cola[task])):
                    name = "LoRA" if v == "lora" else "COLA"
                    base = os.path.join(runs, "minilm", task, v, "lr-1e-3")
                    write_run(os.path.join(base, "seed-1"), name, {1: ([(0.6, 0.5)], acc[1])}, host)
                    write_run(os.path.join(base, "seeds-2-3"), name,
                              {s: ([(0.6, 0.5)], acc[s]) for s in (2, 3)}, host if task == "wic" else None)
            # per-link decay on wic: 0.01 below LoRA on every seed
            write_run(os.path.join(runs, "minilm", "wic", "cola2-pl", "lr-1e-3", "seeds-1-2-3"), "COLA",
                      {s: ([(0.6, 0.5)], lora[s] - 0.01) for s in (1, 2, 3)}, host)
            md = write_report(tmp, runs)
            # per task: wic differences 0.02, 0.01, 0.03 -> +2.00 points
            self.assertIn("minilm / WordNet WiC-style, COLA M = 2 vs LoRA: +2.00 points over 3 seeds", md)
            # pooled: the six differences 2,1,3,1,2,1 points -> mean 1.67, all six COLA wins
            pooled = [l for l in md.splitlines() if "Pooled over 6" in l]
            self.assertEqual(len(pooled), 1, md)
            self.assertIn("+1.67 points", pooled[0])
            self.assertIn("COLA M = 2 higher in 6, lower in 0, tied in 0; cell level (one mean per task cell, 2 cells): "
                          "+1.67 points, p = %s." % report.fmt_p(report.t_two_sided_p(5.0, 1)), pooled[0])
            d = [0.02, 0.01, 0.03, 0.01, 0.02, 0.01]
            m = sum(d) / 6
            t = m / (math.sqrt(sum((x - m) ** 2 for x in d) / 5) / math.sqrt(6))
            self.assertIn("t = %.2f" % t, pooled[0])
            self.assertIn("Ran on: Test CPU, 2 CPUs, avx512f (5 run folders).", md)  # wic
            self.assertIn("Ran on: Test CPU, 2 CPUs, avx512f (2 run folders); host not recorded (2 run folders).", md)
            self.assertTrue(os.path.exists(os.path.join(tmp, "fig-accuracy-minilm.svg")))
            # the claims table: both task cells higher but neither significant on its own (wic: t = 3.46 on 2 df,
            # p 0.074; spam: t = 4.00, p 0.057), the pooled test (t = 5.00, p 0.0041) says yes; M = 3 and step-down not run
            claim = [l for l in md.splitlines() if l.startswith("| COLA beats LoRA at equal")]
            self.assertEqual(len(claim), 1, md)
            self.assertIn("| COLA M = 2 vs LoRA (M = 1) | 2: 2 higher (0 sig.), 0 lower (0 sig.) |", claim[0])
            # cell level: the cell means +2.00 and +1.33 -> +1.67, t = 5.00 on 1 df, p 0.126: two cells are not enough,
            # and the verdict says so
            self.assertIn("| +1.67 (6 pairs, 2 tasks) | %s | +1.67, p = %s | **yes** (significant) in the pooled test, not at cell level |" % (
                report.fmt_p(report.t_two_sided_p(t, 5)), report.fmt_p(report.t_two_sided_p(5.0, 1))), claim[0])
            self.assertAlmostEqual(report.t_two_sided_p(5.0, 1), 0.1257, places=4)
            self.assertIn("| COLA M = 3 vs LoRA (M = 1) | not measured yet |", md)
            self.assertIn("| step-down 8→2 vs step-down 8→8 | not measured yet |", md)
            # the schedule ablation: -1.00 vs LoRA on each seed (an exact answer, p = 0), -3.00 vs COLA M = 2 global
            self.assertIn("| COLA M = 2, per-link decay | 3 | 54.00 ± 5.00 | 54.00 ± 5.00 | 1e-3 | -1.00 | 0 (identical differences) | -3.00 | ", md)
            self.assertIn("| COLA M = 2, per-link decay vs LoRA (M = 1) | 1: 0 higher (0 sig.), 1 lower (1 sig.) "
                          "| -1.00 (3 pairs, 1 task) | 0 (identical differences) | – (one cell) "
                          "| **no: the opposite**, significantly |", md)
            self.assertNotIn("per-link decay: no finished run", md)
            self.assertNotIn("edge of its grid", md)  # a one-LR grid has no edge to warn about
            # a cell with one common seed (still running) stays out of the pooled test, as out of the cell-level one
            a, b, ntask = report.pooled_pairs({("m", "x"): {"lora": {1: 0.5, 2: 0.6}, "cola2": {1: 0.6, 2: 0.6}},
                                               ("m", "y"): {"lora": {1: 0.5}, "cola2": {1: 0.9}}}, "cola2", "lora")
            self.assertEqual((sorted(a), ntask), ([("m", "x", 1), ("m", "x", 2)], 1))

    def test_lr_at_the_edge_of_a_fully_run_grid_is_flagged(self):
        with tempfile.TemporaryDirectory() as tmp:
            runs = os.path.join(tmp, "runs")
            os.makedirs(runs)
            with open(os.path.join(runs, "plan.tsv"), "w") as f:
                f.write("minilm\twic\t1000,500,1000\t5\t1\t1e-3 5e-4 1e-4\t1e-4\tlora cola2\t\t\n")
            base = os.path.join(runs, "minilm", "wic")
            # LoRA: the smallest LR wins on dev; COLA: the middle one wins (no flag)
            for lr, dev in (("1e-3", 0.50), ("5e-4", 0.55), ("1e-4", 0.60)):
                write_run(os.path.join(base, "lora", "lr-" + lr, "seed-1"), "LoRA", {1: ([(dev, 0.5)], 0.6)})
            for lr, dev in (("1e-3", 0.50), ("5e-4", 0.65), ("1e-4", 0.60)):
                write_run(os.path.join(base, "cola2", "lr-" + lr, "seed-1"), "COLA", {1: ([(dev, 0.5)], 0.6)})
            md = write_report(tmp, runs)
            self.assertIn("| LoRA (M = 1) | 1 | 60.00 (n = 1) | 60.00 (n = 1) | 1e-4 (grid bottom) | 60.00 |", md)
            self.assertIn("| COLA M = 2 | 1 | 60.00 (n = 1) | 60.00 (n = 1) | 5e-4 | 65.00 |", md)
            self.assertIn("LR chosen at the edge of its grid: LoRA (M = 1) at the grid's bottom (1e-4) — ", md)


if __name__ == "__main__":
    unittest.main()
