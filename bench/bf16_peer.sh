#!/usr/bin/env bash
# The bf16 engine against PyTorch, side by side, interleaved, one process at a time (2 OpenMP threads each): the rows
# of bench/RESULTS.md "bf16 engine". For each shape: cola f32, cola bf16, PyTorch fp32 (OPT only), PyTorch bf16
# autocast, repeated ROUNDS times in that order so drift on a shared machine hits every side alike.
#   bash bench/bf16_peer.sh                 # both shapes, 2 rounds (~25 min on the 2-core dev machine)
#   SHAPES=opt ROUNDS=1 bash bench/bf16_peer.sh
# Needs Debian's python3-torch (+ libopenblas0-pthread) for the peer; builds the TinyLlama-shape folder with cola init
# on first use (2.2 GB, ~1 min) and the OPT-125m-shape folder with the peer's --make-only.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-/tmp/cola-models}
ROUNDS=${ROUNDS:-2}
SHAPES=${SHAPES:-"opt llama"}
STEPS=${STEPS:-3}
export OMP_NUM_THREADS=2
[ -f target/cola.jar ] || mvn -B -ntp -q -DskipTests package
mvn -B -ntp -q -o -DskipTests test-compile >/dev/null 2>&1 || mvn -B -ntp -q -DskipTests test-compile
CP=target/cola.jar:target/test-classes
PEER="env OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peer/torch_model.py"
mkdir -p "$MODELS"
if [[ " $SHAPES " == *" llama "* && ! -f "$MODELS/tinyllama-shape/model.safetensors" ]]; then
  java -jar target/cola.jar init --family llama --tokenizer tests/resources/tokenizer/gpt2 --vocab 32000 --hidden 2048 \
    --layers 22 --heads 32 --kv-heads 4 --ffn 5632 --max-positions 2048 --dtype bf16 --out "$MODELS/tinyllama-shape"
fi
if [[ " $SHAPES " == *" opt "* ]]; then $PEER --family opt --dir "$MODELS" --make-only; fi
for round in $(seq 1 "$ROUNDS"); do
  for shape in $SHAPES; do
    echo "== round $round, $shape"
    if [ "$shape" = opt ]; then
      dir="$MODELS/opt-125m-random"; b=8
      java -cp $CP cola.bench.ModelThroughput "$dir" $b 128 "$STEPS" --dtype f32 | tail -1
      java -cp $CP cola.bench.ModelThroughput "$dir" $b 128 "$STEPS" --dtype bf16 | tail -1
      $PEER --family opt --dir "$MODELS" --batch $b --steps "$STEPS" --flush-denormal | tail -1
      $PEER --family opt --dir "$MODELS" --batch $b --steps "$STEPS" --dtype bf16 | tail -1
    else
      dir="$MODELS/tinyllama-shape"; b=4
      java -cp $CP cola.bench.ModelThroughput "$dir" $b 128 "$STEPS" --dtype f32 | tail -1
      java -cp $CP cola.bench.ModelThroughput "$dir" $b 128 "$STEPS" --dtype bf16 | tail -1
      $PEER --family llama --model "$dir" --batch $b --steps "$STEPS" --dtype bf16 | tail -1
    fi
  done
done
