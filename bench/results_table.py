#!/usr/bin/env python3
"""Turns the JMH JSON of bench/run-jmh.sh into the rows of bench/RESULTS.md: median, GFLOP/s or GB/s (from the bytes
or FLOPs per call stated in each benchmark's javadoc), and the fraction of this machine's peak measured in the same
run (memcpy of 256 MB for bandwidth, the best oneDNN sgemm for compute).
  python3 bench/results_table.py target/jmh/*.json
"""
import json
import sys

rows = []
for path in sys.argv[1:]:
    for r in json.load(open(path)):
        m = r["primaryMetric"]
        unit = m["scoreUnit"]
        p50 = m.get("scorePercentiles", {}).get("50.0", m["score"])
        ms = p50 * {"ms/op": 1, "us/op": 1e-3, "ns/op": 1e-6, "s/op": 1e3}[unit]
        rows.append((r["benchmark"].replace("cola.bench.", ""), r.get("params") or {}, ms))


def work(name, p):
    """(bytes, flops) per call."""
    cls, meth = name.split(".")
    if cls == "MemcpyBench":
        return 2 * int(p["bytes"]), 0
    if cls == "GemmBench":
        m, n, k = map(int, p["mnk"].split("x"))
        return 0, 2 * m * n * k
    if cls == "LoraLinearBench":
        m, k, n = map(int, p["mkn"].split("x"))
        return 0, 2 * m * n * k
    if cls == "MergeBench":
        n, k = map(int, p["shape"].split("x"))
        if meth == "merge":
            r = int(p["r"])
            return (8 if p["dtype"] == "f32" else 4) * n * k + 4 * (r * k + n * r), 0
        return 8 * n * k, 0
    if cls == "NormBench":
        n, c = map(int, p["nc"].split("x"))
        return (8 if "Forward" in meth else 16) * n * c, 0
    if cls == "ActivationBench":
        a, b = map(int, p["shape"].split("x"))
        n = a * b
        f = {"swigluForward": 12, "add": 12, "swigluBackward": 28}.get(meth, 8 if "Forward" in meth else 16)
        return f * n, 0
    if cls == "AttentionBench":
        b, t, h, d = 8, 128, 12, 32 if p["shape"] == "minilm" else 64
        fl = (4 if meth == "forward" else 10) * b * h * t * t * d
        return 0, fl / 2 if p["shape"] == "opt" else fl
    if cls == "XentBench":
        n, v = int(p["n"]), 50272
        return (4 if meth == "forward" else 8) * n * v, 0
    if cls == "EmbeddingBench":
        n, c = int(p["n"]), 768
        return (8 * n * c + 4 * n if meth == "forward" else 12 * n * c), 0
    if cls == "RopeBench":
        h, d = map(int, p["hd"].split("x"))
        n = 4096
        return (8 if "forward" in meth else 12) * n * h * d, 0
    if cls == "DropoutBench":
        n = int(p["n"])
        return (8 if meth == "forward" else 12) * n, 0
    if cls == "ConvertBench":
        return 6 * int(p["n"]), 0
    if cls == "OptimBench":
        e = 294912 if p["set"] == "lora" else 2949120
        return {"adamwStep": 28, "sumSquares": 4, "scale": 8}[meth] * e, 0
    return 0, 0


# memcpy at several sizes: a bandwidth-bound op is compared with the memcpy whose footprint is nearest its own
# (this VM's large L3 holds a 12 MB activation, not a 256 MB one)
copies = sorted((int(p["bytes"]), work(n, p)[0] / (ms * 1e-3)) for n, p, ms in rows if n.startswith("MemcpyBench"))
bw_peak = max((c[1] for c in copies), default=None)


def copy_rate(traffic):
    if not copies:
        return None
    return min(copies, key=lambda c: abs(c[0] - traffic / 2))[1]


fl_peak = max((work(n, p)[1] / (ms * 1e-3) for n, p, ms in rows if n == "GemmBench.onednn"), default=None)
print("memcpy in this run: " + ", ".join(f"{b / 2**20:.0f} MB {r / 1e9:.1f} GB/s" for b, r in copies))
print(f"peaks measured in this run: memcpy {bw_peak / 1e9 if bw_peak else float('nan'):.1f} GB/s, "
      f"oneDNN sgemm {fl_peak / 1e9 if fl_peak else float('nan'):.1f} GFLOP/s\n")
print("| benchmark | params | median | rate | of peak (same-size memcpy / best sgemm) |")
print("|---|---|---|---|---|")
for n, p, ms in rows:
    by, fl = work(n, p)
    ps = " ".join(f"{k}={v}" for k, v in sorted(p.items()))
    if fl:
        rate, frac = f"{fl / (ms * 1e-3) / 1e9:.1f} GFLOP/s", f"{fl / (ms * 1e-3) / fl_peak:.0%}" if fl_peak else ""
    elif by:
        cr = copy_rate(by)
        rate, frac = f"{by / (ms * 1e-3) / 1e9:.1f} GB/s", f"{by / (ms * 1e-3) / cr:.0%}" if cr else ""
    else:
        rate, frac = "", ""
    print(f"| {n} | {ps} | {ms:.3f} ms | {rate} | {frac} |")
