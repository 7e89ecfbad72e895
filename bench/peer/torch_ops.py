#!/usr/bin/env python3
"""PyTorch peer for cola's op benchmarks: the same shapes as bench/java/cola/bench/*Bench.java, fp32, median of N runs.

Run with Debian's torch (not the pyenv python first on PATH), 2 threads and a CPU-aware OpenBLAS, as REFERENCE.md §5:
  OMP_NUM_THREADS=2 OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peer/torch_ops.py
Prints one line per op: name, median ms, and the rate derived like the Java side (GFLOP/s or GB/s).
"""
import statistics
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)


def median_ms(fn, warmup=3, runs=15):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def report(name, ms, flops=None, bytes_=None):
    rate = ""
    if flops:
        rate = f"{flops / ms / 1e6:.1f} GFLOP/s"
    if bytes_:
        rate = f"{bytes_ / ms / 1e6:.1f} GB/s"
    print(f"{name:48s} {ms:9.3f} ms   {rate}", flush=True)


def main():
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, BLAS: {torch.__config__.show().count('BLAS')>0}")
    # GEMM x·Wᵀ
    for m, n, k in [(1024, 768, 768), (4096, 768, 768), (4096, 3072, 768), (2048, 2048, 2048)]:
        x, w = torch.randn(m, k), torch.randn(n, k)
        out = torch.empty(m, n)
        report(f"gemm {m}x{n}x{k}", median_ms(lambda: torch.matmul(x, w.t(), out=out)), flops=2 * m * n * k)
    # LoRA linear, PEFT's formulation: base(x) + B(A(x))·s, forward and backward (grads for A, B, x)
    for m, k, n in [(1024, 768, 768), (4096, 768, 768), (4096, 384, 384)]:
        r = 8
        x = torch.randn(m, k, requires_grad=True)
        w, b = torch.randn(n, k) * 0.05, torch.randn(n) * 0.1
        a = (torch.randn(r, k) * 0.05).requires_grad_()
        bm = (torch.randn(n, r) * 0.05).requires_grad_()
        dy = torch.randn(m, n)

        def fwd():
            with torch.no_grad():
                return torch.nn.functional.linear(x, w, b) + torch.nn.functional.linear(torch.nn.functional.linear(x, a), bm) * 2.0

        def fwd_bwd():
            y = torch.nn.functional.linear(x, w, b) + torch.nn.functional.linear(torch.nn.functional.linear(x, a), bm) * 2.0
            y.backward(dy)

        report(f"lora_linear fwd {m}x{k}x{n} r8", median_ms(fwd), flops=2 * m * n * k)
        report(f"lora_linear fwd+bwd {m}x{k}x{n} r8", median_ms(fwd_bwd), flops=4 * m * n * k)
    # LayerNorm forward, 4096x768
    for rows, c in [(4096, 768), (4096, 384)]:
        x = torch.randn(rows, c)
        ln = torch.nn.LayerNorm(c)
        with torch.no_grad():
            report(f"layernorm fwd {rows}x{c}", median_ms(lambda: ln(x)), bytes_=2 * 4 * rows * c)
    # GELU forward 4096x3072
    x = torch.randn(4096, 3072)
    report("gelu(erf) fwd 4096x3072", median_ms(lambda: torch.nn.functional.gelu(x)), bytes_=2 * 4 * x.numel())
    report("gelu(tanh) fwd 4096x3072", median_ms(lambda: torch.nn.functional.gelu(x, approximate="tanh")), bytes_=2 * 4 * x.numel())
    # attention (torch 1.13 has no fused SDPA: matmul + softmax + matmul), OPT-125m shape, causal
    B, T, H, D = 8, 128, 12, 64
    q, k_, v = (torch.randn(B, H, T, D, requires_grad=True) for _ in range(3))
    mask = torch.full((T, T), float("-inf")).triu(1)

    def att():
        s = q @ k_.transpose(-1, -2) / D ** 0.5 + mask
        return torch.softmax(s, -1) @ v

    with torch.no_grad():
        report("attention fwd B8 T128 H12 D64 causal", median_ms(att), flops=4 * B * H * T * T * D)
    dout = torch.randn(B, H, T, D)
    report("attention fwd+bwd B8 T128 H12 D64 causal", median_ms(lambda: att().backward(dout)), flops=14 * B * H * T * T * D)
    # cross-entropy forward+backward over the OPT vocabulary
    for n in [1024]:
        logits = torch.randn(n, 50272, requires_grad=True)
        tgt = torch.randint(0, 50272, (n,))
        report(f"xent fwd+bwd {n}x50272",
               median_ms(lambda: torch.nn.functional.cross_entropy(logits, tgt).backward(), runs=7),
               bytes_=3 * 4 * n * 50272)
    # AdamW over OPT-125m's LoRA set (12 layers x q,v x (A[8,768] + B[768,8]))
    params = [torch.randn(8, 768, requires_grad=True) for _ in range(24)] + [torch.randn(768, 8, requires_grad=True) for _ in range(24)]
    for p in params:
        p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW(params, lr=1e-3, foreach=False)
    report("adamw step lora set (48 tensors)", median_ms(opt.step), bytes_=7 * 4 * sum(p.numel() for p in params))
    # merge W += s·B·A (768x768, r=8)
    wm, am, bmm = torch.randn(768, 768), torch.randn(8, 768), torch.randn(768, 8)
    report("merge f32 768x768 r8 (addmm_)", median_ms(lambda: wm.addmm_(bmm, am, alpha=2.0)), bytes_=2 * 4 * 768 * 768)


if __name__ == "__main__":
    main()
