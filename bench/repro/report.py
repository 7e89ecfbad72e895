#!/usr/bin/env python3
"""Report generator of the COLA reproduction study (bench/repro/reproduce.sh). Python 3 standard library only.

  report.py select RUNS/<model>/<task>/<variant>
      prints the LR chosen on dev: among RUNS/.../<variant>/lr-<LR>/seed-1 runs that finished (summary.txt), the best
      dev accuracy after the LAST epoch (ties: lower last-epoch dev loss, then the larger LR). Exit 1 when none.
  report.py write --runs RUNS --out docs/REPRODUCTION.md --svg-prefix docs/repro/ [--budget B] [--quick] [--command C]
      reads every run folder's config.json + metrics.jsonl and writes the Markdown report and SVG plots.

Statistics: mean ± sample standard deviation (n - 1) over seeds; COLA − LoRA is a paired t-test over the seeds both
variants ran (same seed = same MeZO train/dev sample and the same test set), two-sided p from the Student t
distribution (regularised incomplete beta function, continued fraction as in Numerical Recipes). Nothing is
invented: a variant without finished runs is listed as not run.
"""
import argparse
import glob
import json
import math
import os
import platform
import re
import subprocess
import sys

METHOD_OF = {"lora": "LoRA", "cola2": "COLA", "cola3": "COLA", "full": "Full"}
LABEL = {"lora": "LoRA (M = 1)", "cola2": "COLA M = 2", "cola3": "COLA M = 3", "full": "Full fine-tuning",
         "cola2-pl": "COLA M = 2, per-link decay", "cola3-pl": "COLA M = 3, per-link decay"}
MAIN = ["lora", "cola2", "cola3", "full"]
MODEL_LABEL = {"minilm": "all-MiniLM-L6-v2 (22.7 M, classification head)",
               "bert-base": "BERT-base-uncased (110 M, classification head)",
               "tiny-opt": "tiny-opt (cola-pretrained OPT-style causal LM, MeZO prompts)"}
TASK_LABEL = {"imdb": "IMDB sentiment", "spam": "SpamAssassin", "wic": "WordNet WiC-style"}


# ------------------------------------------------------------------------------------------------ statistics
def betacf(a, b, x):
    eps, fpmin = 3e-16, 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > fpmin else fpmin)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > fpmin else fpmin)
        c = 1.0 + aa / c
        c = c if abs(c) > fpmin else fpmin
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > fpmin else fpmin)
        c = 1.0 + aa / c
        c = c if abs(c) > fpmin else fpmin
        de = d * c
        h *= de
        if abs(de - 1.0) < eps:
            break
    return h


def betai(a, b, x):
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1.0 - x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t, df):
    return betai(df / 2.0, 0.5, df / (df + t * t))


def mean(xs):
    return sum(xs) / len(xs)


