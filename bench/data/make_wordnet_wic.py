#!/usr/bin/env python3
"""Builds a WiC-style word-in-context task from the example sentences of WordNet 3.0.

Source:  Debian package `wordnet-base` (apt-get -y install wordnet-base), files /usr/share/wordnet/{index,data}.{noun,verb,
         adj,adv} and the morphological exception lists {noun,verb,adj,adv}.exc.
Licence: WordNet 3.0 licence (Princeton University, permissive, keep the copyright notice and disclaimer with every copy;
         /usr/share/doc/wordnet-base/copyright). The output's NOTICE quotes it.
Output:  <out>/train.jsonl and <out>/validation.jsonl (default out: java/cola/data/tasks/wordnet-wic), UTF-8, one example
         a line, keys in this order:
           word, pos (n|v|a|r), sentence1, sentence2, start1, end1, start2, end2 (character span of the matched form of
           `word` in each sentence, end exclusive, as SuperGLUE WiC), label (1 = same synset, 0 = different synsets),
           text ("<word>: <sentence1>") and text_pair (sentence2) for cola's generic pair encoder.

How an example is made (WiC, Pilehvar & Camacho-Collados 2019, was itself built partly from WordNet's examples):
  * A candidate is a single-word lemma (lower-case letters only) of a part of speech that has >= 2 synsets in index.<pos>.
  * A synset's examples are the double-quoted strings of its gloss. An example serves lemma w of synset S when it contains
    w or an inflected form of w as a whole token (tokens: letters with inner ' or - ; a hyphenated compound such as
    "dog-eared" does not contain "dog"; a trailing 's is stripped). Inflected forms: the exception lists read backwards
    (irregular forms, e.g. went -> go, mice -> mouse) plus regular rules: nouns -s/-es/-ies; verbs -s/-es/-ies, -ed/-d/
    -ied, -ing/e-drop -ing, final-consonant doubling (-tted, -tting); adjectives -er/-est/-r/-st/-ier/-iest; adverbs base
    form and adv.exc only. No lemmatiser, no POS tagger: a form is accepted if it is in the set, so over-generated forms
    ("visitted") just never match. A capitalised match counts only as the sentence's first token or an all-caps token.
  * Dropped: examples with fewer than --min-tokens (4) tokens; examples that also contain another member lemma of S (then the example
    may illustrate that other word, e.g. "bank" inside "bank building"); examples whose exact text occurs in two synsets
    of the same lemma (contradictory); members that are capitalised in the data file (proper nouns).
  * label 1: two different examples of the same synset, both serving w. label 0: examples of two different synsets of w
    with the same POS. As WiC prunes too-fine sense distinctions, a negative pair is dropped when the two synsets are
    directly linked by any WordNet pointer or are sisters (share a direct hypernym); --no-prune keeps them.
  * Balance: for each (lemma, POS), n = min(#positives, #negatives, --cap) positives and n negatives are drawn, so every
    split is exactly balanced and the word alone says nothing about the label. Positives are drawn round-robin over
    synsets; negatives prefer sentences not yet used. Sentence order in a pair is a coin flip. No unordered sentence
    pair appears twice in the whole output.
  * Split by lemma string (across POS): the lemmas are shuffled with --seed and assigned to validation until it holds
    >= --val-fraction of all pairs; no target word is in both files.

  apt-get -y install wordnet-base
  python3 bench/data/make_wordnet_wic.py                      # writes java/cola/data/tasks/wordnet-wic/*.jsonl
  python3 bench/data/make_wordnet_wic.py --pos nv --out /tmp/wic-nv   # nouns and verbs only, as the real WiC

Deterministic: same WordNet files + same arguments -> byte-identical output (Python's random.Random with a fixed seed,
every iteration over sorted keys).
"""
import argparse
import collections
import json
import os
import random
import re
import sys

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
TOKEN = re.compile(r"[A-Za-z]+(?:['\u2019-][A-Za-z]+)*")
LEMMA_OK = re.compile(r"^[a-z]+$")
VOWELS = set("aeiou")


