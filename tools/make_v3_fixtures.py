#!/usr/bin/env python3
"""PyTorch reference fixtures for docmoco's MoCo v3 (facebookresearch/moco-v3 semantics).

Regenerate (developer machine only; CI never runs this):

    python3 tools/make_v3_fixtures.py

float32, single-threaded, torch.manual_seed(0) at the start of every fixture. The
reference functions are re-implemented here from the moco-v3 paper and README (no code
copied): the formulas are short and named in each section. Output:
crates/docmoco/tests/fixtures/v3_*.safetensors.

v3_loss.safetensors
    contrastive_loss of moco-v3 builder.py: q, k normalised, logits = q k^T / T,
    CE(logits, arange(N)) * 2T; symmetric ctr(q1,k2) + ctr(q2,k1). `q1,q2,k1,k2` [6,8]
    (NOT normalised), `t` = 0.2, `loss`, `grad_q1`, `grad_q2` (keys are constants).
v3_momentum.safetensors
    adjust_moco_momentum: m = 1 - 0.5*(1+cos(pi*epoch/epochs))*(1-m0), m0 = 0.99,
    epochs = 10, at fractional epochs `epoch` -> `m`. Also the v3 lr schedule
    (`lr` at the same epochs, base 0.6, warmup 2 epochs, half-cosine after).
v3_lars.safetensors
    LARS of moco-v3 optimizer.py (lr 0.5, wd 0.01, momentum 0.9, trust 0.001):
    `w0` [5,6] (rank 2: wd + trust ratio) and `b0` [6] (rank 1: plain momentum), grads
    `gw1,gw2,gb1,gb2` -> `w1,w2,b1,b2`.
v3_vit.safetensors
    A ViT written here from the paper / timm semantics (pre-norm blocks, LayerNorm eps 1e-6,
    qkv Linear, MLP ratio 4 with exact GELU, class token, fixed 2-D sin-cos position
    embedding as moco-v3 build_2d_sincos_position_embedding, final LayerNorm, class-token
    output): image 32, patch 8, depth 2, dim 48, 4 heads. Weights under `model.` with timm
    names (`blocks.0.attn.qkv.weight` [144,48], torch layout [out,in]); LayerNorm affine
    params and biases randomised so that every term is exercised. `x` [2,3,32,32],
    `tokens` [2,17,48] (after the final norm), `feat` [2,48] (class token),
    `r` [2,48] and the gradients of sum(feat*r): `grad_qkv0` (block 0 qkv weight),
    `grad_patch` (patch projection weight), `grad_cls`.
v3_adamw.safetensors
    torch.optim.AdamW(lr=0.01, weight_decay=0.1, betas (0.9,0.999), eps 1e-8), same
    layout: `w0`,`b0`,`gw1`,`gw2`,`gb1`,`gb2` -> `w1`,`w2`,`b1`,`b2`.
"""

import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "crates", "docmoco", "tests", "fixtures"
)


def save(name, tensors):
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT_DIR, name))
    print(name, sum(v.numel() for v in tensors.values()), "numbers")


def scalar(x):
    return torch.tensor([float(x)], dtype=torch.float32)


def ctr(q, k, t):
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1)
    logits = q @ k.t() / t
    labels = torch.arange(q.shape[0])
    return F.cross_entropy(logits, labels) * (2 * t)


def fixture_loss():
    torch.manual_seed(0)
    q1, q2, k1, k2 = (torch.randn(6, 8) for _ in range(4))
    q1.requires_grad_(True)
    q2.requires_grad_(True)
    t = 0.2
    loss = ctr(q1, k2, t) + ctr(q2, k1, t)
    loss.backward()
    save("v3_loss.safetensors", dict(q1=q1, q2=q2, k1=k1, k2=k2, t=scalar(t),
                                     loss=loss.reshape(1), grad_q1=q1.grad, grad_q2=q2.grad))