def std(xs):
    if len(xs) < 2:
        return float("nan")
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def paired_t(a, b):
    """a, b: dict seed -> value. Returns (n, mean diff a-b, t, p) over the common seeds, or None when n < 2."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return None
    d = [a[s] - b[s] for s in seeds]
    md, sd = mean(d), std(d)
    if sd == 0:
        return (len(d), md, float("inf") if md else 0.0, 0.0 if md else 1.0)
    t = md / (sd / math.sqrt(len(d)))
    return (len(d), md, t, t_two_sided_p(t, len(d) - 1))


# ------------------------------------------------------------------------------------------------ reading runs
def read_run(folder):
    """Finished run folder -> {"config", "epochs": {(method, seed): [rows]}, "final": {(method, seed): row}}."""
    if not os.path.exists(os.path.join(folder, "summary.txt")):
        return None
    cfg = json.load(open(os.path.join(folder, "config.json")))
    epochs, final = {}, {}
    for line in open(os.path.join(folder, "metrics.jsonl")):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        key = (r.get("method"), r.get("seed"))
        if "epoch" in r and "test_loss" not in r:
            epochs.setdefault(key, []).append(r)
        elif "test_loss" in r:
            final[key] = r
    return {"config": cfg, "epochs": epochs, "final": final, "folder": folder}


def hosts_of(base):
    """[(host, number of finished run folders)] under base, from the host.txt reproduce.sh writes after each run."""
    count = {}
    for summary in glob.glob(os.path.join(base, "*", "lr-*", "*", "summary.txt")):
        h = os.path.join(os.path.dirname(summary), "host.txt")
        if os.path.exists(h):
            f = dict(kv.strip().partition("=")[::2] for kv in open(h).read().strip().split(";") if "=" in kv)
            name = "%s, %s CPUs, %s" % (f.get("cpu", "?"), f.get("nproc", "?"), f.get("isa", "?"))
        else:
            name = "host not recorded"
        count[name] = count.get(name, 0) + 1
    return sorted(count.items(), key=lambda x: (-x[1], x[0] == "host not recorded", x[0]))


def lr_of(dirname):
    return os.path.basename(dirname)[3:]


def grid(variant_dir):
    """[(lr string, last-epoch dev accuracy, dev loss)] of the finished seed-1 grid runs."""
    out = []
    for d in sorted(glob.glob(os.path.join(variant_dir, "lr-*"))):
        run = read_run(os.path.join(d, "seed-1"))
        if not run:
            continue
        rows = [r for (m, s), rs in run["epochs"].items() if s == 1 for r in rs]
        if not rows:
            continue
        last = max(rows, key=lambda r: r["epoch"])
        acc = last.get("dev_accuracy")
        out.append((lr_of(d), acc if acc is not None else float("nan"), last.get("dev_loss", float("nan"))))
    return out


def select(variant_dir):
    g = [x for x in grid(variant_dir) if not math.isnan(x[1])]
    if not g:
        return None
    g.sort(key=lambda x: (-x[1], x[2], -float(x[0])))
    return g[0][0]


def collect(variant_dir, lr):
    """All finished final rows (seed -> row) of a variant at one LR (seed-1 grid run + the other seeds' run)."""
    rows = {}
    for d in sorted(glob.glob(os.path.join(variant_dir, "lr-" + lr, "*"))):
        if not os.path.isdir(d):
            continue
        run = read_run(d)
        if not run:
            continue
        for (m, s), r in run["final"].items():
            rows[s] = r
    return rows


def failed_runs(runs):
    out = []
    for log in sorted(glob.glob(os.path.join(runs, "*", "*", "*", "lr-*", "*.log"))):
        folder = log[:-4]
        if not os.path.exists(os.path.join(folder, "summary.txt")):
            tail = open(log, errors="replace").read().strip().splitlines()[-1:] or [""]
            out.append((os.path.relpath(folder, runs), tail[0][:200]))
    return out


# ------------------------------------------------------------------------------------------------ formatting
def pct(x):
    return "%.2f" % (100 * x)


def ms(xs):
    if not xs:
        return "–"
    if len(xs) == 1:
        return pct(xs[0]) + " (n = 1)"
    return "%s ± %s" % (pct(mean(xs)), pct(std(xs)))


def fmt_p(p):
    if p is None:
        return "–"
    if p == 0:  # every seed moved by the same amount: t is infinite
        return "0 (identical differences)"
    return "%.3g" % p if p >= 1e-4 else "%.1e" % p


def hardware():
    lines = []
    try:
        ls = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = dict((k.strip(), v.strip()) for k, _, v in (l.partition(":") for l in ls.splitlines()) if v)
        lines.append("CPU: %s, %s CPU(s) (%s), %s" % (info.get("Model name", "?"), info.get("CPU(s)", "?"),
                                                       info.get("Thread(s) per core", "?") + " thread(s) per core",
                                                       info.get("Hypervisor vendor", "bare metal") + " guest"
                                                       if info.get("Hypervisor vendor") else "bare metal"))
        flags = info.get("Flags", "")
        isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags.split()]
        lines.append("ISA: " + ", ".join(isa))
    except OSError:
        lines.append("CPU: lscpu not available")
    try:
        lines.append("nproc: " + subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip())
    except OSError:
        pass
    try:
        mem = [l for l in open("/proc/meminfo") if l.startswith("MemTotal")][0].split()[1]
        lines.append("memory: %.1f GiB" % (int(mem) / 2 ** 20))
    except (OSError, IndexError):
        pass
    lines.append("OS: %s %s; Python %s" % (platform.system(), platform.release(), platform.python_version()))
    jar = os.path.join("target", "cola.jar")
    if os.path.exists(jar):
        try:
            out = subprocess.run(["java", "-jar", jar, "info"], capture_output=True, text=True, timeout=60).stdout
            lines += ["cola info: " + l.strip() for l in out.splitlines() if l.strip() and "cuda" not in l]
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        lines.append("git commit: " + rev)
    except OSError:
        pass
    return lines


# ------------------------------------------------------------------------------------------------ SVG
COLORS = {"lora": "#4c72b0", "cola2": "#dd8452", "cola3": "#c44e52", "full": "#55a868",
          "sd-r2": "#8172b3", "sd-r4": "#937860", "sd-r6": "#da8bc3", "sd-r8": "#8c8c8c"}


