#!/usr/bin/env python3
"""Prints the median (p0.50) of every JMH SampleTime result in the given JSON files, one line per benchmark+params."""
import json
import sys

for path in sys.argv[1:]:
    for r in json.load(open(path)):
        name = r["benchmark"].replace("cola.bench.", "")
        params = ",".join(f"{k}={v}" for k, v in sorted((r.get("params") or {}).items()))
        m = r["primaryMetric"]
        p50 = m.get("scorePercentiles", {}).get("50.0", m["score"])
        print(f"{name:45s} {params:40s} p50 {p50:10.4f} {m['scoreUnit']}  (n={m.get('scoreNumSamples', '?')})")
