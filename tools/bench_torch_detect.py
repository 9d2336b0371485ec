#!/usr/bin/env python3
"""The `docmoco bench detect` workloads in PyTorch, for a same-machine comparison.

A DBNet training step (ResNet-18 with a width multiplier -> FPN -> probability/threshold
heads, the 5*BCE(hard negatives 3:1) + dice + 10*L1 loss, backward, SGD momentum 0.9 wd 1e-4)
on random crops with the same text-like stripe targets as docmoco's benchmark, and page
inference (probability map). The network and loss are those of tools/make_dbnet_fixtures.py
(the parity reference); the backbone is tools/bench_torch.py's. One JSON line per workload.

Usage (not run in CI): python3 tools/bench_torch_detect.py --width-mult 0.25 --crop-size 256 \
    --batch-size 8 --inner-channels 64 --infer-size 1536 --iters 10 --threads 2
On a GPU (tools/gpu/bench.sh): --device cuda.
"""
import argparse

import torch

from bench_torch import build, measure
from make_dbnet_fixtures import Decoder, balanced_bce, dice, masked_l1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--width-mult", type=float, default=0.25)
    p.add_argument("--crop-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--inner-channels", type=int, default=64)
    p.add_argument("--infer-size", type=int, default=1536)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    net = build("resnet18", a.width_mult, False, 1, 128)
    stages = [max(1, round(w * a.width_mult)) for w in (64, 128, 256, 512)]
    dec = Decoder(stages, a.inner_channels)
    net.to(dev)
    dec.to(dev)

    def forward(x):
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        c2 = net.layer1(x)
        c3 = net.layer2(c2)
        c4 = net.layer3(c3)
        c5 = net.layer4(c4)
        return dec(c2, c3, c4, c5)

    params = list(net.parameters()) + list(dec.parameters())
    opt = torch.optim.SGD(params, lr=0.02, momentum=0.9, weight_decay=1e-4)
    n, s = a.batch_size, a.crop_size
    x = (torch.rand(n, 3, s, s) * 4 - 2).to(dev)
    rows = torch.arange(s).view(1, s, 1).expand(n, s, s)
    stripes = (((rows % 16) >= 3) & ((rows % 16) < 6)).float().to(dev)
    ones = torch.ones(n, s, s, device=dev)

    def step():
        prob, thresh, binary = forward(x)
        loss = (5 * balanced_bce(prob[:, 0], stripes, ones) + dice(binary[:, 0], stripes, ones)
                + 10 * masked_l1(thresh[:, 0], 0.5 * ones, stripes))
        opt.zero_grad()
        loss.backward()
        opt.step()

    tag = f"resnet18 x{a.width_mult} crop {s}px batch {n} (FPN {a.inner_channels})"
    measure(f"torch detect step {tag}", n, a.warmup, a.iters, step, dev)

    net.eval()
    dec.eval()
    h = (a.infer_size + 31) // 32 * 32
    w = (h * 3 // 4 + 31) // 32 * 32
    page = (torch.rand(1, 3, h, w) * 4 - 2).to(dev)

    def infer():
        with torch.no_grad():
            forward(page)
    measure(f"torch detect inference page {h}x{w} (probability map)", 1, 1,
            max(1, (a.iters + 2) // 3), infer, dev)


if __name__ == "__main__":
    main()