def svg_bars(path, title, groups, series, labels):
    """groups: [group name]; series: [variant]; values[(group, variant)] = (mean, std) via labels dict 'data'."""
    data = labels["data"]
    w, h, left, bottom, top = 120 + 150 * max(1, len(groups)), 360, 60, 60, 40
    vals = [m + (s if s == s else 0) for (m, s) in data.values()] or [1]
    lo = min([m - (s if s == s else 0) for (m, s) in data.values()] or [0])
    ymin = max(0.0, math.floor((lo - 0.05) * 10) / 10)
    ymax = min(1.0, math.ceil((max(vals) + 0.02) * 10) / 10)
    if ymax <= ymin:
        ymax = ymin + 0.1
    ph = h - top - bottom

    def y(v):
        return top + ph * (1 - (v - ymin) / (ymax - ymin))
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="13">%s</text>' % (left, esc(title))]
    for i in range(11):
        v = ymin + (ymax - ymin) * i / 10
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (left, w - 10, y(v), y(v)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.0f%%</text>' % (left - 4, y(v) + 4, 100 * v))
    gw = (w - left - 10) / max(1, len(groups))
    bw = gw * 0.8 / max(1, len(series))
    for gi, g in enumerate(groups):
        x0 = left + gi * gw + gw * 0.1
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (left + gi * gw + gw / 2, h - bottom + 16, esc(g)))
        for si, s in enumerate(series):
            if (g, s) not in data:
                continue
            m, sd = data[(g, s)]
            x = x0 + si * bw
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %.2f%%</title></rect>'
                       % (x, y(max(m, ymin)), bw * 0.9, max(0, y(ymin) - y(max(m, ymin))), COLORS.get(s, "#999"), esc(g), esc(s), 100 * m))
            if sd == sd and sd > 0:
                cx = x + bw * 0.45
                out.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>' % (cx, cx, y(min(ymax, m + sd)), y(max(ymin, m - sd))))
    lx = left
    for s in series:
        out.append('<rect x="%.1f" y="%d" width="10" height="10" fill="%s"/><text x="%.1f" y="%d">%s</text>'
                   % (lx, h - 22, COLORS.get(s, "#999"), lx + 13, h - 13, esc(labels.get(s, s))))
        lx += 14 + 7 * len(labels.get(s, s)) + 12
    out.append("</svg>")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    open(path, "w").write("\n".join(out) + "\n")


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ------------------------------------------------------------------------------------------------ report
def fixed_lr_rows(vdir):
    """Finished seeds of a variant that runs at an LR taken from another variant (step-down, per-link decay), over
    whatever lr-* folders it has: ({seed: final row}, [LRs])."""
    lrs = [lr_of(d) for d in sorted(glob.glob(os.path.join(vdir, "lr-*")))]
    rows = {}
    for lr in lrs:
        rows.update(collect(vdir, lr))
    return rows, lrs


def read_plan(runs):
    plan = []
    p = os.path.join(runs, "plan.tsv")
    if os.path.exists(p):
        for line in open(p):
            f = line.rstrip("\n").split("\t")
            if len(f) >= 9:
                plan.append({"model": f[0], "task": f[1], "sample": f[2], "epochs": f[3], "seeds": f[4].split(),
                             "lrs": f[5].split(), "full_lrs": f[6].split(), "variants": f[7].split(),
                             "stepdown": f[8].split(), "perlink": f[9].split() if len(f) > 9 else []})
    return plan


def pooled_pairs(allres, va, vb):
    """Every (model, task, seed) that ran both variants: ({key: acc of va}, {key: acc of vb}, number of tasks).
    Only cells with at least 2 common seeds count — the cells the per-task and cell-level tests use: a cell still
    in progress would otherwise enter with its seed 1 alone, the seed its LRs were chosen on."""
    a, b = {}, {}
    for (model, task), res in allres.items():
        if va in res and vb in res and len(set(res[va]) & set(res[vb])) >= 2:
            for seed in set(res[va]) & set(res[vb]):
                a[(model, task, seed)] = res[va][seed]
                b[(model, task, seed)] = res[vb][seed]
    return a, b, len({k[:2] for k in a})


def cell_level(allres, va, vb):
    """One observation per (model, task) cell, its mean difference va - vb over seeds, and a t-test of those against 0
    (df = cells - 1): unlike the pooled test it does not treat seeds of different tasks as exchangeable.
    Returns (number of cells, (n, mean, t, p) or None when fewer than 2 cells)."""
    d = {}
    for key, res in allres.items():
        c = paired_t(res[va], res[vb]) if va in res and vb in res else None
        if c:
            d[key] = c[1]
    return len(d), paired_t(d, {k: 0.0 for k in d})


