#!/usr/bin/env bash
# The JMH suite behind bench/RESULTS.md: each op family with the shapes the table quotes, one JSON file per family,
# then a summary of the medians. Run on a quiet machine (the numbers are medians, but 2 shared cores are noisy).
#   bash bench/run-jmh.sh            # ~15 min on the 2-core dev machine
#   OUT=/tmp/jmh bash bench/run-jmh.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/jmh}
mkdir -p "$OUT"
mvn -B -ntp -q -DskipTests package
run() {
  local name=$1; shift
  echo "== $name: $*"
  mvn -B -ntp -q -Pbench exec:exec -Djmh.args="$* -f 1 -wi 2 -i 5 -r 1 -w 1 -rf json -rff $OUT/$name.json" > "$OUT/$name.log" 2>&1 \
    || { echo "jmh $name failed, see $OUT/$name.log"; exit 1; }
}
run memcpy MemcpyBench
run gemm GemmBench
run lora LoraLinearBench
run merge "MergeBench -p r=8,64 -p shape=768x768,3072x768"
run norm "NormBench -p nc=4096x768,4096x384"
run activation "ActivationBench -p shape=4096x3072"
run attention AttentionBench
run xent "XentBench -p n=1024"
run embedding "EmbeddingBench -p n=4096"
run rope "RopeBench"
run dropout "DropoutBench -p n=12582912"
run convert "ConvertBench -p n=16777216"
run optim OptimBench
python3 bench/jmh_summary.py "$OUT"/*.json | tee "$OUT/summary.txt"
