#!/usr/bin/python3
"""Golden fixtures for cola: an independent float64 PyTorch re-implementation of
the Hugging Face OPT / Llama / GPT-2 / BERT forward passes with PEFT LoRA adapters.

Run:  OMP_NUM_THREADS=2 /usr/bin/python3 tests/golden/make_golden.py [OUT_DIR]
(default OUT_DIR = tests/resources/golden next to this script's repo root).

No transformers / peft / safetensors packages are used: the model math, the PEFT
adapter layout and the safetensors writer are written here from the HF semantics.
All reference computation is done in float64 from the *stored* weight values
(float32 or bf16, upcast), results stored as float32.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
D = torch.float64
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# --out DIR (default tests/resources/golden); the other arguments name the cases to (re)write (default: all)
_args = sys.argv[1:]
OUT = os.path.join(ROOT, "tests", "resources", "golden")
if "--out" in _args:
    _i = _args.index("--out")
    OUT = _args[_i + 1]
    del _args[_i:_i + 2]

TOL = {"logits_rel": 1e-4, "loss_rel": 1e-4, "grads_rel": 1e-3,
       "rel_definition": "max|got-exp| / max(max|exp|, 1e-6) per tensor"}

CHECKS = []  # (case, name, ok, detail)


def check(case, name, ok, detail=""):
    CHECKS.append((case, name, bool(ok), detail))
    print(f"  [{'PASS' if ok else 'FAIL'}] {case}: {name} {detail}")


# ----------------------------------------------------------------------------- safetensors
def f32_to_bf16_bits(a):
    b = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (b + 0x7FFF + ((b >> 16) & 1)) >> 16  # round to nearest even (no NaNs here)
    return r.astype(np.uint16)


def bf16_bits_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


def round_to(t, dtype):
    """Round a float64 tensor to the stored precision, return float64 of the stored value."""
    a = t.detach().to(torch.float64).numpy().astype(np.float32)
    if dtype == "BF16":
        a = bf16_bits_to_f32(f32_to_bf16_bits(a))
    return torch.from_numpy(a.astype(np.float64))


def save_safetensors(path, tensors, dtype_of=lambda name: "F32", metadata=None):
    """tensors: {name: torch tensor (any float dtype)}. Name order, contiguous, no holes."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dt = dtype_of(name)
        a = tensors[name].detach().to(torch.float64).numpy().astype(np.float32)
        if dt == "F32":
            raw = a.astype("<f4").tobytes()
        elif dt == "BF16":
            raw = f32_to_bf16_bits(a).astype("<u2").tobytes()
        else:
            raise ValueError(dt)
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return off  # payload bytes


def read_safetensors(path):
    """Tiny reader used only to self-check the writer (round trip)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        if v["dtype"] == "F32":
            a = np.frombuffer(data[b:e], dtype="<f4")
        else:
            a = bf16_bits_to_f32(np.frombuffer(data[b:e], dtype="<u2"))
        out[k] = a.reshape(v["shape"])
    return out, h


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


# ----------------------------------------------------------------------------- building blocks
class Lora:
    """PEFT LoRA adapter: module path -> (A [r,in], B [out,r]) float64 leaves; scaling alpha/r or alpha/sqrt(r)."""

    def __init__(self, r, alpha, rslora=False):
        self.r, self.alpha, self.rslora = r, alpha, rslora
        self.scaling = alpha / math.sqrt(r) if rslora else alpha / r
        self.mods = {}
        self.extra = {}  # modules_to_save copies: hf name -> tensor

    def add(self, path, fin, fout, g):
        A = round_to(torch.randn(self.r, fin, generator=g, dtype=D) / math.sqrt(fin), "F32")
        B = round_to(torch.randn(fout, self.r, generator=g, dtype=D) * 0.1, "F32")
        self.mods[path] = [A, B]

    def peft_tensors(self):
        t = {}
        for p, (A, B) in self.mods.items():
            t[f"base_model.model.{p}.lora_A.weight"] = A
            t[f"base_model.model.{p}.lora_B.weight"] = B
        for n, v in self.extra.items():
            t[f"base_model.model.{n}"] = v
        return t

    def leaves(self, zero_b=False):
        """Fresh autograd leaves (dict keyed by PEFT key)."""
        out = {}
        for k, v in self.peft_tensors().items():
            v = v.clone()
            if zero_b and ".lora_B." in k:
                v.zero_()
            out[k] = v.requires_grad_(True)
        return out


class Ctx:
    """Forward context: parameters (HF names, float64), optional lora leaves, recorder."""

    def __init__(self, P, lora=None, leaves=None):
        self.P, self.lora, self.L = P, lora, leaves
        self.attn_probs = []

    def lora_delta(self, x, path):
        if self.lora is None or path not in self.lora.mods:
            return 0.0
        A = self.L[f"base_model.model.{path}.lora_A.weight"]
        B = self.L[f"base_model.model.{path}.lora_B.weight"]
        return self.lora.scaling * ((x @ A.t()) @ B.t())

    def linear(self, x, path, bias=True):  # nn.Linear: W [out, in]
        y = x @ self.P[path + ".weight"].t()
        if bias:
            y = y + self.P[path + ".bias"]
        return y + self.lora_delta(x, path)

    def conv1d(self, x, path):  # GPT-2 Conv1D: W [in, out]
        y = x @ self.P[path + ".weight"] + self.P[path + ".bias"]
        return y + self.lora_delta(x, path)

    def ln(self, x, path, eps):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased, like nn.LayerNorm
        return (x - mu) / torch.sqrt(var + eps) * self.P[path + ".weight"] + self.P[path + ".bias"]

    def rms(self, x, path, eps):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * self.P[path + ".weight"]

    def attend(self, q, k, v, allowed, scale):
        """q [B,H,T,d], k/v [B,H,S,d], allowed bool [B,1,T,S]. Eager HF attention (finfo.min mask ~ -inf)."""
        s = (q @ k.transpose(-1, -2)) * scale
        s = s.masked_fill(~allowed, float("-inf"))
        p = torch.softmax(s, dim=-1)
        self.attn_probs.append(p.detach())
        return p @ v


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def heads(x, n):  # [B,T,n*d] -> [B,n,T,d]
    B, T, C = x.shape
    return x.view(B, T, n, C // n).transpose(1, 2)


def merge(x):  # [B,n,T,d] -> [B,T,n*d]
    B, n, T, d = x.shape
    return x.transpose(1, 2).reshape(B, T, n * d)


def causal_pad_mask(am):
    B, T = am.shape
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return causal[None, None] & am.bool()[:, None, None, :]


def sliding_window_mask(T, window):
    """Mistral (modeling_mistral.py / masking_utils): query i sees key j only if i - j < sliding_window."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    return ((i - j) < window)[None, None]


def pad_mask(am):
    B, T = am.shape
    return am.bool()[:, None, None, :].expand(B, 1, T, T)