def pooled_line(allres, va, vb, min_tasks=2):
    """'N (model, task, seed) pairs from K tasks, A vs B: ...' or None when fewer than min_tasks tasks ran both (one
    task's test is already in the per-task verdicts)."""
    a, b, ntask = pooled_pairs(allres, va, vb)
    c = paired_t(a, b)
    if not c or ntask < min_tasks:
        return None
    n, d, t, pv = c
    wins = sum(1 for k in a if a[k] > b[k])
    losses = sum(1 for k in a if a[k] < b[k])
    ncell, cc = cell_level(allres, va, vb)
    cells = ("; cell level (one mean per task cell, %d cells): %+.2f points, p = %s" % (
        ncell, 100 * cc[1], fmt_p(cc[3]))) if cc else ""
    return ("%d (model, task, seed) pairs** from %d tasks, %s vs %s: %+.2f points, t = %.2f, p = %s; "
            "%s higher in %d, lower in %d, tied in %d%s." % (
                n, ntask, label_of(va), label_of(vb), 100 * d, t, fmt_p(pv), label_of(va), wins, losses,
                n - wins - losses, cells))


def label_of(v):
    return LABEL.get(v) or ("step-down 8→" + v[4:] if v.startswith("sd-r") else v)


def claims(allres, flops):
    """The paper's three claims next to what this study measured, from the same per-seed results as the tables: one
    row per comparison, per-task-cell counts and the pooled paired t-test."""
    def row(claim, paper, va, vb, kind):
        n = hi = shi = lo = slo = 0
        for res in allres.values():
            c = paired_t(res[va], res[vb]) if va in res and vb in res else None
            if c:
                n += 1
                hi, lo = hi + (c[1] > 0), lo + (c[1] < 0)
                shi, slo = shi + (c[1] > 0 and c[3] < 0.05), slo + (c[1] < 0 and c[3] < 0.05)
        a, b, ntask = pooled_pairs(allres, va, vb)
        c = paired_t(a, b)
        if n == 0 or not c:
            return "| %s | %s | %s vs %s | not measured yet | – | – | – | – |" % (claim, paper, label_of(va), label_of(vb))
        _, d, _, pv = c
        _, cc = cell_level(allres, va, vb)
        cells = "%+.2f, p = %s" % (100 * cc[1], fmt_p(cc[3])) if cc else "– (one cell)"
        if kind == "gain":  # the claim is that va beats vb
            word = ("**yes** (significant)" if d > 0 and pv < 0.05 else "**no: the opposite**, significantly"
                    if d < 0 and pv < 0.05 else "not shown (no significant difference)")
        else:  # "keeps": the claim is that va is no worse than vb
            word = ("**no**: significantly lower" if d < 0 and pv < 0.05 else "consistent (no significant loss)")
        if pv < 0.05 and cc and cc[3] >= 0.05:
            word += " in the pooled test, not at cell level"
        return "| %s | %s | %s vs %s | %d: %d higher (%d sig.), %d lower (%d sig.) | %+.2f (%d pairs, %d task%s) | %s | %s | %s |" % (
            claim, paper, label_of(va), label_of(vb), n, hi, shi, lo, slo, 100 * d, len(a), ntask,
            "" if ntask == 1 else "s", fmt_p(pv), cells, word)

    p1 = ("OPT-1.3B: WSC +3.66, BoolQ +1.38, RTE +1.66 points; Llama-2-7B RTE 82.09 → 85.70 (RAC-LoRA, arXiv "
          "2410.08305, later measured COLA below LoRA on a GLUE average: 77.6 vs 78.5)")
    md = ["## The paper's claims, checked\n",
          "Paired t-tests over seeds (same seed = same train/dev sample and test set). A task cell is one (model, task) "
          "with both variants run; *sig.* = p < 0.05 in that cell. The pooled test puts every (model, task, seed) pair "
          "into one paired t-test (more power, but it treats tasks as exchangeable); *holds here?* reads the pooled test. "
          "The cell-level test is the conservative check: each cell's mean difference is one observation, a t-test "
          "over cells (df = cells − 1), so a pooled result that one or two cells carry does not pass it. Computed "
          "from the tables below; rows fill in as the study runs.\n",
          "| claim (arXiv 2401.04151) | the paper's evidence | comparison | task cells | pooled Δ points | pooled p "
          "| cell-level Δ, p | holds here? |",
          "|---|---|---|---|---|---|---|---|",
          row("COLA beats LoRA at equal training steps", p1, "cola2", "lora", "gain"),
          row("″", "″", "cola3", "lora", "gain"),
          row("Longer chains help", "chain-length ablation: accuracy rises from M = 1 to 3", "cola3", "cola2", "gain"),
          row("A lower rank in the later link keeps the gain", "step-down ablation (link 1 rank 8 for 3 epochs, link 2 "
              "rank 2/4/6/8 for 2): accuracy about flat in the link-2 rank", "sd-r2", "sd-r8", "keeps"),
          row("″ (is there a gain to keep?)", "step-down 8→8 is COLA M = 2 with the knot at 3/5", "sd-r8", "lora", "gain"),
          row("COLA beats LoRA, with the LR decay restarted per link (not stated in the paper)", "–", "cola2-pl", "lora", "gain"),
          row("″", "–", "cola3-pl", "lora", "gain"),
          ""]
    order = []
    for (model, task), res in sorted(allres.items()):
        if all(v in res for v in ("lora", "cola2", "cola3")):
            m = [100 * mean(list(res[v].values())) for v in ("lora", "cola2", "cola3")]
            order.append("%s / %s %.2f → %.2f → %.2f" % (model, task, *m))
    if order:
        md.append("Mean test accuracy % for chain length M = 1 → 2 → 3: " + "; ".join(order) + ".\n")
    saving = []
    for (model, task), res in sorted(allres.items()):
        f2, f8 = flops.get((model, task, "sd-r2")), flops.get((model, task, "sd-r8"))
        if f2 and f8:
            saving.append("%s / %s %.2f %%" % (model, task, 100 * (f8 - f2) / f8))
    if saving:
        md.append("Training FLOPs saved by a link-2 rank of 2 instead of 8: " + "; ".join(saving) + " — the frozen "
                  "backbone dominates the compute, so the step-down's saving is adapter and optimiser-state memory, "
                  "not time.\n")
    return "\n".join(md) + "\n"


