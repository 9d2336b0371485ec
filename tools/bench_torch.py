#!/usr/bin/env python3
"""The `docmoco bench pretrain` workloads in PyTorch, for a same-machine comparison.

Runs a MoCo v2 training step (momentum update, shuffle + split-BN key forward without grad,
query forward, InfoNCE against a queue, backward, SGD momentum/wd) on random images, the key
encoder forward alone and eval feature extraction, with the same architecture, width, image
size, batch, queue and BN splits as docmoco's benchmark. Prints one JSON line per workload.

Usage (not run in CI):
    python3 tools/bench_torch.py --arch resnet18 --width-mult 1.0 --image-size 64 \
        --batch-size 32 --queue-size 4096 --bn-splits 8 --iters 10 --threads 2
On a GPU (tools/gpu/bench.sh): --device cuda [--amp] (bf16 autocast, PyTorch eager).
Needs torch + torchvision (tools/requirements.txt). flush-denormal is on: without it PyTorch
CPU training at 112 px is ~4x slower (measured on the project's 2-core machine).
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet


class SplitBatchNorm(nn.BatchNorm2d):
    """BN over `num_splits` sub-batches (sample n in split n % S), the MoCo demo's trick."""

    def __init__(self, num_features, num_splits=1, **kw):
        super().__init__(num_features, **kw)
        self.num_splits = num_splits

    def forward(self, x):
        n, c, h, w = x.shape
        s = self.num_splits
        if self.training and s > 1 and n % s == 0:
            rm = self.running_mean.repeat(s)
            rv = self.running_var.repeat(s)
            out = F.batch_norm(x.view(-1, c * s, h, w), rm, rv, self.weight.repeat(s),
                               self.bias.repeat(s), True, self.momentum, self.eps).view(n, c, h, w)
            self.running_mean.data.copy_(rm.view(s, c).mean(0))
            self.running_var.data.copy_(rv.view(s, c).mean(0))
            return out
        return super().forward(x)


def build(arch, width_mult, small_stem, splits, dim):
    widths = [max(1, round(w * width_mult)) for w in (64, 128, 256, 512)]
    block, layers = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
                     "resnet50": (Bottleneck, [3, 4, 6, 3])}[arch]

    class Net(ResNet):
        def __init__(self):
            nn.Module.__init__(self)
            self._norm_layer = lambda c: SplitBatchNorm(c, splits)
            self.inplanes, self.dilation, self.groups, self.base_width = widths[0], 1, 1, 64
            if small_stem:
                self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
                self.maxpool = nn.Identity()
            else:
                self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.bn1 = self._norm_layer(widths[0])
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = self._make_layer(block, widths[0], layers[0])
            self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
            self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
            self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            feat = widths[3] * block.expansion
            self.fc = nn.Sequential(nn.Linear(feat, feat), nn.ReLU(), nn.Linear(feat, dim))

    return Net()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name, n, warmup, iters, fn, device=torch.device("cpu")):
    for _ in range(warmup):
        fn()
    sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    sec = (time.perf_counter() - t) / iters
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"workload": name, "images_per_second": n / sec, "seconds_per_iter": sec,
                      "peak_rss_mb": rss}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--small-stem", action="store_true")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--queue-size", type=int, default=4096)
    p.add_argument("--bn-splits", type=int, default=8)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (mixed precision)")
    a = p.parse_args()
    dev = torch.device(a.device)
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.amp)
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    q_enc = build(a.arch, a.width_mult, a.small_stem, a.bn_splits, a.dim)
    k_enc = build(a.arch, a.width_mult, a.small_stem, a.bn_splits, a.dim)
    q_enc, k_enc = q_enc.to(dev), k_enc.to(dev)
    k_enc.load_state_dict(q_enc.state_dict())
    for p_ in k_enc.parameters():
        p_.requires_grad = False
    queue = F.normalize(torch.randn(a.dim, a.queue_size, device=dev), dim=0)
    opt = torch.optim.SGD(q_enc.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    n, s = a.batch_size, a.image_size
    xq = torch.rand(n, 3, s, s, device=dev) * 4 - 2
    xk = torch.rand(n, 3, s, s, device=dev) * 4 - 2
    zeros = torch.zeros(n, dtype=torch.long, device=dev)
    ptr = [0]

    def step():
        with torch.no_grad():
            for pq, pk in zip(q_enc.parameters(), k_enc.parameters()):
                pk.mul_(0.99).add_(pq.detach(), alpha=0.01)
            perm = torch.randperm(n, device=dev)
            with amp:
                k = F.normalize(k_enc(xk[perm]).float(), dim=1)[torch.argsort(perm)]
        with amp:
            q = F.normalize(q_enc(xq).float(), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue], 1) / 0.2
        loss = F.cross_entropy(logits, zeros)
        opt.zero_grad()
        loss.backward()
        opt.step()
        i = ptr[0]
        idx = (torch.arange(n) + i) % a.queue_size
        queue[:, idx] = k.T
        ptr[0] = (i + n) % a.queue_size

    tag = f"{a.arch} x{a.width_mult} {s}px batch {n}" + (" amp" if a.amp else "")
    measure(f"torch pretrain step {tag}", n, a.warmup, a.iters, step, dev)

    def key_fwd():
        with torch.no_grad(), amp:
            k_enc(xk)
    measure(f"torch key-encoder forward {tag}", n, a.warmup, a.iters, key_fwd, dev)

    q_enc.eval()

    def feats():
        with torch.no_grad(), amp:
            q_enc.fc = nn.Identity()
            q_enc(xq)
    measure(f"torch feature extraction (eval) {tag}", n, a.warmup, a.iters, feats, dev)


if __name__ == "__main__":
    main()