# ----------------------------------------------------------------------------- models
def opt_forward(c, cfg, inp):
    P, ids, am = c.P, inp["input_ids"], inp["attention_mask"]
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    hd = H // nh
    x = P["model.decoder.embed_tokens.weight"][ids]
    if cfg["word_embed_proj_dim"] != H:
        x = c.linear(x, "model.decoder.project_in", bias=False)
    pos = (torch.cumsum(am, 1) * am - 1) + 2  # OPTLearnedPositionalEmbedding, offset 2 (pads -> row 1)
    x = x + P["model.decoder.embed_positions.weight"][pos]
    allowed = causal_pad_mask(am)
    pre = cfg["do_layer_norm_before"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.decoder.layers.{i}"
        r = x
        h = c.ln(x, p + ".self_attn_layer_norm", 1e-5) if pre else x
        q = c.linear(h, p + ".self_attn.q_proj") * hd ** -0.5
        k = c.linear(h, p + ".self_attn.k_proj")
        v = c.linear(h, p + ".self_attn.v_proj")
        a = merge(c.attend(heads(q, nh), heads(k, nh), heads(v, nh), allowed, 1.0))
        x = r + c.linear(a, p + ".self_attn.out_proj")
        if not pre:
            x = c.ln(x, p + ".self_attn_layer_norm", 1e-5)
        r = x
        h = c.ln(x, p + ".final_layer_norm", 1e-5) if pre else x
        h = c.linear(torch.relu(c.linear(h, p + ".fc1")), p + ".fc2")
        x = r + h
        if not pre:
            x = c.ln(x, p + ".final_layer_norm", 1e-5)
    if pre:
        x = c.ln(x, "model.decoder.final_layer_norm", 1e-5)
    if cfg["word_embed_proj_dim"] != H:
        x = c.linear(x, "model.decoder.project_out", bias=False)
    return x @ P["model.decoder.embed_tokens.weight"].t()


def rope_inv_freq(hd, theta, scaling=None, T=None, max_pos=None):
    """inv_freq[hd/2] and the cos/sin attention factor, written from transformers' modeling_rope_utils.py
    (_compute_*_parameters), in float64: default, linear, dynamic (NTK, T > max_position_embeddings), yarn, llama3."""
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=D) / hd))
    if not scaling:
        return inv, 1.0
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    factor = scaling.get("factor", 1.0)
    if kind == "default":
        return inv, 1.0
    if kind == "linear":
        return inv / factor, 1.0
    if kind == "dynamic":
        seq = T if T is not None and T > max_pos else max_pos
        base = theta * ((factor * seq / max_pos) - (factor - 1)) ** (hd / (hd - 2))
        return 1.0 / (base ** (torch.arange(0, hd, 2, dtype=D) / hd)), 1.0
    if kind == "llama3":
        old = scaling["original_max_position_embeddings"]
        lowf, highf = scaling["low_freq_factor"], scaling["high_freq_factor"]
        low_wl, high_wl = old / lowf, old / highf
        wl = 2 * math.pi / inv
        out = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (old / wl - lowf) / (highf - lowf)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wl < high_wl) * ~(wl > low_wl)
        return torch.where(medium, smoothed, out), 1.0
    if kind == "yarn":
        att = scaling.get("attention_factor")
        if att is None:
            att = 0.1 * math.log(factor) + 1.0
        fast, slow = scaling.get("beta_fast") or 32, scaling.get("beta_slow") or 1
        orig = scaling.get("original_max_position_embeddings") or max_pos
        corr = lambda rot: (hd * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(theta))
        low, high = max(math.floor(corr(fast)), 0), min(math.ceil(corr(slow)), hd - 1)
        if low == high:
            high += 0.001
        ramp = torch.clamp((torch.arange(hd // 2, dtype=D) - low) / (high - low), 0, 1)
        pos_freqs = theta ** (torch.arange(0, hd, 2, dtype=D) / hd)
        extrap, interp = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
        keep = 1 - ramp
        return interp * (1 - keep) + extrap * keep, att
    raise ValueError(f"rope type {kind}")


def rope_cos_sin(T, hd, theta, scaling=None, max_pos=None):
    inv, att = rope_inv_freq(hd, theta, scaling, T, max_pos)
    fr = torch.arange(T, dtype=D)[:, None] * inv[None]
    emb = torch.cat([fr, fr], -1)
    return emb.cos() * att, emb.sin() * att


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def llama_forward(c, cfg, inp):
    P, ids, am = c.P, inp["input_ids"], inp["attention_mask"]
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg)
    eps = cfg["rms_norm_eps"]
    qkvb, ob = attn_biases(cfg)
    B, T = ids.shape
    x = P["model.embed_tokens.weight"][ids]
    # position_ids = arange(T), also for padded rows; rope_scaling changes the frequencies (and YaRN scales cos/sin)
    cos, sin = rope_cos_sin(T, hd, cfg["rope_theta"], cfg.get("rope_scaling"), cfg["max_position_embeddings"])
    allowed = causal_pad_mask(am)
    if cfg["model_type"] in ("mistral", "phi3") and cfg.get("sliding_window"):
        allowed = allowed & sliding_window_mask(T, cfg["sliding_window"])
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = c.rms(x, p + ".input_layernorm", eps)
        if cfg["model_type"] == "phi3":
            qkv = c.linear(h, p + ".self_attn.qkv_proj", bias=False)
            q = heads(qkv[..., :nh * hd], nh)
            k = heads(qkv[..., nh * hd:(nh + nkv) * hd], nkv)
            v = heads(qkv[..., (nh + nkv) * hd:], nkv)
        else:
            q = heads(c.linear(h, p + ".self_attn.q_proj", bias=qkvb), nh)
            k = heads(c.linear(h, p + ".self_attn.k_proj", bias=qkvb), nkv)
            v = heads(c.linear(h, p + ".self_attn.v_proj", bias=qkvb), nkv)
        if cfg["model_type"] == "qwen3":  # modeling_qwen3.py: q_norm / k_norm over head_dim, before RoPE
            q = c.rms(q, p + ".self_attn.q_norm", eps)
            k = c.rms(k, p + ".self_attn.k_norm", eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv  # repeat_kv: kv head j serves q heads j*rep .. j*rep+rep-1
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        a = merge(c.attend(q, k, v, allowed, hd ** -0.5))
        x = x + c.linear(a, p + ".self_attn.o_proj", bias=ob)
        h = c.rms(x, p + ".post_attention_layernorm", eps)
        if cfg["model_type"] == "phi3":
            g, u = c.linear(h, p + ".mlp.gate_up_proj", bias=False).chunk(2, dim=-1)
        else:
            g = c.linear(h, p + ".mlp.gate_proj", bias=False)
            u = c.linear(h, p + ".mlp.up_proj", bias=False)
        x = x + c.linear(torch.nn.functional.silu(g) * u, p + ".mlp.down_proj", bias=False)
    x = c.rms(x, "model.norm", eps)
    W = P["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else P["lm_head.weight"]
    return x @ W.t()


def gpt2_forward(c, cfg, inp):
    P, ids, am = c.P, inp["input_ids"], inp["attention_mask"]
    E, nh = cfg["n_embd"], cfg["n_head"]
    eps = cfg["layer_norm_epsilon"]
    B, T = ids.shape
    x = P["transformer.wte.weight"][ids] + P["transformer.wpe.weight"][torch.arange(T)]
    allowed = causal_pad_mask(am)
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}"
        h = c.ln(x, p + ".ln_1", eps)
        qkv = c.conv1d(h, p + ".attn.c_attn")
        q, k, v = qkv.split(E, dim=-1)
        a = merge(c.attend(heads(q, nh), heads(k, nh), heads(v, nh), allowed, 1.0 / math.sqrt(E // nh)))
        x = x + c.conv1d(a, p + ".attn.c_proj")
        h = c.ln(x, p + ".ln_2", eps)
        x = x + c.conv1d(gelu_new(c.conv1d(h, p + ".mlp.c_fc")), p + ".mlp.c_proj")
    x = c.ln(x, "transformer.ln_f", eps)
    return x @ P["transformer.wte.weight"].t()


def bert_encoder(c, cfg, inp):
    P, ids, am, tt = c.P, inp["input_ids"], inp["attention_mask"], inp["token_type_ids"]
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    eps = cfg["layer_norm_eps"]
    B, T = ids.shape
    x = (P["bert.embeddings.word_embeddings.weight"][ids]
         + P["bert.embeddings.token_type_embeddings.weight"][tt]
         + P["bert.embeddings.position_embeddings.weight"][torch.arange(T)])
    x = c.ln(x, "bert.embeddings.LayerNorm", eps)
    allowed = pad_mask(am)
    for i in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}"
        q = c.linear(x, p + ".attention.self.query")
        k = c.linear(x, p + ".attention.self.key")
        v = c.linear(x, p + ".attention.self.value")
        a = merge(c.attend(heads(q, nh), heads(k, nh), heads(v, nh), allowed, 1.0 / math.sqrt(H // nh)))
        x = c.ln(c.linear(a, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm", eps)
        h = gelu_erf(c.linear(x, p + ".intermediate.dense"))
        x = c.ln(c.linear(h, p + ".output.dense") + x, p + ".output.LayerNorm", eps)
    return x


def bert_mlm_forward(c, cfg, inp):
    P = c.P
    x = bert_encoder(c, cfg, inp)
    h = gelu_erf(c.linear(x, "cls.predictions.transform.dense"))
    h = c.ln(h, "cls.predictions.transform.LayerNorm", cfg["layer_norm_eps"])
    return h @ P["bert.embeddings.word_embeddings.weight"].t() + P["cls.predictions.bias"]


def bert_cls_forward(c, cfg, inp):
    x = bert_encoder(c, cfg, inp)
    pooled = torch.tanh(c.linear(x[:, 0], "bert.pooler.dense"))
    if c.lora is not None and c.lora.extra:  # modules_to_save: the adapter's classifier copy replaces the base one
        W = c.L["base_model.model.classifier.weight"]
        b = c.L["base_model.model.classifier.bias"]
        return pooled @ W.t() + b
    return c.linear(pooled, "classifier")


def causal_lm_loss(logits, labels):
    lg = logits[:, :-1].reshape(-1, logits.shape[-1])
    lb = labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(lg, lb, ignore_index=-100, reduction="mean")


def token_loss(logits, labels):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                             ignore_index=-100, reduction="mean")


def cls_loss(logits, labels):
    return torch.nn.functional.cross_entropy(logits, labels, reduction="mean")


# ----------------------------------------------------------------------------- weights
def rnd(g, *shape, std=0.2):
    return torch.randn(*shape, generator=g, dtype=D) * std


def ln_params(P, g, path, n, affine_noise=True):
    P[path + ".weight"] = 1.0 + rnd(g, n, std=0.1)
    P[path + ".bias"] = rnd(g, n, std=0.05)


def lin_params(P, g, path, fin, fout, bias=True):
    P[path + ".weight"] = rnd(g, fout, fin, std=1.0 / math.sqrt(fin))
    if bias:
        P[path + ".bias"] = rnd(g, fout, std=0.05)


def opt_params(cfg, g):
    P, H, F, V, W = {}, cfg["hidden_size"], cfg["ffn_dim"], cfg["vocab_size"], cfg["word_embed_proj_dim"]
    P["model.decoder.embed_tokens.weight"] = rnd(g, V, W, std=0.5)
    P["model.decoder.embed_positions.weight"] = rnd(g, cfg["max_position_embeddings"] + 2, H, std=0.2)
    if W != H:
        lin_params(P, g, "model.decoder.project_in", W, H, bias=False)
        lin_params(P, g, "model.decoder.project_out", H, W, bias=False)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.decoder.layers.{i}"
        for m in ("q_proj", "k_proj", "v_proj", "out_proj"):
            lin_params(P, g, f"{p}.self_attn.{m}", H, H)
        ln_params(P, g, p + ".self_attn_layer_norm", H)
        lin_params(P, g, p + ".fc1", H, F)
        lin_params(P, g, p + ".fc2", F, H)
        ln_params(P, g, p + ".final_layer_norm", H)
    if cfg["do_layer_norm_before"]:
        ln_params(P, g, "model.decoder.final_layer_norm", H)
    return P


def attn_biases(cfg):
    """(q/k/v bias, o bias): Llama's attention_bias puts one on all four (modeling_llama.py); Qwen2 always has q/k/v
    biases and none on o_proj (modeling_qwen2.py)."""
    if cfg["model_type"] == "qwen2":
        return True, False
    b = bool(cfg.get("attention_bias", False))
    return b, b


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def llama_params(cfg, g):
    P, H, I, V = {}, cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd, nh, nkv = head_dim(cfg), cfg["num_attention_heads"], cfg["num_key_value_heads"]
    qkvb, ob = attn_biases(cfg)
    P["model.embed_tokens.weight"] = rnd(g, V, H, std=0.5)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        if cfg["model_type"] == "phi3":  # modeling_phi3.py: fused qkv_proj [q; k; v] and gate_up_proj [gate; up]
            lin_params(P, g, p + ".self_attn.qkv_proj", H, (nh + 2 * nkv) * hd, bias=False)
            lin_params(P, g, p + ".self_attn.o_proj", nh * hd, H, bias=False)
            lin_params(P, g, p + ".mlp.gate_up_proj", H, 2 * I, bias=False)
            lin_params(P, g, p + ".mlp.down_proj", I, H, bias=False)
        else:
            lin_params(P, g, p + ".self_attn.q_proj", H, nh * hd, bias=qkvb)
            lin_params(P, g, p + ".self_attn.k_proj", H, nkv * hd, bias=qkvb)
            lin_params(P, g, p + ".self_attn.v_proj", H, nkv * hd, bias=qkvb)
            lin_params(P, g, p + ".self_attn.o_proj", nh * hd, H, bias=ob)
            lin_params(P, g, p + ".mlp.gate_proj", H, I, bias=False)
            lin_params(P, g, p + ".mlp.up_proj", H, I, bias=False)
            lin_params(P, g, p + ".mlp.down_proj", I, H, bias=False)
        P[p + ".input_layernorm.weight"] = 1.0 + rnd(g, H, std=0.1)
        P[p + ".post_attention_layernorm.weight"] = 1.0 + rnd(g, H, std=0.1)
        if cfg["model_type"] == "qwen3":  # Qwen3RMSNorm(head_dim) on q and k
            P[p + ".self_attn.q_norm.weight"] = 1.0 + rnd(g, hd, std=0.3)
            P[p + ".self_attn.k_norm.weight"] = 1.0 + rnd(g, hd, std=0.3)
    P["model.norm.weight"] = 1.0 + rnd(g, H, std=0.1)
    if not cfg["tie_word_embeddings"]:
        P["lm_head.weight"] = rnd(g, V, H, std=1.0 / math.sqrt(H))
    return P


def gpt2_params(cfg, g):
    P, E, V = {}, cfg["n_embd"], cfg["vocab_size"]
    P["transformer.wte.weight"] = rnd(g, V, E, std=0.5)
    P["transformer.wpe.weight"] = rnd(g, cfg["n_positions"], E, std=0.2)
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}"
        ln_params(P, g, p + ".ln_1", E)
        for m, fi, fo in (("attn.c_attn", E, 3 * E), ("attn.c_proj", E, E), ("mlp.c_fc", E, 4 * E), ("mlp.c_proj", 4 * E, E)):
            P[f"{p}.{m}.weight"] = rnd(g, fi, fo, std=1.0 / math.sqrt(fi))  # Conv1D [in, out]
            P[f"{p}.{m}.bias"] = rnd(g, fo, std=0.05)
        ln_params(P, g, p + ".ln_2", E)
    ln_params(P, g, "transformer.ln_f", E)
    return P


def bert_params(cfg, g, head):
    P, H, I, V = {}, cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    P["bert.embeddings.word_embeddings.weight"] = rnd(g, V, H, std=0.5)
    P["bert.embeddings.position_embeddings.weight"] = rnd(g, cfg["max_position_embeddings"], H, std=0.2)
    P["bert.embeddings.token_type_embeddings.weight"] = rnd(g, cfg["type_vocab_size"], H, std=0.2)
    ln_params(P, g, "bert.embeddings.LayerNorm", H)
    for i in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}"
        for m in ("query", "key", "value"):
            lin_params(P, g, f"{p}.attention.self.{m}", H, H)
        lin_params(P, g, p + ".attention.output.dense", H, H)
        ln_params(P, g, p + ".attention.output.LayerNorm", H)
        lin_params(P, g, p + ".intermediate.dense", H, I)
        lin_params(P, g, p + ".output.dense", I, H)
        ln_params(P, g, p + ".output.LayerNorm", H)
    if head == "mlm":
        lin_params(P, g, "cls.predictions.transform.dense", H, H)
        ln_params(P, g, "cls.predictions.transform.LayerNorm", H)
        P["cls.predictions.bias"] = rnd(g, V, std=0.05)
    else:
        lin_params(P, g, "bert.pooler.dense", H, H)
        lin_params(P, g, "classifier", H, cfg["num_labels"])
    return P


# ----------------------------------------------------------------------------- case driver
def make_inputs(g, V, B, T, npad, pad_id, low=3):
    ids = torch.randint(low, V, (B, T), generator=g)
    am = torch.ones(B, T, dtype=torch.long)
    am[1, T - npad:] = 0
    ids[1, T - npad:] = pad_id
    return ids, am


def run_case(name, family, cfg, P, dtype, fwd, loss_fn, inp, loras, notes, tied, loss_def,
             shard=False, causal=False, fd_key=None, extra_case=None):
    print(f"== {name}")
    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, "model"), exist_ok=True)
    # round base weights to stored precision; compute from the stored values
    P = {k: round_to(v, dtype) for k, v in P.items()}
    write_json(os.path.join(d, "model", "config.json"), cfg)
    dt = lambda n: dtype
    if not shard:
        save_safetensors(os.path.join(d, "model", "model.safetensors"), P, dt, {"format": "pt"})
        back, _ = read_safetensors(os.path.join(d, "model", "model.safetensors"))
    else:
        names = sorted(P)
        half = len(names) // 2
        parts = [names[:half], names[half:]]
        wm, total, back = {}, 0, {}
        for j, part in enumerate(parts):
            fn = f"model-{j + 1:05d}-of-{len(parts):05d}.safetensors"
            total += save_safetensors(os.path.join(d, "model", fn), {n: P[n] for n in part}, dt, {"format": "pt"})
            for n in part:
                wm[n] = fn
            b, _ = read_safetensors(os.path.join(d, "model", fn))
            back.update(b)
        write_json(os.path.join(d, "model", "model.safetensors.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))})
    check(name, "safetensors round trip", set(back) == set(P) and all(
        np.array_equal(back[k].astype(np.float64), P[k].numpy()) for k in P))

    # inputs
    with open(os.path.join(d, "inputs.json"), "w") as f:  # one row per line
        f.write("{\n" + ",\n".join(
            f'  "{k}": ' + ("[\n" + ",\n".join("    " + json.dumps(r) for r in v.tolist()) + "\n  ]" if v.dim() == 2
                            else json.dumps(v.tolist())) for k, v in inp.items()) + "\n}\n")

    # base model (no adapter)
    with torch.no_grad():
        cb = Ctx(P)
        base_logits = fwd(cb, cfg, inp)
    rows = torch.cat([p.sum(-1).reshape(-1) for p in cb.attn_probs])
    check(name, "attention rows sum to 1", torch.allclose(rows, torch.ones_like(rows), atol=1e-12))
    if causal:
        # (c1) causality: changing the last token of row 0 leaves earlier logits unchanged
        inp2 = {k: v.clone() for k, v in inp.items()}
        T = inp2["input_ids"].shape[1]
        inp2["input_ids"][0, T - 1] = (inp2["input_ids"][0, T - 1] + 1) % cfg["vocab_size"]
        with torch.no_grad():
            l2 = fwd(Ctx(P), cfg, inp2)
        check(name, "causal: future token does not change earlier logits",
              torch.allclose(l2[0, :T - 1], base_logits[0, :T - 1], atol=1e-12, rtol=0))
    am = inp["attention_mask"]
    if (am == 0).any():
        # (c2) padding: changing padded ids leaves non-pad outputs unchanged
        inp3 = {k: v.clone() for k, v in inp.items()}
        inp3["input_ids"][am == 0] = (inp3["input_ids"][am == 0] + 7) % cfg["vocab_size"]
        with torch.no_grad():
            l3 = fwd(Ctx(P), cfg, inp3)
        if base_logits.dim() == 3:
            m = am.bool()
            ok = torch.allclose(l3[m], base_logits[m], atol=1e-12, rtol=0)
        else:
            ok = torch.allclose(l3, base_logits, atol=1e-12, rtol=0)
        check(name, "padding ids do not affect non-pad outputs", ok)
        # (c3) the padded row alone, truncated to its real length, gives the same logits — except under dynamic NTK
        # RoPE, whose frequencies depend on the sequence length by design (HF: the largest position id + 1)
        n = int(am[1].sum())
        dynamic = (cfg.get("rope_scaling") or {}).get("rope_type") == "dynamic"
        inp4 = {k: (v[1:2, :n].clone() if v.dim() == 2 else v[1:2].clone()) for k, v in inp.items() if k != "labels"}
        with torch.no_grad():
            l4 = fwd(Ctx(P), cfg, inp4)
        ref = base_logits[1:2, :n] if base_logits.dim() == 3 else base_logits[1:2]
        if dynamic:
            check(name, "dynamic NTK: the truncated row (T <= max_position_embeddings) differs, as it must",
                  not torch.allclose(l4, ref, atol=1e-6, rtol=0))
        else:
            check(name, "padded row == same row unpadded (truncated)", torch.allclose(l4, ref, atol=1e-10, rtol=0),
                  f"maxdiff={float((l4 - ref).abs().max()):.2e}")

    for aname, lora, task_type, target, mts in loras:
        ad = os.path.join(d, aname)
        os.makedirs(ad, exist_ok=True)
        acfg = {
            "peft_type": "LORA", "task_type": task_type, "r": lora.r, "lora_alpha": lora.alpha,
            "lora_dropout": 0.0, "bias": "none", "target_modules": target,
            "fan_in_fan_out": family == "gpt2", "use_rslora": lora.rslora, "modules_to_save": mts,
            "init_lora_weights": True, "inference_mode": True,
            "base_model_name_or_path": f"cola-golden/{name}", "revision": None,
            "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {},
        }
        write_json(os.path.join(ad, "adapter_config.json"), acfg)
        at = lora.peft_tensors()
        save_safetensors(os.path.join(ad, "adapter_model.safetensors"), at, metadata={"format": "pt"})

        # (a) B = 0 -> base logits (modules_to_save copy equals itself; compare against base with that classifier)
        with torch.no_grad():
            lz = fwd(Ctx(P, lora, lora.leaves(zero_b=True)), cfg, inp)
            if lora.extra:
                P2 = dict(P)
                for kx, vx in lora.extra.items():
                    P2[kx] = vx
                ref = fwd(Ctx(P2), cfg, inp)
            else:
                ref = base_logits
        check(name, f"{aname}: lora_B=0 logits == base logits", torch.allclose(lz, ref, atol=1e-12, rtol=0),
              f"maxdiff={float((lz - ref).abs().max()):.1e}")

        leaves = lora.leaves()
        logits = fwd(Ctx(P, lora, leaves), cfg, inp)
        loss = loss_fn(logits, inp["labels"])
        keys = sorted(leaves)
        grads = torch.autograd.grad(loss, [leaves[k] for k in keys])
        gd = dict(zip(keys, grads))
        ch = float((logits - base_logits).abs().max())
        check(name, f"{aname}: adapter changes logits", ch > 1e-3, f"max|dlogits|={ch:.3f}")
        nz = all(float(g_.abs().max()) > 0 for g_ in grads)
        check(name, f"{aname}: all adapter grads non-zero", nz)

        # (b) finite difference on the largest-|grad| element of one chosen tensor (float64, central)
        fk = fd_key(aname) if fd_key else keys[0]
        gk = gd[fk]
        idx = int(gk.abs().argmax())
        eps = 1e-6
        with torch.no_grad():
            vals = []
            for sgn in (1, -1):
                lv = {k: v.detach().clone() for k, v in leaves.items()}
                lv[fk].view(-1)[idx] += sgn * eps
                vals.append(float(loss_fn(fwd(Ctx(P, lora, lv), cfg, inp), inp["labels"])))
        fd = (vals[0] - vals[1]) / (2 * eps)
        an = float(gk.view(-1)[idx])
        rel = abs(fd - an) / max(abs(an), 1e-12)
        check(name, f"{aname}: finite difference d loss/d {fk}[{idx}]", rel < 1e-6,
              f"fd={fd:.9e} autograd={an:.9e} rel={rel:.1e}")

        exp = {"logits": logits.detach(), "loss": loss.detach().reshape(())}
        for k in keys:
            exp["grad." + k] = gd[k]
        if lora.extra:  # classifier grads under the short names as well
            exp["grad.classifier.weight"] = gd["base_model.model.classifier.weight"]
            exp["grad.classifier.bias"] = gd["base_model.model.classifier.bias"]
        ename = "expected.safetensors" if aname == "adapter" else f"expected-{aname[len('adapter-'):]}.safetensors"
        save_safetensors(os.path.join(d, ename), exp, metadata={"format": "pt"})
        print(f"  {aname}: loss={float(loss):.6f} -> {ename}")

    case = {
        "case": name, "family": family, "architecture": cfg["architectures"][0],
        "weights_dtype": dtype, "adapter_dtype": "F32",
        "tied": tied, "loss": loss_def,
        "expected_files": {a[0]: ("expected.safetensors" if a[0] == "adapter" else f"expected-{a[0][len('adapter-'):]}.safetensors") for a in loras},
        "tolerances": TOL,
        "reference": "float64 computation from the stored (F32/BF16-rounded) weight values; outputs rounded to F32",
        "notes": notes,
    }
    if extra_case:
        case.update(extra_case)
    write_json(os.path.join(d, "case.json"), case)


def lora_for(P, targets, r, alpha, g, rslora=False, conv1d=False):
    lo = Lora(r, alpha, rslora)
    for k in sorted(P):
        if not k.endswith(".weight"):
            continue
        path = k[:-len(".weight")]
        if path.split(".")[-1] in targets:
            W = P[k]
            fin, fout = (W.shape[0], W.shape[1]) if conv1d else (W.shape[1], W.shape[0])
            lo.add(path, fin, fout, g)
    return lo


# ----------------------------------------------------------------------------- cases
CAUSAL_LOSS = ("mean token cross-entropy (HF ForCausalLMLoss): logits[:, :-1] predict labels[:, 1:], "
               "ignore_index -100, mean over non-ignored targets; labels = input_ids with -100 at padding")
PAD_NOTE = ("Row 1 is right-padded (attention_mask 0). Logits at padded positions are included in "
            "expected logits and follow HF eager semantics (pad queries attend to earlier non-pad keys; "
            "pad keys are masked for every query); they never enter the loss.")


def case_opt(name, pre, proj, dtype, targets, r, alpha, seed):
    g = torch.Generator().manual_seed(seed)
    H = 32
    cfg = {
        "architectures": ["OPTForCausalLM"], "model_type": "opt", "torch_dtype": "float32" if dtype == "F32" else "bfloat16",
        "vocab_size": 101, "hidden_size": H, "num_hidden_layers": 2, "ffn_dim": 64,
        "num_attention_heads": 4, "max_position_embeddings": 64, "word_embed_proj_dim": proj,
        "do_layer_norm_before": pre, "_remove_final_layer_norm": False, "enable_bias": True,
        "layer_norm_elementwise_affine": True, "activation_function": "relu", "dropout": 0.0,
        "attention_dropout": 0.0, "activation_dropout": 0.0, "layerdrop": 0.0, "init_std": 0.02,
        "use_cache": True, "pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 2,
        "tie_word_embeddings": True, "transformers_version": "4.40.0",
    }
    P = opt_params(cfg, g)
    T = 10
    ids, am = make_inputs(g, cfg["vocab_size"], 2, T, 3, pad_id=1)
    ids[:, 0] = 2  # BOS
    labels = ids.masked_fill(am == 0, -100)
    inp = {"input_ids": ids, "attention_mask": am, "labels": labels}
    lora = lora_for({k: round_to(v, dtype) for k, v in P.items()}, targets, r, alpha, g)
    notes = [
        "positions = (cumsum(attention_mask,1)*attention_mask) - 1, looked up at index position+2 "
        "(OPTLearnedPositionalEmbedding offset 2); padded positions -> row 1",
        "q = q_proj(x) (incl. bias) * head_dim**-0.5; causal + key-padding mask; LayerNorm eps 1e-5",
        ("pre-LN: LN -> sublayer -> residual add; model.decoder.final_layer_norm before head" if pre else
         "post-LN (OPT-350m): residual add -> LN, in attention and in MLP; no model.decoder.final_layer_norm"),
        "lm_head tied to model.decoder.embed_tokens.weight (no lm_head key)",
        PAD_NOTE,
    ]
    if proj != H:
        notes.append("project_in [hidden, word_embed_proj_dim] after the token embedding (before adding positions, "
                     "which are hidden-sized); project_out [word_embed_proj_dim, hidden] after the last layer; "
                     "head = project_out(h) @ embed_tokens^T")
    if dtype == "BF16":
        notes.append("all base weights stored BF16; the reference computes in float64 from the bf16 values")
    run_case(name, "opt", cfg, P, dtype, opt_forward, causal_lm_loss, inp,
             [("adapter", lora, "CAUSAL_LM", targets, None)], notes,
             {"lm_head.weight": "model.decoder.embed_tokens.weight"}, CAUSAL_LOSS, causal=True,
             fd_key=lambda a: f"base_model.model.model.decoder.layers.0.self_attn.q_proj.lora_A.weight")


def case_llama(name, nkv, tie, theta, dtype, targets, r, alpha, rslora, shard, seed, rope_scaling=None, max_pos=64,
               family=None):
    g = torch.Generator().manual_seed(seed)
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "float32" if dtype == "F32" else "bfloat16",
        "vocab_size": 128, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": nkv, "head_dim": 8, "hidden_act": "silu",
        "max_position_embeddings": max_pos, "rms_norm_eps": 1e-6, "rope_theta": float(theta), "rope_scaling": rope_scaling,
        "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False, "pretraining_tp": 1,
        "tie_word_embeddings": tie, "initializer_range": 0.02, "use_cache": True,
        "bos_token_id": 1, "eos_token_id": 2, "transformers_version": "4.40.0",
    }
    if family == "qwen2":  # Qwen2ForCausalLM: Llama with q/k/v biases; no head_dim field (hidden / heads)
        cfg.update({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "use_sliding_window": False,
                    "sliding_window": 4096, "max_window_layers": 2})
        for k in ("head_dim", "attention_bias", "mlp_bias", "pretraining_tp"):
            cfg.pop(k)
    elif family == "qwen3":  # Qwen3ForCausalLM: q/k RMSNorm per head, explicit head_dim (here != hidden / heads)
        cfg.update({"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "use_sliding_window": False,
                    "sliding_window": None, "max_window_layers": 2, "head_dim": 16})
        for k in ("mlp_bias", "pretraining_tp"):
            cfg.pop(k)
    elif family == "mistral":  # MistralForCausalLM: Llama with a sliding window (5 < T = 11: it binds; > the 4 pads)
        cfg.update({"architectures": ["MistralForCausalLM"], "model_type": "mistral", "sliding_window": 5})
        for k in ("attention_bias", "mlp_bias", "pretraining_tp"):
            cfg.pop(k)
    elif family == "phi3":  # Phi3ForCausalLM: fused projections, sliding window 6 (< T = 11, > the 4 pads)
        cfg.update({"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "sliding_window": 6,
                    "original_max_position_embeddings": 64, "partial_rotary_factor": 1.0})
        for k in ("attention_bias", "mlp_bias", "pretraining_tp", "head_dim"):
            cfg.pop(k)
    elif family == "llama-attn-bias":
        cfg["attention_bias"] = True
    P = llama_params(cfg, g)
    T = 11
    ids, am = make_inputs(g, cfg["vocab_size"], 2, T, 4, pad_id=0)
    ids[:, 0] = 1
    labels = ids.masked_fill(am == 0, -100)
    inp = {"input_ids": ids, "attention_mask": am, "labels": labels}
    lora = lora_for({k: round_to(v, dtype) for k, v in P.items()}, targets, r, alpha, g, rslora=rslora)
    notes = [
        "position_ids = arange(T) for every row (HF default when position_ids is not passed), even with right padding",
        "RoPE: inv_freq = 1/theta^(arange(0,hd,2)/hd); emb = cat(freqs,freqs); x*cos + rotate_half(x)*sin, "
        "rotate_half(x) = cat(-x[hd/2:], x[:hd/2]) (non-interleaved HF layout)",
        f"GQA: {cfg['num_attention_heads']} q heads, {nkv} kv heads; kv head j serves q heads j*rep..j*rep+rep-1 (repeat_kv)",
        "RMSNorm x*rsqrt(mean(x^2)+eps)*w; MLP down(silu(gate(x))*up(x)); scale head_dim**-0.5",
        ("lm_head tied to model.embed_tokens.weight (no lm_head key)" if tie else "untied lm_head.weight present"),
        f"LoRA scaling = {'alpha/sqrt(r) (use_rslora)' if rslora else 'alpha/r'} = {lora.scaling}",
        PAD_NOTE,
    ]
    if rope_scaling:
        inv0, _ = rope_inv_freq(8, float(theta))
        inv1, att = rope_inv_freq(8, float(theta), rope_scaling, T, max_pos)
        notes.append(f"rope_scaling {rope_scaling}: inv_freq {[round(float(v), 6) for v in inv0]} -> "
                     f"{[round(float(v), 6) for v in inv1]}, cos/sin x {att:.6f} (modeling_rope_utils.py)")
    if shard:
        notes.append("weights sharded: model-00001-of-00002.safetensors, model-00002-of-00002.safetensors + "
                     "model.safetensors.index.json (total_size = sum of tensor payload bytes)")
    if dtype == "BF16":
        notes.append("all base weights stored BF16; the reference computes in float64 from the bf16 values")
    run_case(name, "llama", cfg, P, dtype, llama_forward, causal_lm_loss, inp,
             [("adapter", lora, "CAUSAL_LM", targets, None)], notes,
             ({"lm_head.weight": "model.embed_tokens.weight"} if tie else {}), CAUSAL_LOSS, shard=shard, causal=True,
             fd_key=lambda a: ("base_model.model.model.layers.1.self_attn.qkv_proj.lora_B.weight" if family == "phi3"
                               else "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"))


def case_gpt2(seed):
    g = torch.Generator().manual_seed(seed)
    cfg = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "torch_dtype": "float32",
        "vocab_size": 97, "n_embd": 32, "n_head": 4, "n_layer": 2, "n_positions": 32, "n_ctx": 32,
        "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.02,
        "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
        "bos_token_id": 96, "eos_token_id": 96, "tie_word_embeddings": True, "use_cache": True,
        "transformers_version": "4.40.0",
    }
    P = gpt2_params(cfg, g)
    T = 12
    ids, am = make_inputs(g, cfg["vocab_size"], 2, T, 5, pad_id=96, low=0)
    labels = ids.masked_fill(am == 0, -100)
    inp = {"input_ids": ids, "attention_mask": am, "labels": labels}
    Pr = {k: round_to(v, "F32") for k, v in P.items()}
    lo1 = lora_for(Pr, ["c_attn"], 4, 8, g, conv1d=True)
    lo2 = lora_for(Pr, ["c_attn", "c_proj", "c_fc"], 4, 8, g, conv1d=True)
    notes = [
        "Conv1D weights stored [in, out]: y = x @ W + b; c_attn output split into q,k,v (each n_embd) along the last dim",
        "positions = arange(T) for every row (no position_ids passed), wpe[arange(T)]",
        "pre-LN blocks; transformer.ln_f; attention scaled by 1/sqrt(head_dim); gelu_new (tanh approximation)",
        "lm_head tied to transformer.wte.weight (no lm_head key); no attn.bias / attn.masked_bias buffers stored",
        "LoRA with fan_in_fan_out=true: lora_A [r, in], lora_B [out, r] with (in, out) = Conv1D weight shape; "
        "delta y = scaling * (x @ A^T) @ B^T on the whole fused c_attn output (96 = q|k|v); "
        "the merged delta in Conv1D layout would be (B@A)^T",
        "adapter-all targets c_attn, c_proj (matches both attn.c_proj [32,32] and mlp.c_proj [128,32]), c_fc; "
        "its expectations are in expected-all.safetensors",
        PAD_NOTE,
    ]
    run_case("gpt2", "gpt2", cfg, P, "F32", gpt2_forward, causal_lm_loss, inp,
             [("adapter", lo1, "CAUSAL_LM", ["c_attn"], None),
              ("adapter-all", lo2, "CAUSAL_LM", ["c_attn", "c_proj", "c_fc"], None)], notes,
             {"lm_head.weight": "transformer.wte.weight"}, CAUSAL_LOSS, causal=True,
             fd_key=lambda a: ("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight" if a == "adapter"
                               else "base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight"))


def bert_cfg(arch, extra):
    cfg = {
        "architectures": [arch], "model_type": "bert", "torch_dtype": "float32",
        "vocab_size": 103, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 32, "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "position_embedding_type": "absolute", "use_cache": True, "classifier_dropout": None,
        "tie_word_embeddings": True, "transformers_version": "4.40.0",
    }
    cfg.update(extra)
    return cfg


BERT_NOTES = [
    "tokens: [PAD]=0 [CLS]=1 [SEP]=2 [MASK]=3 (synthetic vocab)",
    "embeddings = word[ids] + token_type[token_type_ids] + position[arange(T)], then LayerNorm (eps 1e-12)",
    "post-LN encoder: LN(dense(attn) + x); LN(dense(gelu_erf(intermediate(x))) + x); bidirectional attention "
    "with key-padding mask; scores / sqrt(head_dim)",
]


def bert_inputs(g, V, T, npad):
    ids, am = make_inputs(g, V, 2, T, npad, pad_id=0, low=4)
    ids[:, 0] = 1
    ids[0, T - 1] = 2
    ids[1, T - npad - 1] = 2
    tt = torch.zeros_like(ids)
    tt[0, T // 2:] = 1
    tt[1, 3:T - npad] = 1
    return ids, am, tt


def case_bert_mlm(seed):
    g = torch.Generator().manual_seed(seed)
    cfg = bert_cfg("BertForMaskedLM", {})
    P = bert_params(cfg, g, "mlm")
    T, npad = 12, 4
    ids, am, tt = bert_inputs(g, cfg["vocab_size"], T, npad)
    labels = torch.full_like(ids, -100)
    for b, pos in ((0, (2, 5, 9)), (1, (1, 4))):
        for p_ in pos:
            labels[b, p_] = ids[b, p_]
            ids[b, p_] = 3
    inp = {"input_ids": ids, "attention_mask": am, "token_type_ids": tt, "labels": labels}
    lora = lora_for({k: round_to(v, "F32") for k, v in P.items()}, ["query", "value"], 4, 8, g)
    notes = BERT_NOTES + [
        "MLM head: cls.predictions.transform.dense -> gelu(erf) -> cls.predictions.transform.LayerNorm -> "
        "h @ word_embeddings^T + cls.predictions.bias (decoder weight tied, no cls.predictions.decoder.* keys)",
        "BertForMaskedLM has no pooler (add_pooling_layer=False)",
        "logits at padded positions are included (pad keys masked; pad queries attend to all non-pad keys)",
    ]
    run_case("bert-mlm", "bert", cfg, P, "F32", bert_mlm_forward, token_loss, inp,
             [("adapter", lora, "TOKEN_CLS", ["query", "value"], None)], notes,
             {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
              "cls.predictions.decoder.bias": "cls.predictions.bias"},
             "mean cross-entropy over positions with labels != -100 (no shift); labels = original id at [MASK] positions",
             fd_key=lambda a: "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight",
             extra_case={"adapter_task_type_note": "task_type written as TOKEN_CLS is irrelevant to the math; "
                                                   "PEFT has no MLM task type (FEATURE_EXTRACTION/None also used in practice)"})


def case_bert_cls(seed):
    g = torch.Generator().manual_seed(seed)
    cfg = bert_cfg("BertForSequenceClassification", {
        "num_labels": 3, "id2label": {"0": "NEG", "1": "NEU", "2": "POS"},
        "label2id": {"NEG": 0, "NEU": 1, "POS": 2}, "problem_type": "single_label_classification"})
    del cfg["tie_word_embeddings"]
    cfg["num_labels"] = 3
    P = bert_params(cfg, g, "cls")
    T, npad = 10, 3
    ids, am, tt = bert_inputs(g, cfg["vocab_size"], T, npad)
    inp = {"input_ids": ids, "attention_mask": am, "token_type_ids": tt, "labels": torch.tensor([2, 0])}
    Pr = {k: round_to(v, "F32") for k, v in P.items()}
    lora = lora_for(Pr, ["query", "value"], 4, 8, g)
    # modules_to_save copy of the classifier: starts as a copy of the base one, "trained" -> perturbed
    lora.extra["classifier.weight"] = round_to(Pr["classifier.weight"] + rnd(g, 3, 32, std=0.1), "F32")
    lora.extra["classifier.bias"] = round_to(Pr["classifier.bias"] + rnd(g, 3, std=0.1), "F32")
    notes = BERT_NOTES + [
        "pooled = tanh(bert.pooler.dense(h[:, 0])) on the first ([CLS]) token; dropout off; classifier Linear(32, 3)",
        "modules_to_save=['classifier']: in the PEFT model the classifier is a ModulesToSaveWrapper whose trained "
        "copy lives at base_model.model.classifier.modules_to_save.default.*; PEFT's get_peft_model_state_dict "
        "strips 'modules_to_save.' and '.default', so adapter_model.safetensors stores it as "
        "base_model.model.classifier.weight / .bias. That copy REPLACES the base classifier.* in the forward pass "
        "(base model file keeps the original, different classifier).",
        "grads of the classifier copy are stored twice: grad.base_model.model.classifier.{weight,bias} and "
        "grad.classifier.{weight,bias} (identical)",
        "lora_B=0 self-check compares against the base model with the adapter's classifier copy swapped in",
    ]
    run_case("bert-cls", "bert", cfg, P, "F32", bert_cls_forward, cls_loss, inp,
             [("adapter", lora, "SEQ_CLS", ["query", "value"], ["classifier"])], notes, {},
             "mean cross-entropy over the batch of [B, num_labels] logits against labels [B] (single_label_classification)",
             fd_key=lambda a: "base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight")


# ----------------------------------------------------------------------------- independent cross-check
def torch_layer_stack(P, cfg, x, allowed_causal, prefix, kind, nl, H, nh, F, eps, act, norm_first):
    """Run the layer stack with torch.nn.TransformerEncoderLayer (training mode, dropout 0 -> no fast path)."""
    for i in range(nl):
        L = torch.nn.TransformerEncoderLayer(H, nh, F, dropout=0.0, activation=act, layer_norm_eps=eps,
                                             batch_first=True, norm_first=norm_first).double()
        L.train()
        p = f"{prefix}.{i}"
        with torch.no_grad():
            if kind == "opt":
                L.self_attn.in_proj_weight.copy_(torch.cat([P[f"{p}.self_attn.{m}_proj.weight"] for m in "qkv"]))
                L.self_attn.in_proj_bias.copy_(torch.cat([P[f"{p}.self_attn.{m}_proj.bias"] for m in "qkv"]))
                names = [("self_attn.out_proj", "self_attn.out_proj"), ("linear1", "fc1"), ("linear2", "fc2"),
                         ("norm1", "self_attn_layer_norm"), ("norm2", "final_layer_norm")]
                tr = False
            elif kind == "gpt2":
                L.self_attn.in_proj_weight.copy_(P[f"{p}.attn.c_attn.weight"].t())
                L.self_attn.in_proj_bias.copy_(P[f"{p}.attn.c_attn.bias"])
                names = [("self_attn.out_proj", "attn.c_proj"), ("linear1", "mlp.c_fc"), ("linear2", "mlp.c_proj"),
                         ("norm1", "ln_1"), ("norm2", "ln_2")]
                tr = True
            else:  # bert
                L.self_attn.in_proj_weight.copy_(torch.cat([P[f"{p}.attention.self.{m}.weight"] for m in ("query", "key", "value")]))
                L.self_attn.in_proj_bias.copy_(torch.cat([P[f"{p}.attention.self.{m}.bias"] for m in ("query", "key", "value")]))
                names = [("self_attn.out_proj", "attention.output.dense"), ("linear1", "intermediate.dense"),
                         ("linear2", "output.dense"), ("norm1", "attention.output.LayerNorm"), ("norm2", "output.LayerNorm")]
                tr = False
            mods = dict(L.named_modules())
            for tn, hn in names:
                w = P[f"{p}.{hn}.weight"]
                is_lin = not tn.startswith("norm")
                mods[tn].weight.copy_(w.t() if (tr and is_lin) else w)
                mods[tn].bias.copy_(P[f"{p}.{hn}.bias"])
        mask = ~allowed_causal[:, 0]  # [B,T,T] True = masked
        mask = mask.repeat_interleave(nh, dim=0)
        x = L(x, src_mask=mask)
    return x


def cross_check_torch_nn():
    """Re-run base models (no adapter) with torch.nn.TransformerEncoderLayer and compare to the goldens' base path."""
    for name in ("opt-pre", "opt-post-proj", "gpt2", "bert-mlm"):
        d = os.path.join(OUT, name)
        cfg = json.load(open(os.path.join(d, "model", "config.json")))
        P = {k: torch.from_numpy(v.astype(np.float64)) for k, v in read_safetensors(os.path.join(d, "model", "model.safetensors"))[0].items()}
        inp = {k: torch.tensor(v) for k, v in json.load(open(os.path.join(d, "inputs.json"))).items()}
        ids, am = inp["input_ids"], inp["attention_mask"]
        B, T = ids.shape
        with torch.no_grad():
            if name.startswith("opt"):
                mine = opt_forward(Ctx(P), cfg, inp)
                H = cfg["hidden_size"]
                x = P["model.decoder.embed_tokens.weight"][ids]
                if "model.decoder.project_in.weight" in P:
                    x = x @ P["model.decoder.project_in.weight"].t()
                x = x + P["model.decoder.embed_positions.weight"][(torch.cumsum(am, 1) * am - 1) + 2]
                x = torch_layer_stack(P, cfg, x, causal_pad_mask(am), "model.decoder.layers", "opt", cfg["num_hidden_layers"],
                                      H, cfg["num_attention_heads"], cfg["ffn_dim"], 1e-5, "relu", cfg["do_layer_norm_before"])
                if cfg["do_layer_norm_before"]:
                    x = torch.nn.functional.layer_norm(x, (H,), P["model.decoder.final_layer_norm.weight"], P["model.decoder.final_layer_norm.bias"], 1e-5)
                if "model.decoder.project_out.weight" in P:
                    x = x @ P["model.decoder.project_out.weight"].t()
                ref = x @ P["model.decoder.embed_tokens.weight"].t()
            elif name == "gpt2":
                mine = gpt2_forward(Ctx(P), cfg, inp)
                E = cfg["n_embd"]
                x = P["transformer.wte.weight"][ids] + P["transformer.wpe.weight"][torch.arange(T)]
                x = torch_layer_stack(P, cfg, x, causal_pad_mask(am), "transformer.h", "gpt2", cfg["n_layer"], E, cfg["n_head"],
                                      4 * E, cfg["layer_norm_epsilon"], lambda t: torch.nn.functional.gelu(t, approximate="tanh"), True)
                x = torch.nn.functional.layer_norm(x, (E,), P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], cfg["layer_norm_epsilon"])
                ref = x @ P["transformer.wte.weight"].t()
            else:
                mine = bert_mlm_forward(Ctx(P), cfg, inp)
                H, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
                x = (P["bert.embeddings.word_embeddings.weight"][ids] + P["bert.embeddings.token_type_embeddings.weight"][inp["token_type_ids"]]
                     + P["bert.embeddings.position_embeddings.weight"][torch.arange(T)])
                x = torch.nn.functional.layer_norm(x, (H,), P["bert.embeddings.LayerNorm.weight"], P["bert.embeddings.LayerNorm.bias"], eps)
                x = torch_layer_stack(P, cfg, x, pad_mask(am), "bert.encoder.layer", "bert", cfg["num_hidden_layers"], H,
                                      cfg["num_attention_heads"], cfg["intermediate_size"], eps, "gelu", False)
                h = torch.nn.functional.gelu(x @ P["cls.predictions.transform.dense.weight"].t() + P["cls.predictions.transform.dense.bias"])
                h = torch.nn.functional.layer_norm(h, (H,), P["cls.predictions.transform.LayerNorm.weight"], P["cls.predictions.transform.LayerNorm.bias"], eps)
                ref = h @ P["bert.embeddings.word_embeddings.weight"].t() + P["cls.predictions.bias"]
        diff = float((mine - ref).abs().max())
        check(name, "base logits == torch.nn.TransformerEncoderLayer re-implementation", diff < 1e-9, f"maxdiff={diff:.1e}")


def rope_self_check():
    """HF rotate_half RoPE == complex rotation of pairs (i, i+hd/2) by pos*inv_freq[i]; scores depend on m-n only."""
    hd, T = 8, 12
    for theta in (10000.0, 500000.0):
        cos, sin = rope_cos_sin(T, hd, theta)
        g = torch.Generator().manual_seed(7)
        x = torch.randn(T, hd, generator=g, dtype=D)
        y = x * cos + rotate_half(x) * sin
        inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=D) / hd))
        z = torch.complex(x[:, :hd // 2], x[:, hd // 2:]) * torch.polar(torch.ones(T, hd // 2, dtype=D), torch.arange(T, dtype=D)[:, None] * inv)
        ok1 = torch.allclose(y, torch.cat([z.real, z.imag], -1), atol=1e-12)
        q, k = torch.randn(hd, generator=g, dtype=D), torch.randn(hd, generator=g, dtype=D)
        rq = lambda v, m: v * cos[m] + rotate_half(v) * sin[m]
        ok2 = abs(float(rq(q, 7) @ rq(k, 3)) - float(rq(q, 5) @ rq(k, 1))) < 1e-12
        check("rope", f"theta={theta:g}: rotate_half == complex pair rotation, relative-position invariance", ok1 and ok2)


CASES = {
    "opt-pre": lambda: case_opt("opt-pre", True, 32, "F32", ["q_proj", "v_proj"], 4, 8, seed=1001),
    "opt-post-proj": lambda: case_opt("opt-post-proj", False, 16, "BF16", ["q_proj", "v_proj", "fc1"], 2, 4, seed=1002),
    "llama-gqa": lambda: case_llama("llama-gqa", 2, False, 10000, "F32",
                                    ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], 4, 8,
                                    True, True, seed=1003),
    "llama-tied-bf16": lambda: case_llama("llama-tied-bf16", 1, True, 500000, "BF16", ["q_proj", "v_proj"], 8, 16, False,
                                          False, seed=1004),
    "gpt2": lambda: case_gpt2(seed=1005),
    "bert-mlm": lambda: case_bert_mlm(seed=1006),
    "bert-cls": lambda: case_bert_cls(seed=1007),
    # rope_scaling, each with parameters that change the frequencies in use at T = 11 (see the case notes)
    "llama3-rope": lambda: case_llama("llama3-rope", 2, False, 500000, "F32", ["q_proj", "v_proj"], 4, 8, False, False,
                                      seed=1008, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                               "high_freq_factor": 4.0,
                                                               "original_max_position_embeddings": 16}),
    "llama-yarn-rope": lambda: case_llama("llama-yarn-rope", 2, True, 10000, "F32", ["q_proj", "k_proj", "v_proj"], 4, 8,
                                          False, False, seed=1009, rope_scaling={"rope_type": "yarn", "factor": 4.0}),
    "llama-linear-rope": lambda: case_llama("llama-linear-rope", 1, False, 10000, "F32", ["q_proj", "v_proj"], 4, 8,
                                            False, False, seed=1010, rope_scaling={"type": "linear", "factor": 2.0}),
    "qwen2": lambda: case_llama("qwen2", 2, True, 1000000, "F32", ["q_proj", "k_proj", "v_proj", "o_proj"], 4, 8, False,
                                False, seed=1012, family="qwen2"),
    "qwen3": lambda: case_llama("qwen3", 2, True, 1000000, "F32", ["q_proj", "k_proj", "v_proj", "o_proj"], 4, 8, False,
                                False, seed=1014, family="qwen3"),
    "mistral": lambda: case_llama("mistral", 2, False, 10000, "F32", ["q_proj", "k_proj", "v_proj", "o_proj"], 4, 8, False,
                                  False, seed=1015, family="mistral"),
    "phi3": lambda: case_llama("phi3", 2, False, 10000, "F32", ["qkv_proj", "gate_up_proj"], 4, 8, False, False,
                               seed=1016, family="phi3"),
    "llama-attn-bias": lambda: case_llama("llama-attn-bias", 2, False, 10000, "F32", ["q_proj", "v_proj", "o_proj"], 4, 8,
                                          False, False, seed=1013, family="llama-attn-bias"),
    "llama-dynamic-rope": lambda: case_llama("llama-dynamic-rope", 2, False, 10000, "F32", ["q_proj", "v_proj"], 4, 8,
                                             False, False, seed=1011, rope_scaling={"rope_type": "dynamic", "factor": 2.0},
                                             max_pos=8),
}


def main():
    """All cases, or only those named on the command line (e.g. a new case without rewriting the others)."""
    os.makedirs(OUT, exist_ok=True)
    print(f"writing to {OUT}")
    rope_self_check()
    names = _args or list(CASES)
    for n in names:
        if n not in CASES:
            raise SystemExit(f"unknown case {n}; known: {', '.join(CASES)}")
        CASES[n]()
    print('== cross-check vs torch.nn')
    cross_check_torch_nn()
    bad = [c for c in CHECKS if not c[2]]
    print(f"\n{len(CHECKS) - len(bad)}/{len(CHECKS)} self-checks passed")
    for c in bad:
        print("FAILED:", c)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
