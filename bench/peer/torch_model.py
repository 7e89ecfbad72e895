#!/usr/bin/env python3
"""End-to-end LoRA training-step throughput, PyTorch side, and the random full-size models both sides load.

  OMP_NUM_THREADS=2 OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peer/torch_model.py --family opt --dir /tmp/cola-models
  OMP_NUM_THREADS=2 OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peer/torch_model.py --family opt --dtype bf16
  OMP_NUM_THREADS=2 OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peer/torch_model.py --family llama \
      --model /tmp/cola-models/tinyllama-shape --batch 4 --dtype bf16

--dtype bf16 is what PyTorch users run on a bf16 checkpoint: the frozen weights held in bf16 (a BF16 file is read as
bf16, never widened), the forward under torch.autocast("cpu", dtype=torch.bfloat16), the loss in fp32, LoRA leaves and
AdamW in fp32, flush-denormal on. --family llama reads an existing Llama-architecture folder (--model, e.g. one that
`cola init --family llama --dtype bf16` wrote).

Creates (once) a random OPT-125m-shaped (12 layers, hidden 768, ffn 3072, vocab 50272) or BERT-base-shaped
(BertForSequenceClassification, 2 labels) HF folder under --dir, then times one LoRA training step — forward, loss,
backward, AdamW on the adapters — with r = 8, alpha = 16 on the query/value projections, B = 8, T = 128, fp32, no
dropout. The model is tests/golden/make_golden.py's eager implementation (HF's eager semantics) in fp32, with
PyTorch's fused F.linear / F.layer_norm as HF's modules use them (FastCtx).
Prints the median step time, tokens/s and peak RSS. cola's side: cola.bench.ModelThroughput on the same folder.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden"))
import make_golden as mg  # noqa: E402

mg.D = torch.float32  # generate and compute in fp32

OPT_125M = {
    "architectures": ["OPTForCausalLM"], "model_type": "opt", "torch_dtype": "float32", "vocab_size": 50272,
    "hidden_size": 768, "num_hidden_layers": 12, "ffn_dim": 3072, "num_attention_heads": 12,
    "max_position_embeddings": 2048, "word_embed_proj_dim": 768, "do_layer_norm_before": True,
    "enable_bias": True, "layer_norm_elementwise_affine": True, "activation_function": "relu",
    "pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 2, "tie_word_embeddings": True,
}
BERT_BASE = {
    "architectures": ["BertForSequenceClassification"], "model_type": "bert", "torch_dtype": "float32",
    "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
    "hidden_act": "gelu", "num_labels": 2, "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
    "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
}


class FastCtx(mg.Ctx):
    """make_golden's eager model with PyTorch's fused building blocks, as HF's modules use them: F.linear (addmm with
    bias), F.layer_norm, LoRA only where an adapter sits, and no recorded attention probabilities."""

    def linear(self, x, path, bias=True):
        y = torch.nn.functional.linear(x, self.P[path + ".weight"], self.P[path + ".bias"] if bias else None)
        if self.lora is not None and path in self.lora.mods:
            A = self.L[f"base_model.model.{path}.lora_A.weight"]
            B = self.L[f"base_model.model.{path}.lora_B.weight"]
            y = y + self.lora.scaling * torch.nn.functional.linear(torch.nn.functional.linear(x, A), B)
        return y

    def ln(self, x, path, eps):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.P[path + ".weight"], self.P[path + ".bias"], eps)

    def rms(self, x, path, eps):  # LlamaRMSNorm: statistics in fp32, the result back in the input dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        return self.P[path + ".weight"] * h.to(x.dtype)

    def attend(self, q, k, v, allowed, scale):
        s = (q @ k.transpose(-1, -2)) * scale
        s = s.masked_fill(~allowed, float("-inf"))
        return torch.softmax(s, dim=-1) @ v


def make_folder(family, root):
    cfg = OPT_125M if family == "opt" else BERT_BASE
    path = os.path.join(root, "opt-125m-random" if family == "opt" else "bert-base-random")
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return path, cfg
    os.makedirs(path, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    P = mg.opt_params(cfg, g) if family == "opt" else mg.bert_params(cfg, g, "cls")
    mg.save_safetensors(os.path.join(path, "model.safetensors"), P, metadata={"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    print(f"wrote {path}", flush=True)
    return path, cfg


def read_folder(path, keep_bf16):
    """config.json + model.safetensors as torch tensors, one tensor at a time (no whole-file copy): BF16 stays bf16
    when keep_bf16, else everything is widened to fp32."""
    import struct
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    P = {}
    with open(os.path.join(path, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        base = 8 + n
        for k, v in h.items():
            if k == "__metadata__":
                continue
            b, e = v["data_offsets"]
            f.seek(base + b)
            raw = bytearray(f.read(e - b))
            if v["dtype"] == "F32":
                t = torch.frombuffer(raw, dtype=torch.float32)
            elif v["dtype"] == "BF16":
                t = torch.frombuffer(raw, dtype=torch.bfloat16)
            else:
                raise SystemExit(f"{k}: dtype {v['dtype']} not handled by the peer")
            t = t.reshape(v["shape"])
            P[k] = t.to(torch.bfloat16 if keep_bf16 else torch.float32).clone()
            del raw
    return cfg, P


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=["opt", "bert", "llama"], default="opt")
    ap.add_argument("--model", help="an existing HF folder (required for --family llama)")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: frozen weights in bf16 and the forward under CPU autocast (fp32 LoRA leaves and AdamW)")
    ap.add_argument("--dir", default="/tmp/cola-models")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--make-only", action="store_true")
    ap.add_argument("--flush-denormal", action="store_true",
                    help="torch.set_flush_denormal(True): a peaked softmax's gradient tail is denormal and makes the "
                         "next GEMMs ~10x slower (cola flushes that tail in its xent kernel)")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    if a.flush_denormal:
        torch.set_flush_denormal(True)
    bf16 = a.dtype == "bf16"
    if bf16:
        torch.set_flush_denormal(True)
    if a.family == "llama":
        if not a.model:
            raise SystemExit("--family llama needs --model DIR (e.g. from cola init --family llama --dtype bf16)")
        path = a.model
        cfg, P = read_folder(path, bf16)
        cfg.setdefault("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    else:
        path, cfg = make_folder(a.family, a.dir)
        if a.make_only:
            return
        cfg, P = read_folder(path, False)
        if bf16:  # the frozen matrices in bf16, as PyTorch users load a bf16 checkpoint; norms and biases too
            P = {k: v.to(torch.bfloat16) for k, v in P.items()}
    H, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    lora = mg.Lora(8, 16)
    g = torch.Generator().manual_seed(1)
    causal = a.family in ("opt", "llama")
    targets = ("self_attn.q_proj", "self_attn.v_proj") if causal else ("attention.self.query", "attention.self.value")
    prefix = {"opt": "model.decoder.layers", "llama": "model.layers", "bert": "bert.encoder.layer"}[a.family]
    for i in range(L):
        for t in targets:
            out = H
            if a.family == "llama" and t.endswith("v_proj"):
                out = cfg["num_key_value_heads"] * cfg["head_dim"]
            A = torch.empty(8, H).uniform_(-1 / math.sqrt(H), 1 / math.sqrt(H), generator=g)
            lora.mods[f"{prefix}.{i}.{t}"] = [A, torch.zeros(out, 8)]
    leaves = {k: v.clone().float().requires_grad_(True) for k, v in lora.peft_tensors().items()}
    opt = torch.optim.AdamW(list(leaves.values()), lr=1e-4, foreach=False)
    B, T = a.batch, a.seq
    ids = torch.randint(3, cfg["vocab_size"], (B, T), generator=g)
    am = torch.ones(B, T, dtype=torch.long)
    inp = {"input_ids": ids, "attention_mask": am, "token_type_ids": torch.zeros(B, T, dtype=torch.long)}
    labels = torch.randint(0, 2, (B,), generator=g)

    fwd = {"opt": mg.opt_forward, "llama": mg.llama_forward, "bert": mg.bert_cls_forward}[a.family]

    def step():
        c = FastCtx(P, lora, leaves)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = fwd(c, cfg, inp)
        out = out.float()  # the loss in fp32
        loss = mg.causal_lm_loss(out, ids) if causal else mg.cls_loss(out, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__} {a.family} B{B}xT{T} LoRA r8 q,v {a.dtype}{' flush-denormal' if a.flush_denormal or bf16 else ''}: median step {med * 1e3:.1f} ms, "
          f"{B * T / med:.0f} tokens/s, peak RSS {rss:.0f} MB, threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