def parse_data(path, pos):
    """synset offset -> dict(lex, words[(form, lower)], ptrs[(symbol, offset, pos)], examples[str])"""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  "):
                continue  # licence header
            head, _, gloss = line.partition(" | ")
            t = head.split()
            off, lex = t[0], int(t[1])
            n = int(t[3], 16)
            words = []
            for i in range(n):
                w = re.sub(r"\(.*\)$", "", t[4 + 2 * i])  # adjective markers (a) (p) (ip)
                words.append((w, w.lower()))
            k = 4 + 2 * n
            pc = int(t[k])
            ptrs = [(t[k + 1 + 4 * j], t[k + 2 + 4 * j], t[k + 3 + 4 * j]) for j in range(pc)]
            examples = [e.strip() for e in re.findall(r'"([^"]+)"', gloss)]
            out[off] = {"lex": lex, "words": words, "ptrs": ptrs, "examples": examples, "pos": pos}
    return out


def parse_index(path):
    """lemma -> [synset offsets] (sense order)"""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  "):
                continue
            t = line.split()
            lemma, n, p = t[0], int(t[2]), int(t[3])
            out[lemma] = t[4 + p + 2:4 + p + 2 + n]
    return out


def parse_exc(path):
    """base -> {irregular inflected forms}"""
    inv = collections.defaultdict(set)
    with open(path, encoding="utf-8") as f:
        for line in f:
            t = line.split()
            for base in t[1:]:
                inv[base].add(t[0])
    return inv


def regular_forms(w, pos):
    f = {w}
    cons_y = len(w) > 1 and w.endswith("y") and w[-2] not in VOWELS
    sib = w.endswith(("s", "x", "z", "ch", "sh"))
    if pos == "n" or pos == "v":
        f.add(w[:-1] + "ies" if cons_y else w + ("es" if sib else "s"))
    if pos == "v":
        if w.endswith("e"):
            f.update({w + "d", w[:-1] + "ing"})
        elif cons_y:
            f.update({w[:-1] + "ied", w + "ing"})
        else:
            f.update({w + "ed", w + "ing"})
        if len(w) >= 3 and w[-1] not in VOWELS | set("wxy") and w[-2] in VOWELS and w[-3] not in VOWELS:
            f.update({w + w[-1] + "ed", w + w[-1] + "ing"})  # stop -> stopped, also over-generates (visitted)
    if pos == "a":
        if w.endswith("e"):
            f.update({w + "r", w + "st"})
        elif cons_y:
            f.update({w[:-1] + "ier", w[:-1] + "iest"})
        else:
            f.update({w + "er", w + "est"})
            if len(w) >= 3 and w[-1] not in VOWELS | set("wxy") and w[-2] in VOWELS and w[-3] not in VOWELS:
                f.update({w + w[-1] + "er", w + w[-1] + "est"})  # big -> bigger
    return f


def tokens(s):
    for m in TOKEN.finditer(s):
        tok, start, end = m.group(0), m.start(), m.end()
        if tok.lower().endswith(("'s", "\u2019s")):
            tok, end = tok[:-2], end - 2
        yield tok, start, end


def find(sentence, forms):
    """(start, end) of the first token whose lower case is in forms, None if absent"""
    for i, (tok, s, e) in enumerate(tokens(sentence)):
        low = tok.lower()
        if low in forms and (tok == low or i == 0 or tok.isupper()):
            return s, e
    return None