def write(a):
    runs = a.runs
    plan = read_plan(runs)
    md = []
    title = "COLA reproduction study — QUICK SMOKE TEST (not the study)" if a.quick else "COLA reproduction study"
    md.append("# " + title + "\n")
    if a.quick:
        md.append("**This file comes from `--quick` mode: tiny samples, one epoch, two seeds, one LR. Its numbers test "
                  "the pipeline only and say nothing about LoRA vs COLA.**\n")
    md.append("Generated by `bench/repro/report.py` from the run folders under `%s/` (budget `%s`). "
              "Protocol: COLA (arXiv 2401.04151) as in `/work/shared/docs/REFERENCE.md` §1 and `bench/repro/reproduce.sh`; "
              "data: docs/DATA.md.\n" % (runs, a.budget))
    md.append("## How to regenerate\n")
    md.append("```\n%s\n```\n" % a.command)
    md.append("Stages: build (mvn package) → data (IMDB fetch, SpamAssassin pools, corpus) → models (MiniLM ONNX import, "
              "BERT-base TF-checkpoint import) → lm (pretrain tiny-opt unless its checkpoint exists) → study → report. "
              "Finished runs are skipped, so the same command resumes an interrupted study. The exact cola commands are "
              "listed at the end.\n")
    if a.notes and os.path.exists(a.notes):  # the study's caveats, kept by hand next to the scripts
        md.append(open(a.notes, encoding="utf-8").read().rstrip() + "\n")
    md.append("## Hardware (the machine that wrote this report; each task table names the hosts its runs ran on)\n")
    md += ["- " + l for l in hardware()]
    md.append("")
    md.append("## Protocol actually run\n")
    md.append("LoRA r = 8, α = 16 on query/value (BERT) or q_proj/v_proj (OPT), AdamW, linear decay, no warmup, batch 8, "
              "gradient clipping 1.0, fp32. Every method trains the same number of epochs in total; COLA's links split "
              "them equally by optimiser steps (M = 3 knots at 1/3 and 2/3), optimiser state reset at each knot. "
              "MeZO sampling per seed: TRAIN + DEV from the train pool (seed = run seed), up to TEST from the "
              "validation pool (fixed seed). LR chosen per (model, task, variant) from the grid on **seed 1 only** "
              "(a reduction: the paper tunes per setting), by the best dev accuracy **after the last epoch** (ties: lower "
              "dev loss, then larger LR); the other seeds then run at that LR and the seed-1 grid run is reused. "
              "Full fine-tuning has its own LR grid. Step-down variants reuse COLA M = 2's chosen LR; the per-link decay "
              "ablation (COLA's linear LR decay restarted in every link, which the paper leaves unstated) reuses COLA M's. "
              "Test accuracy is the last epoch's.\n")
    if plan:
        md.append("| model | task | train,dev,test | epochs | seeds | LoRA/COLA LR grid | full-FT LR grid | variants | step-down ranks | per-link decay ablation |")
        md.append("|---|---|---|---|---|---|---|---|---|---|")
        for p in plan:
            md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                p["model"], p["task"], p["sample"], p["epochs"], ",".join(p["seeds"]), ", ".join(p["lrs"]),
                ", ".join(p["full_lrs"]), ", ".join(p["variants"]), ", ".join(p["stepdown"]) or "–",
                ("M = " + ", ".join(p["perlink"])) if p["perlink"] else "–"))
        md.append("")

    verdicts, not_run, all_cmd = [], [], []
    allres = {}  # (model, task) -> variant -> {seed: test accuracy}; step-down variants included
    flops = {}  # (model, task, variant) -> mean training FLOPs per seed
    svg_data = {}
    models = []
    for p in plan:
        if p["model"] not in models:
            models.append(p["model"])
    for model in models:
        md.append("## %s\n" % MODEL_LABEL.get(model, model))
        for p in [q for q in plan if q["model"] == model]:
            task = p["task"]
            base = os.path.join(runs, model, task)
            md.append("### %s / %s\n" % (model, TASK_LABEL.get(task, task)))
            results = allres.setdefault((model, task), {})
            md.append("| method | seeds | test accuracy % (mean ± std) | test macro-F1 % | LR (chosen on dev) | dev acc % at LR (seed 1) "
                      "| TFLOP / seed | train s / seed | rank(ΔW) | Δ acc vs LoRA (points) | paired t-test p |")
            md.append("|---|---|---|---|---|---|---|---|---|---|---|")
            edge = []  # variants whose chosen LR is the largest or smallest of a fully-run grid
            for v in p["variants"]:
                vdir = os.path.join(base, v)
                lr = select(vdir)
                rows = collect(vdir, lr) if lr else {}
                want = len(p["seeds"])
                if not rows:
                    md.append("| %s | 0 | not run | – | – | – | – | – | – | – | – |" % LABEL[v])
                    not_run.append("%s / %s / %s: no finished run" % (model, task, v))
                    continue
                if len(rows) < want:
                    not_run.append("%s / %s / %s: %d of %d seeds finished" % (model, task, v, len(rows), want))
                acc = {s: r["test_accuracy"] for s, r in rows.items()}
                f1 = [r.get("test_macro_f1", float("nan")) for r in rows.values()]
                results[v] = acc
                g = dict((x[0], x) for x in grid(vdir))
                devacc = g[lr][1] if lr in g else float("nan")
                planned = p["full_lrs"] if v == "full" else p["lrs"]
                missing = [x for x in planned if x not in g]
                if missing:  # an LR chosen on part of the grid may still change
                    not_run.append("%s / %s / %s: LR grid %d of %d run (LR %s provisional)" % (
                        model, task, v, len(planned) - len(missing), len(planned), lr))
                    lr = lr + " (provisional)"
                elif len(planned) > 1 and lr in (max(planned, key=float), min(planned, key=float)):
                    # the dev optimum may lie outside the grid: say so next to the LR, not only in a caveat
                    top = lr == max(planned, key=float)
                    edge.append("%s at the grid's %s (%s)" % (LABEL[v], "top" if top else "bottom", lr))
                    lr = lr + (" (grid top)" if top else " (grid bottom)")
                fl = mean([r["flops"] for r in rows.values()]) / 1e12
                flops[(model, task, v)] = fl * 1e12
                sec = mean([r["seconds"] for r in rows.values()])
                rk = [r.get("effective_rank_delta_w") for r in rows.values() if r.get("effective_rank_delta_w") is not None]
                cmp_ = paired_t(acc, results["lora"]) if v != "lora" and "lora" in results else None
                md.append("| %s | %d | %s | %s | %s | %s | %.3f | %.0f | %s | %s | %s |" % (
                    LABEL[v], len(rows), ms(list(acc.values())), ms(f1), lr, pct(devacc), fl, sec,
                    "%.1f" % mean(rk) if rk else "–",
                    ("%+.2f (n = %d)" % (100 * cmp_[1], cmp_[0])) if cmp_ else "–", fmt_p(cmp_[3]) if cmp_ else "–"))
                svg_data[(model, task, v)] = (mean(list(acc.values())), std(list(acc.values())))
            md.append("")
            if edge:
                md.append("LR chosen at the edge of its grid: %s — the dev optimum may lie outside the grid the protocol "
                          "searches, so that method may be under-tuned here.\n" % "; ".join(edge))
            hosts = hosts_of(base)
            if hosts:
                md.append("Ran on: " + "; ".join("%s (%d run folder%s)" % (h, n, "" if n == 1 else "s")
                                                 for h, n in hosts) + ". Wall times compare only within one host.\n")
            # verdict
            if "lora" in results:
                for v in ("cola2", "cola3"):
                    if v not in results:
                        continue
                    c = paired_t(results[v], results["lora"])
                    if not c:
                        verdicts.append("- %s / %s, %s vs LoRA: fewer than 2 common seeds — no test." % (
                            model, TASK_LABEL.get(task, task), LABEL[v]))
                        continue
                    n, d, t, pv = c
                    if d > 0 and pv < 0.05:
                        word = "**COLA beat LoRA** (significant at 5 %)"
                    elif d > 0:
                        word = "COLA was higher but **not significantly** (p ≥ 0.05): no demonstrated win"
                    elif d < 0 and pv < 0.05:
                        word = "**COLA lost to LoRA** (significant at 5 %)"
                    elif d < 0:
                        word = "COLA was lower, not significantly: **no win for COLA**"
                    else:
                        word = "no difference: **no win for COLA**"
                    verdicts.append("- %s / %s, %s vs LoRA: %+.2f points over %d seeds, t = %.2f, p = %s — %s." % (
                        model, TASK_LABEL.get(task, task), LABEL[v], 100 * d, n, t, fmt_p(pv), word))
            # LR grid
            md.append("<details><summary>LR grid (seed 1, dev accuracy % after the last epoch)</summary>\n")
            md.append("| variant | " + " | ".join("LR %s" % x for x in sorted(set(p["lrs"] + p["full_lrs"]), key=float, reverse=True)) + " |")
            lrs_all = sorted(set(p["lrs"] + p["full_lrs"]), key=float, reverse=True)
            md.append("|---|" + "---|" * len(lrs_all))
            for v in p["variants"]:
                g = dict((x[0], x[1]) for x in grid(os.path.join(base, v)))
                vg = p["full_lrs"] if v == "full" else p["lrs"]
                md.append("| %s | %s |" % (LABEL[v], " | ".join(
                    (pct(g[x]) if x in g else "not run") if x in vg else "" for x in lrs_all)))
            md.append("\n</details>\n")
            # step-down
            if p["stepdown"]:
                md.append("Rank step-down (M = 2: link 1 rank 8 for the first 3/5 of training, link 2 rank r for the rest; "
                          "LR = COLA M = 2's):\n")
                md.append("| link-2 rank | seeds | test accuracy % | test macro-F1 % | TFLOP / run | rank(ΔW) | Δ vs LoRA | p | Δ vs COLA M = 2 | p |")
                md.append("|---|---|---|---|---|---|---|---|---|---|")
                for r in p["stepdown"]:
                    v = "sd-r" + r
                    rows, lrs = fixed_lr_rows(os.path.join(base, v))
                    if not rows:
                        md.append("| %s | 0 | not run | – | – | – | – | – | – | – |" % r)
                        not_run.append("%s / %s / step-down rank %s: no finished run" % (model, task, r))
                        continue
                    if len(rows) < len(p["seeds"]):
                        not_run.append("%s / %s / step-down rank %s: %d of %d seeds" % (model, task, r, len(rows), len(p["seeds"])))
                    acc = {s: x["test_accuracy"] for s, x in rows.items()}
                    f1 = [x.get("test_macro_f1", float("nan")) for x in rows.values()]
                    rk = [x.get("effective_rank_delta_w") for x in rows.values() if x.get("effective_rank_delta_w") is not None]
                    c1 = paired_t(acc, results["lora"]) if "lora" in results else None
                    c2 = paired_t(acc, results["cola2"]) if "cola2" in results else None
                    results[v] = acc
                    flops[(model, task, v)] = mean([x["flops"] for x in rows.values()])
                    md.append("| %s | %d | %s | %s | %.3f | %s | %s | %s | %s | %s |" % (
                        r, len(rows), ms(list(acc.values())), ms(f1), mean([x["flops"] for x in rows.values()]) / 1e12,
                        "%.1f" % mean(rk) if rk else "–",
                        "%+.2f" % (100 * c1[1]) if c1 else "–", fmt_p(c1[3]) if c1 else "–",
                        "%+.2f" % (100 * c2[1]) if c2 else "–", fmt_p(c2[3]) if c2 else "–"))
                    svg_data[(model, task, v)] = (mean(list(acc.values())), std(list(acc.values())))
                md.append("")
            # LR-schedule ablation
            if p.get("perlink"):
                md.append("LR-schedule ablation (COLA with the linear decay restarted in every link, `--lr-scope per-link`, "
                          "instead of one decay over the whole run; the same LR as the global-decay row):\n")
                md.append("| variant | seeds | test accuracy % | test macro-F1 % | LR | Δ vs LoRA | p | Δ vs same M, one global decay | p |")
                md.append("|---|---|---|---|---|---|---|---|---|")
                for M in p["perlink"]:
                    v = "cola%s-pl" % M
                    rows, lrs = fixed_lr_rows(os.path.join(base, v))
                    if not rows:
                        md.append("| %s | 0 | not run | – | – | – | – | – | – |" % LABEL[v])
                        not_run.append("%s / %s / %s: no finished run" % (model, task, LABEL[v]))
                        continue
                    if len(rows) < len(p["seeds"]):
                        not_run.append("%s / %s / %s: %d of %d seeds" % (model, task, LABEL[v], len(rows), len(p["seeds"])))
                    acc = {s_: x["test_accuracy"] for s_, x in rows.items()}
                    f1 = [x.get("test_macro_f1", float("nan")) for x in rows.values()]
                    c1 = paired_t(acc, results["lora"]) if "lora" in results else None
                    g = "cola%s" % M
                    c2 = paired_t(acc, results[g]) if g in results else None
                    md.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                        LABEL[v], len(rows), ms(list(acc.values())), ms(f1), ", ".join(lrs),
                        "%+.2f" % (100 * c1[1]) if c1 else "–", fmt_p(c1[3]) if c1 else "–",
                        "%+.2f" % (100 * c2[1]) if c2 else "–", fmt_p(c2[3]) if c2 else "–"))
                    results[v] = acc
                md.append("")
        # plot per model
        tasks = [q["task"] for q in plan if q["model"] == model]
        series = [v for v in MAIN + ["sd-r2", "sd-r4", "sd-r6", "sd-r8"] if any((model, t, v) in svg_data for t in tasks)]
        if series:
            path = "%saccuracy-%s.svg" % (a.svg_prefix, model)
            labels = dict(LABEL, **{"sd-r%s" % r: "step-down 8→%s" % r for r in "2468"})
            labels["data"] = {(TASK_LABEL.get(t, t), v): svg_data[(model, t, v)] for t in tasks for v in series if (model, t, v) in svg_data}
            svg_bars(path, "%s: test accuracy (mean ± std over seeds)" % model, [TASK_LABEL.get(t, t) for t in tasks], series, labels)
            rel = os.path.relpath(path, os.path.dirname(a.out) or ".")
            md.append("![test accuracy, %s](%s)\n" % (model, rel))

    # pooled over every (model, task, seed) pair: more power than 3-5 seeds of one task, at the price of mixing tasks
    for v in ("cola2", "cola3"):
        pv_ = pooled_line(allres, v, "lora")
        if pv_:
            verdicts.append("- **Pooled over " + pv_)
    md.insert(md.index("## How to regenerate\n"), "## Verdict (COLA vs LoRA, paired t-test over seeds, two-sided)\n\n" + ("\n".join(verdicts) if verdicts else
              "No task has both LoRA and COLA results yet.") + "\n\n" + claims(allres, flops))
    total = 0.0
    for f in glob.glob(os.path.join(runs, "*", "*", "*", "lr-*", "*", "metrics.jsonl")):
        for line in open(f):
            if '"test_loss"' in line:
                total += json.loads(line).get("seconds", 0.0)
    md.append("Training + evaluation time of all finished runs (cola's `seconds`, JVM start and data loading excluded): "
              "%.1f h.\n" % (total / 3600))
    failed = failed_runs(runs)
    md.append("## Not run / incomplete\n")
    if not not_run and not failed:
        md.append("Everything in the plan above finished.\n")
    for x in not_run:
        md.append("- " + x)
    for f, why in failed:
        md.append("- FAILED: `%s` — %s" % (f, why))
    md.append("")
    log = os.path.join(runs, "commands.log")
    if os.path.exists(log):
        cmds = []
        for l in open(log):
            l = l.strip()
            if l.startswith("java ") and l not in cmds:
                cmds.append(l)
        md.append("## Exact cola commands (%d)\n" % len(cmds))
        md.append("<details><summary>show</summary>\n\n```")
        md += cmds
        md.append("```\n</details>\n")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    open(a.out, "w").write("\n".join(md) + "\n")
    print("wrote", a.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select")
    s.add_argument("variant_dir")
    w = sub.add_parser("write")
    w.add_argument("--runs", default="bench/repro/results")
    w.add_argument("--out", default="docs/REPRODUCTION.md")
    w.add_argument("--svg-prefix", default="docs/repro/")
    w.add_argument("--budget", default="reduced")
    w.add_argument("--quick", action="store_true")
    w.add_argument("--command", default="bench/repro/reproduce.sh")
    w.add_argument("--notes", default="bench/repro/CAVEATS.md", help="Markdown included before the hardware section")
    a = ap.parse_args()
    if a.cmd == "select":
        lr = select(a.variant_dir)
        if lr is None:
            sys.exit(1)
        print(lr)
    else:
        write(a)


if __name__ == "__main__":
    main()
