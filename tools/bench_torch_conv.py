#!/usr/bin/env python3
"""The `docmoco bench conv` passes in PyTorch: forward, weight gradient and input gradient of
ResNet-18's stem, of one 3x3 convolution per stage and of the stage boundaries' stride-2
convolutions (`-down` 3x3, `-proj` 1x1), timed one aten op at a time. GFLOP/s count im2col's
work (every tap at every output position, the padding included), as docmoco's do.

    python3 tools/bench_torch_conv.py --image-size 112 --batch-size 32 --width-mult 1.0 \
        --iters 5 --threads 2
    python3 tools/bench_torch_conv.py --image-size 256 --batch-size 8 --width-mult 0.25 \
        --fpn-channels 64 --iters 10 --threads 2      # DBNet's backbone and FPN neck

Prints one JSON line per pass with the fields docmoco prints (layer, pass, milliseconds,
gflops). The gradients are `aten.convolution_backward` with only the asked-for output, the op
PyTorch's autograd runs. Not run in CI (needs PyTorch); tools/compare.sh conv pairs the two.
"""
import argparse
import json
import time

import torch


def layers(size, width_mult):
    width = lambda c: max(1, round(c * width_mult))
    out = [("stem", 3, width(64), 7, 2, size)]
    side = -(-(-(-size // 2)) // 2)  # stem (stride 2), then the max pool (stride 2), rounded up
    boundaries = []  # after the stages, as `docmoco bench conv` lists them
    for s, c in enumerate([64, 128, 256, 512]):
        if s > 0:
            before, c_prev = side, width([64, 128, 256][s - 1])
            side = -(-side // 2)
            boundaries.append((f"stage{s + 1}-down", c_prev, width(c), 3, 2, before))
            boundaries.append((f"stage{s + 1}-proj", c_prev, width(c), 1, 2, before))
        out.append((f"stage{s + 1}", width(c), width(c), 3, 1, side))
    return out + boundaries


def fpn_layers(size, width_mult, inner):
    """DBNet's FPN neck, as `docmoco bench conv --fpn-channels` lists it: the lateral 1x1
    convolutions (`fpn-inK`), then the 3x3 smoothing ones (`fpn-outK`, inner -> inner/4)."""
    width = lambda c: max(1, round(c * width_mult))
    side = -(-(-(-size // 2)) // 2)
    lateral, smooth = [], []
    for s, c in enumerate([64, 128, 256, 512]):
        if s > 0:
            side = -(-side // 2)
        lateral.append((f"fpn-in{s + 2}", width(c), inner, 1, 1, side))
        smooth.append((f"fpn-out{s + 2}", inner, max(1, inner // 4), 3, 1, side))
    return lateral + smooth


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fpn-channels", type=int, default=None,
                   help="also time DBNet's FPN neck of this width (after the ResNet layers)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    todo = layers(a.image_size, a.width_mult)
    if a.fpn_channels:
        todo += fpn_layers(a.image_size, a.width_mult, a.fpn_channels)
    for name, c_in, c_out, k, stride, side in todo:
        pad = k // 2
        x = torch.rand(a.batch_size, c_in, side, side) * 2 - 1
        w = torch.rand(c_out, c_in, k, k) * 2 - 1
        y = torch.nn.functional.conv2d(x, w, stride=stride, padding=pad)
        dy = torch.rand_like(y) * 2 - 1
        flops = 2.0 * c_out * c_in * k * k * y.shape[2] * y.shape[3] * a.batch_size

        def backward(mask):
            return torch.ops.aten.convolution_backward(
                dy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1, mask)

        passes = [
            ("forward", lambda: torch.nn.functional.conv2d(x, w, stride=stride, padding=pad)),
            ("weight_grad", lambda: backward([False, True, False])),
            ("input_grad", lambda: backward([True, False, False])),
        ]
        for pass_name, f in passes:
            for _ in range(2):
                f()
            t = time.perf_counter()
            for _ in range(a.iters):
                f()
            secs = (time.perf_counter() - t) / a.iters
            print(json.dumps({"layer": name, "pass": pass_name, "family": "torch",
                              "milliseconds": secs * 1e3, "gflops": flops / secs / 1e9}))


if __name__ == "__main__":
    main()