def contains_phrase(sentence, phrase_forms):
    low = " " + " ".join(t.lower() for t, _, _ in tokens(sentence)) + " "
    return any(" " + p + " " in low for p in phrase_forms)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wordnet", default="/usr/share/wordnet", help="WordNet dict folder (default %(default)s)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "java", "cola",
                                                  "data", "tasks", "wordnet-wic"))
    ap.add_argument("--pos", default="nvar", help="parts of speech to use, subset of nvar (default %(default)s)")
    ap.add_argument("--cap", type=int, default=8, help="max positives (= negatives) per lemma and POS (default 8)")
    ap.add_argument("--val-fraction", type=float, default=0.25, help="share of pairs in validation (default 0.25)")
    ap.add_argument("--min-tokens", type=int, default=4, help="drop examples shorter than this (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-prune", action="store_true", help="keep negatives between linked or sister synsets")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.wordnet, "data.noun")):
        sys.exit("no WordNet at %s: apt-get -y install wordnet-base" % args.wordnet)

    stats = collections.Counter()
    rng = random.Random(args.seed)
    pairs = []  # (lemma, pos, s1, s2, label)
    senses_hist = collections.Counter()
    seen_pairs = set()
    for pos in args.pos:
        name = POS_FILES[pos]
        data = parse_data(os.path.join(args.wordnet, "data." + name), pos)
        index = parse_index(os.path.join(args.wordnet, "index." + name))
        exc = parse_exc(os.path.join(args.wordnet, name + ".exc"))
        hypers = {o: {p[1] for p in d["ptrs"] if p[0] in ("@", "@i") and p[2] == pos} for o, d in data.items()}
        linked = {o: {p[1] for p in d["ptrs"]} for o, d in data.items()}
        forms_cache = {}

        def forms_of(w):
            if w not in forms_cache:
                forms_cache[w] = regular_forms(w, pos) | exc.get(w, set())
            return forms_cache[w]

        stats["examples_" + pos] = sum(len(d["examples"]) for d in data.values())
        for lemma in sorted(index):
            offs = index[lemma]
            if len(offs) < 2:
                continue
            if not LEMMA_OK.match(lemma):
                stats["lemma_not_single_lowercase_word"] += 1
                continue
            stats["lemmas_polysemous_" + pos] += 1
            forms = forms_of(lemma)
            by_syn = {}  # offset -> [(sentence, span)]
            sent_syns = collections.defaultdict(set)
            for o in offs:
                d = data[o]
                member = [w for w, low in d["words"] if low == lemma]
                if member and all(w != lemma for w in member):
                    stats["synset_dropped_proper_noun_member"] += 1
                    continue
                others = [low for w, low in d["words"] if low != lemma]
                other_forms = set()
                for ow in others:
                    if "_" in ow or "-" in ow:
                        other_forms.add(ow.replace("_", " ").replace("-", " "))
                    else:
                        other_forms |= forms_of(ow)
                keep = []
                for ex in d["examples"]:
                    span = find(ex, forms)
                    if span is None:
                        stats["example_without_target"] += 1
                        continue
                    if sum(1 for _ in tokens(ex)) < args.min_tokens:
                        stats["example_too_short"] += 1
                        continue
                    if contains_phrase(ex, other_forms):
                        stats["example_contains_other_member"] += 1
                        continue
                    tok = ex[span[0]:span[1]].lower()
                    stats["match_base" if tok == lemma else "match_inflected"] += 1
                    keep.append((ex, span))
                    sent_syns[ex].add(o)
                if keep:
                    by_syn[o] = keep
            for o in list(by_syn):
                ok = [(s, sp) for s, sp in by_syn[o] if len(sent_syns[s]) == 1]
                stats["example_in_two_synsets"] += len(by_syn[o]) - len(ok)
                # the same sentence twice in one synset's gloss counts once
                uniq = list(collections.OrderedDict((s, sp) for s, sp in ok).items())
                if uniq:
                    by_syn[o] = uniq
                else:
                    del by_syn[o]
            if len(by_syn) < 2:
                stats["lemma_dropped_lt2_synsets_with_examples"] += 1
                continue
            syns = sorted(by_syn)
            pos_by_syn = {}
            for o in syns:
                ex = by_syn[o]
                pos_by_syn[o] = [(ex[i], ex[j]) for i in range(len(ex)) for j in range(i + 1, len(ex))]
            neg = []
            for a in range(len(syns)):
                for b in range(a + 1, len(syns)):
                    oa, ob = syns[a], syns[b]
                    if not args.no_prune and (ob in linked[oa] or oa in linked[ob] or hypers[oa] & hypers[ob]):
                        stats["negative_pairs_pruned_linked_or_sister"] += len(by_syn[oa]) * len(by_syn[ob])
                        continue
                    neg += [(x, y) for x in by_syn[oa] for y in by_syn[ob]]
            n_pos = sum(len(v) for v in pos_by_syn.values())
            stats["candidate_positive_pairs"] += n_pos
            stats["candidate_negative_pairs"] += len(neg)
            n = min(n_pos, len(neg), args.cap)
            if n == 0:
                stats["lemma_dropped_no_positive_or_no_negative"] += 1
                continue
            # positives: round-robin over synsets
            queues = [rng.sample(pos_by_syn[o], len(pos_by_syn[o])) for o in syns if pos_by_syn[o]]
            chosen_pos = []
            while len(chosen_pos) < n:
                for q in queues:
                    if q and len(chosen_pos) < n:
                        chosen_pos.append(q.pop())
            # negatives: prefer pairs whose sentences are unused so far
            rng.shuffle(neg)
            used = {s for p in chosen_pos for s, _ in p}
            fresh = [p for p in neg if p[0][0] not in used and p[1][0] not in used]
            chosen_neg = []
            for p in fresh + [p for p in neg if p not in fresh]:
                if len(chosen_neg) == n:
                    break
                if p in chosen_neg:
                    continue
                chosen_neg.append(p)
                used.update((p[0][0], p[1][0]))
            stats["lemma_pos_used"] += 1
            senses_hist[len(syns)] += 1
            for label, group in ((1, chosen_pos), (0, chosen_neg)):
                for x, y in group:
                    key = frozenset((x[0], y[0]))
                    if key in seen_pairs or x[0] == y[0]:
                        stats["pair_dropped_duplicate"] += 1
                        continue
                    seen_pairs.add(key)
                    if rng.random() < 0.5:
                        x, y = y, x
                    pairs.append((lemma, pos, x, y, label))

    # split by lemma string
    by_lemma = collections.defaultdict(list)
    for p in pairs:
        by_lemma[p[0]].append(p)
    lemmas = sorted(by_lemma)
    rng.shuffle(lemmas)
    val, train = [], []
    for w in lemmas:
        (val if len(val) < args.val_fraction * len(pairs) else train).extend(by_lemma[w])
    rng.shuffle(train)
    rng.shuffle(val)
    os.makedirs(args.out, exist_ok=True)
    for name, part in (("train", train), ("validation", val)):
        with open(os.path.join(args.out, name + ".jsonl"), "w", encoding="utf-8") as f:
            for lemma, pos, (s1, sp1), (s2, sp2), label in part:
                row = {"word": lemma, "pos": pos, "sentence1": s1, "sentence2": s2, "start1": sp1[0], "end1": sp1[1],
                       "start2": sp2[0], "end2": sp2[1], "label": label, "text": lemma + ": " + s1, "text_pair": s2}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tr_l, va_l = {p[0] for p in train}, {p[0] for p in val}
    assert not tr_l & va_l
    print("drop/keep counters:")
    for k in sorted(stats):
        print("  %-45s %d" % (k, stats[k]))
    print("senses with usable examples per used (lemma, POS): " +
          ", ".join("%d:%d" % kv for kv in sorted(senses_hist.items())))
    for name, part, ls in (("train", train, tr_l), ("validation", val, va_l)):
        lab = collections.Counter(p[4] for p in part)
        pc = collections.Counter(p[1] for p in part)
        print("%-10s %5d pairs  label1 %d / label0 %d  lemmas %d  by POS %s  sentences %d" % (
            name, len(part), lab[1], lab[0], len(ls), dict(sorted(pc.items())),
            len({s for p in part for s in (p[2][0], p[3][0])})))
    print("->", os.path.normpath(args.out))


if __name__ == "__main__":
    main()