def fixture_momentum():
    epochs, m0 = 10, 0.99
    es = [0.0, 0.25, 1.0, 2.5, 5.0, 7.75, 9.9, 10.0]
    ms = [1.0 - 0.5 * (1.0 + math.cos(math.pi * e / epochs)) * (1.0 - m0) for e in es]
    base, warm = 0.6, 2.0
    lrs = [base * e / warm if e < warm else
           base * 0.5 * (1.0 + math.cos(math.pi * (e - warm) / (epochs - warm))) for e in es]
    save("v3_momentum.safetensors", dict(epoch=torch.tensor(es, dtype=torch.float64),
                                         m=torch.tensor(ms, dtype=torch.float64),
                                         lr=torch.tensor(lrs, dtype=torch.float64)))


def lars_step(params, state, lr, wd, momentum, trust):
    with torch.no_grad():
        for p in params:
            dp = p.grad
            if p.ndim > 1:
                dp = dp.add(p, alpha=wd)
                pn, un = torch.norm(p), torch.norm(dp)
                one = torch.ones_like(pn)
                q = torch.where(pn > 0.0, torch.where(un > 0, trust * pn / un, one), one)
                dp = dp.mul(q)
            mu = state.setdefault(id(p), torch.zeros_like(p))
            mu.mul_(momentum).add_(dp)
            p.add_(mu, alpha=-lr)


def two_steps(name, make_step):
    torch.manual_seed(0)
    w = torch.randn(5, 6, requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    out = dict(w0=w.detach().clone(), b0=b.detach().clone())
    step = make_step([w, b])
    for i in (1, 2):
        gw, gb = torch.randn(5, 6), torch.randn(6)
        w.grad, b.grad = gw.clone(), gb.clone()
        step()
        out.update({f"gw{i}": gw, f"gb{i}": gb, f"w{i}": w.detach().clone(),
                    f"b{i}": b.detach().clone()})
    save(name, out)


def fixture_optimizers():
    state = {}
    two_steps("v3_lars.safetensors",
              lambda ps: (lambda: lars_step(ps, state, 0.5, 0.01, 0.9, 0.001)))

    def adamw(ps):
        opt = torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)
        return opt.step
    two_steps("v3_adamw.safetensors", adamw)


def sincos_2d(h, w, dim, temperature=10000.0):
    # meshgrid with matrix indexing over (w, h), as moco-v3 does: token m gets (m // h, m % h)
    gw, gh = torch.meshgrid(torch.arange(w, dtype=torch.float32),
                            torch.arange(h, dtype=torch.float32), indexing="ij")
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    ow = gw.flatten()[:, None] * omega[None, :]
    oh = gh.flatten()[:, None] * omega[None, :]
    emb = torch.cat([ow.sin(), ow.cos(), oh.sin(), oh.cos()], dim=1)
    return torch.cat([torch.zeros(1, dim), emb], dim=0)[None]


class Block(torch.nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        nn = torch.nn
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim)
        self.attn.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)

    def attention(self, x):
        b, n, c = x.shape
        hd = c // self.heads
        qkv = self.attn.qkv(x).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1) * hd ** -0.5).softmax(dim=-1)
        return self.attn.proj((a @ v).transpose(1, 2).reshape(b, n, c))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class ViT(torch.nn.Module):
    def __init__(self, image=32, patch=8, dim=48, depth=2, heads=4):
        super().__init__()
        nn = torch.nn
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        g = image // patch
        self.pos_embed = nn.Parameter(sincos_2d(g, g, dim), requires_grad=False)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def tokens(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


def fixture_vit():
    torch.manual_seed(0)
    model = ViT()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "pos_embed":
                continue
            if name.endswith("bias") or "norm" in name or name == "cls_token":
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    x = torch.randn(2, 3, 32, 32)
    tokens = model.tokens(x)
    feat = tokens[:, 0]
    r = torch.randn(2, 48)
    (feat * r).sum().backward()
    out = {f"model.{k}": v for k, v in model.state_dict().items()}
    out.update(x=x, tokens=tokens, feat=feat, r=r,
               grad_qkv0=model.blocks[0].attn.qkv.weight.grad,
               grad_patch=model.patch_embed.proj.weight.grad,
               grad_cls=model.cls_token.grad)
    save("v3_vit.safetensors", out)


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    fixture_loss()
    fixture_momentum()
    fixture_optimizers()
    fixture_vit()
