#!/usr/bin/env python3
"""docmoco's detector.safetensors -> PyTorch DBNet -> ONNX, for ONNX-based OCR runtimes.

burn 0.22 reads ONNX but cannot write it, so docmoco exports its detector as a state dict in
the reference DBNet layout (docs/detection.md) and this script does the last step:

    python3 tools/export_onnx.py RUN_DIR/detector.safetensors detector.onnx \
        [--width-mult 0.25] [--inner-channels 64] [--size 1536]

It rebuilds the network (torchvision-layout ResNet-18 backbone from tools/bench_torch.py,
the DBNet decoder from tools/make_dbnet_fixtures.py), loads the file with strict=True (every
tensor must be present with its shape: this is the check that the layout is the documented
one), and exports the probability map P (input: N x 3 x H x W, ImageNet-normalised RGB,
H and W multiples of 32; output: N x 1 x H x W) with dynamic height and width.
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_torch import build  # noqa: E402
from make_dbnet_fixtures import Decoder  # noqa: E402


class DBNet(nn.Module):
    def __init__(self, width_mult, inner):
        super().__init__()
        self.backbone = build("resnet18", width_mult, False, 1, 128)
        del self.backbone.fc, self.backbone.avgpool
        stages = [max(1, round(w * width_mult)) for w in (64, 128, 256, 512)]
        self.decoder = Decoder(stages, inner)

    def forward(self, x):
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        c2 = b.layer1(x)
        c3 = b.layer2(c2)
        c4 = b.layer3(c3)
        c5 = b.layer4(c4)
        return self.decoder(c2, c3, c4, c5)[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("out")
    p.add_argument("--width-mult", type=float, default=0.25)
    p.add_argument("--inner-channels", type=int, default=64)
    p.add_argument("--size", type=int, default=1536)
    a = p.parse_args()
    model = DBNet(a.width_mult, a.inner_channels)
    state = load_file(a.weights)
    # BN's num_batches_tracked is not part of docmoco's file; keep the module's zeros.
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            state.setdefault(k, v)
    model.load_state_dict(state, strict=True)
    model.eval()
    h = (a.size + 31) // 32 * 32
    x = torch.zeros(1, 3, h, (h * 3 // 4 + 31) // 32 * 32)
    torch.onnx.export(model, (x,), a.out, input_names=["image"], output_names=["prob"],
                      dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                    "prob": {0: "n", 2: "h", 3: "w"}},
                      opset_version=17, dynamo=False)
    print(f"loaded {len(state)} tensors from {a.weights}; wrote {a.out}")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    # The exported graph must compute what PyTorch computes, at a size other than the trace's.
    y = torch.rand(1, 3, 320, 256) * 4 - 2
    with torch.no_grad():
        ref = model(y).numpy()
    got = ort.InferenceSession(a.out).run(None, {"image": y.numpy()})[0]
    print(f"onnxruntime vs PyTorch on a 320x256 input: max |diff| {abs(got - ref).max():.2e}")


if __name__ == "__main__":
    main()
