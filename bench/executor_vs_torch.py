#!/usr/bin/env python3
"""The executor against PyTorch eager on the same shapes (issue 5: at least as fast).

PyTorch runs the same Llama-family forward pass headroom's executor runs: RMSNorm, fused QKV, RoPE, a KV
cache, attention (F.scaled_dot_product_attention, causal for the prefill), O projection, gated SiLU MLP,
residuals, final norm, LM head on the last token, greedy sampling; bf16 weights, random, at the model's true
dimensions (from models/configs). Both are timed with CUDA events over iterations after warm-up. headroom's
side is `headroom measure step --json` (a decode step replays its CUDA graph; PyTorch eager does not).

Usage: bench/executor_vs_torch.py [--model meta-llama__Llama-3.1-8B-Instruct] [--gpu h100] [--headroom PATH]
Exits 3 without PyTorch or without a GPU.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

from torch_gpu import torch_on_gpu

ROOT = pathlib.Path(__file__).resolve().parents[1]


def torch_forward_times(cfg, cases, iters, warmup):
    import torch
    import torch.nn.functional as F

    dev = "cuda"
    bf = torch.bfloat16
    h, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    d = cfg.get("head_dim") or h // H
    inter, V, L = cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    eps, theta = cfg.get("rms_norm_eps", 1e-5), cfg.get("rope_theta", 10000.0)
    g = torch.Generator(device=dev).manual_seed(0)

    def rand(*shape, std=0.02):
        return (torch.randn(*shape, device=dev, generator=g, dtype=torch.float32) * std).to(bf)

    emb = rand(V, h, std=1.0)
    layers = [dict(n1=torch.ones(h, device=dev, dtype=bf), qkv=rand((H + 2 * KV) * d, h), o=rand(h, H * d),
                   n2=torch.ones(h, device=dev, dtype=bf), gu=rand(2 * inter, h), down=rand(h, inter)) for _ in range(L)]
    norm_f, lm_head = torch.ones(h, device=dev, dtype=bf), rand(V, h)

    def rms(x, w):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(bf) * w

    def rope(x, pos):  # x [T, heads, d]
        half = d // 2
        freq = theta ** (-torch.arange(0, half, device=dev, dtype=torch.float32) * 2 / d)
        ang = pos[:, None].float() * freq[None, :]
        c, s = ang.cos()[:, None, :], ang.sin()[:, None, :]
        a, b = x[..., :half].float(), x[..., half:].float()
        return torch.cat([a * c - b * s, b * c + a * s], -1).to(bf)

    def forward(tokens, pos, kcache, vcache, batch, q_len):
        # tokens [batch * q_len]; caches per layer [batch, KV, ctx + q_len, d], written at pos
        x = emb[tokens]
        for li, w in enumerate(layers):
            xn = rms(x, w["n1"])
            qkv = xn @ w["qkv"].t()
            q, k, v = qkv.split([H * d, KV * d, KV * d], -1)
            q = rope(q.view(-1, H, d), pos)
            k = rope(k.reshape(-1, KV, d), pos)
            v = v.reshape(-1, KV, d)
            p0 = int(pos[0])
            kc, vc = kcache[li], vcache[li]
            kc[:, :, p0:p0 + q_len] = k.view(batch, q_len, KV, d).transpose(1, 2)
            vc[:, :, p0:p0 + q_len] = v.view(batch, q_len, KV, d).transpose(1, 2)
            qh = q.view(batch, q_len, H, d).transpose(1, 2)
            keys, vals = kc[:, :, :p0 + q_len], vc[:, :, :p0 + q_len]
            try:
                a = F.scaled_dot_product_attention(qh, keys, vals, is_causal=q_len > 1, enable_gqa=True)
            except TypeError:  # older PyTorch: repeat the KV heads
                rep = H // KV
                a = F.scaled_dot_product_attention(qh, keys.repeat_interleave(rep, 1), vals.repeat_interleave(rep, 1),
                                                   is_causal=q_len > 1)
            x = x + a.transpose(1, 2).reshape(-1, H * d) @ w["o"].t()
            gu = rms(x, w["n2"]) @ w["gu"].t()
            gt, up = gu.split([inter, inter], -1)
            x = x + (F.silu(gt) * up) @ w["down"].t()
        last = x.view(batch, q_len, h)[:, -1]
        return (rms(last, norm_f) @ lm_head.t()).float().argmax(-1)

    out = {}
    for name, batch, q_len, ctx in cases:
        kc = [torch.zeros(batch, KV, ctx + q_len, d, device=dev, dtype=bf) for _ in range(L)]
        vc = [torch.zeros(batch, KV, ctx + q_len, d, device=dev, dtype=bf) for _ in range(L)]
        tokens = torch.arange(batch * q_len, device=dev) % V
        pos = torch.arange(ctx, ctx + q_len, device=dev).repeat(batch)
        times = []
        with torch.inference_mode():
            for i in range(warmup + iters):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                forward(tokens, pos, kc, vc, batch, q_len)
                b.record()
                torch.cuda.synchronize()
                if i >= warmup:
                    times.append(a.elapsed_time(b) * 1e-3)
        out[name] = statistics.median(times)
        del kc, vc
        torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="meta-llama__Llama-3.1-8B-Instruct")
    ap.add_argument("--gpu", default="h100")
    ap.add_argument("--headroom", default=str(ROOT / "build" / "cli" / "headroom"))
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()
    torch = torch_on_gpu()
    if torch is None:
        return 3
    cfg_path = ROOT / "models" / "configs" / f"{args.model}.json"
    cfg = json.loads(cfg_path.read_text())
    cases = [("decode b1 ctx512", 1, 1, 512), ("decode b32 ctx1024", 32, 1, 1024), ("prefill 4096", 1, 4096, 0)]
    torch_s = torch_forward_times(cfg, cases, args.iterations, 5)
    torch.cuda.empty_cache()
    print(f"{'shape':<22} {'headroom p50':>14} {'PyTorch eager':>14} {'speed-up':>9}")
    worst = None
    for name, batch, q_len, ctx in cases:
        flags = ["--tokens", str(q_len)] if q_len > 1 else ["--decode-batch", str(batch), "--context", str(ctx)]
        r = subprocess.run([args.headroom, "measure", "step", "-m", str(cfg_path), "-g", args.gpu, *flags,
                            "--iterations", str(args.iterations), "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr.strip(), file=sys.stderr)
            return r.returncode
        hs = json.loads(r.stdout)["step_s"]["p50"]
        ratio = torch_s[name] / hs
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{name:<22} {hs * 1e3:11.3f} ms {torch_s[name] * 1e3:11.3f} ms {ratio:8.2f}x")
    print(f"target: at least as fast as PyTorch eager on every shape: {'met' if worst >= 1.0 else 'NOT met'}")
    print(f"PyTorch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
