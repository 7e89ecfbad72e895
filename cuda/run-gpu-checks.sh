#!/usr/bin/env bash
# GPU checks for libcola_cuda on a machine with CMake, nvcc and g++ (Java/Maven NOT needed):
#   configure + build with -DCOLA_REQUIRE_CUDA=ON, run `ctest -L gpu` (test_cuda_parity: every CUDA kernel against
#   libcola_cpu), then the kernel benchmark (`test_cuda_parity bench`), and print a summary. Logs go to $OUT if set.
#
# libcola_cpu links oneDNN (libdnnl.so.3 + include/). The script looks, in order, for:
#   1. $COLA_DNNL_ROOT;
#   2. target/deps/dnnl/org/bytedeco/dnnl/linux-x86_64 (what `mvn compile` unpacks from org.bytedeco:dnnl) — the lead
#      can carry that folder to the GPU machine, BUT libdnnl.so.3 is ~86 MB, above a 64 MiB carry limit;
#   3. otherwise it builds cuda/test/dnnl_shim (a naive dnnl_sgemm + dnnl_version, the only two symbols libcola_cpu
#      uses) as libdnnl.so.3: a slower but exact CPU reference, enough for parity. This is the default on a bare box.
# Usage: cuda/run-gpu-checks.sh [build-dir]     (env: OUT, COLA_DNNL_ROOT, CUDA_HOME, JOBS)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-$ROOT/target/gpu-build}
LOGDIR=${OUT:-$BUILD/logs}
mkdir -p "$BUILD" "$LOGDIR"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
log() { echo "[gpu-checks] $*" | tee -a "$LOGDIR/summary.txt"; }
: > "$LOGDIR/summary.txt"

if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi 2>&1 | tee "$LOGDIR/nvidia-smi.txt" || true; else log "no nvidia-smi"; fi
for d in "${CUDA_HOME:-}" /usr/local/cuda /usr/local/cuda-13.0 /usr/local/cuda-12; do
  if [ -n "$d" ] && [ -x "$d/bin/nvcc" ]; then export PATH="$d/bin:$PATH"; break; fi
done
command -v nvcc >/dev/null || { log "FAIL: nvcc not found (set CUDA_HOME)"; exit 2; }
log "nvcc: $(nvcc --version | tail -1); cmake: $(cmake --version | head -1); g++: $(g++ -dumpfullversion)"

DNNL=${COLA_DNNL_ROOT:-}
if [ -z "$DNNL" ] && [ -f "$ROOT/target/deps/dnnl/org/bytedeco/dnnl/linux-x86_64/libdnnl.so.3" ]; then
  DNNL=$ROOT/target/deps/dnnl/org/bytedeco/dnnl/linux-x86_64
fi
if [ -z "$DNNL" ] || [ ! -f "$DNNL/libdnnl.so.3" ]; then
  DNNL=$BUILD/dnnl-shim
  mkdir -p "$DNNL"
  cp -r "$ROOT/cuda/test/dnnl_shim/include" "$DNNL/"
  g++ -O2 -fopenmp -fPIC -shared -Wl,-soname,libdnnl.so.3 -I"$DNNL/include" \
      "$ROOT/cuda/test/dnnl_shim/dnnl_shim.cpp" -o "$DNNL/libdnnl.so.3"
  log "oneDNN not found: using the naive dnnl shim at $DNNL"
else
  log "oneDNN: $DNNL"
fi

log "configure"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCOLA_DNNL_ROOT="$DNNL" -DCOLA_REQUIRE_CUDA=ON \
      -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" > "$LOGDIR/configure.log" 2>&1 || { tail -30 "$LOGDIR/configure.log"; log "FAIL: configure"; exit 2; }
log "build (-j$JOBS)"
cmake --build "$BUILD" -j"$JOBS" > "$LOGDIR/build.log" 2>&1 || { grep -E "error|Error" "$LOGDIR/build.log" | head -40; log "FAIL: build"; exit 2; }
grep -i "warning" "$LOGDIR/build.log" | head -20 || true

log "ctest -L gpu (verbose: the parity lines land in parity.log)"
set +e
(cd "$BUILD" && ctest -L gpu -V --timeout 1500) > "$LOGDIR/parity.log" 2>&1
CT=$?
"$BUILD/test_cuda_parity" bench > "$LOGDIR/bench.log" 2>&1
BR=$?
set -e
grep -E "FAIL|SKIP" "$LOGDIR/parity.log" | head -80 | tee -a "$LOGDIR/summary.txt" || true
log "parity: $(grep -E '[0-9]+ passed, [0-9]+ failed' "$LOGDIR/parity.log" | tail -1) (ctest exit $CT)"
tee -a "$LOGDIR/summary.txt" < "$LOGDIR/bench.log"
log "bench exit $BR"
[ "$CT" -eq 0 ] && [ "$BR" -eq 0 ]
