#!/usr/bin/env python3
"""Parity fixtures for docmoco-data's augmentations, made with torchvision.

Runs torchvision.transforms.functional with FIXED parameters (no torch RNG: random
parameter sampling is tested in Rust by its rules instead) on small deterministic images and
writes crates/docmoco-data/tests/fixtures/aug.safetensors (< 50 KB). Every parameter is stored
next to its output, so the Rust test (tests/aug_parity.rs) reads them from the file and the
values are defined in one place only.

Usage: python3 tools/make_aug_fixtures.py   (needs torch, torchvision, safetensors)
"""

import math
import os

import torch
import torchvision
import torchvision.transforms.functional as F
from safetensors.torch import save_file
from torchvision.transforms import InterpolationMode

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..", "crates", "docmoco-data", "tests", "fixtures", "aug.safetensors",
)


def pattern(c, h, w, fx, fy):
    """Smooth sin/cos pattern in [0, 1]: structure at several frequencies, all hues."""
    y = torch.arange(h, dtype=torch.float64).view(h, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, w)
    planes = []
    for k in range(c):
        v = 0.5 + 0.35 * torch.sin(fx * (k + 1) * x + 0.7 * k) * torch.cos(fy * (k + 2) * y - 0.3 * k)
        v = v + 0.15 * torch.sin(0.9 * x + 1.3 * y + k)
        planes.append(v.clamp(0, 1))
    return torch.stack(planes).to(torch.float32)


def colour_image():
    """3x8x8 floats for the colour ops, with the corner cases of _rgb2hsv planted."""
    img = pattern(3, 8, 8, 0.9, 0.8)
    img[:, 0, 0] = torch.tensor([0.5, 0.5, 0.5])  # grey: max == min
    img[:, 0, 1] = torch.tensor([1.0, 0.0, 0.0])  # pure red
    img[:, 0, 2] = torch.tensor([0.0, 1.0, 0.0])  # pure green
    img[:, 0, 3] = torch.tensor([0.0, 0.0, 1.0])  # pure blue
    img[:, 0, 4] = torch.tensor([0.0, 0.0, 0.0])  # black
    img[:, 0, 5] = torch.tensor([1.0, 1.0, 1.0])  # white
    img[:, 0, 6] = torch.tensor([0.8, 0.8, 0.2])  # max shared by r and g
    img[:, 0, 7] = torch.tensor([0.2, 0.7, 0.7])  # max shared by g and b
    return img


def main():
    t = {}
    # Resize parity: a float image and the same as uint8 (the cached pages are uint8).
    img_f = pattern(3, 20, 28, 0.45, 0.6)
    img_u8 = (img_f * 255).round().to(torch.uint8)
    img_u8f = img_u8.to(torch.float32) / 255  # what ToTensor gives for the uint8 page
    t["img_f"] = img_f
    t["img_u8"] = img_u8

    # (top, left, h, w, out_h, out_w): shrink, shrink anisotropic, enlarge, one axis equal,
    # and a crop touching the bottom-right border.
    rc = [
        (0, 0, 20, 28, 8, 8),
        (3, 5, 13, 18, 7, 9),
        (6, 9, 10, 6, 12, 10),
        (5, 2, 15, 26, 15, 10),
        (7, 9, 13, 19, 5, 6),
    ]
    t["rc_params"] = torch.tensor(rc, dtype=torch.int32)
    for k, (top, left, h, w, oh, ow) in enumerate(rc):
        args = dict(top=top, left=left, height=h, width=w, size=[oh, ow],
                    interpolation=InterpolationMode.BILINEAR, antialias=True)
        t[f"rc_f_{k}"] = F.resized_crop(img_f, **args)
        t[f"rc_u8f_{k}"] = F.resized_crop(img_u8f, **args)
        t[f"rc_u8_{k}"] = F.resized_crop(img_u8, **args)

    # Evaluation geometry on the uint8 page: squash to 16x16; Resize(12) + CenterCrop(10).
    t["square_16"] = F.resize(img_u8f, [16, 16], InterpolationMode.BILINEAR, antialias=True)
    t["resize12_crop10"] = F.center_crop(
        F.resize(img_u8f, 12, InterpolationMode.BILINEAR, antialias=True), [10, 10])

    # Colour ops on floats in [0, 1].
    c = colour_image()
    t["colour"] = c
    factors = {
        "brightness": [0.6, 1.3, 1.4],
        "contrast": [0.0, 0.5, 1.7],
        "saturation": [0.0, 0.3, 1.8],
        "hue": [-0.5, -0.3, 0.08, 0.1, 0.5],
    }
    fns = {
        "brightness": F.adjust_brightness,
        "contrast": F.adjust_contrast,
        "saturation": F.adjust_saturation,
        "hue": F.adjust_hue,
    }
    for name, fs in factors.items():
        t[f"{name}_factors"] = torch.tensor(fs, dtype=torch.float64)
        for k, f in enumerate(fs):
            t[f"{name}_{k}"] = fns[name](c, f)

    # ColorJitter with a fixed order (a torch.randperm(4) outcome) and fixed factors.
    order = [2, 0, 3, 1]
    jf = [1.25, 0.7, 1.35, -0.07]  # brightness, contrast, saturation, hue
    out = c
    for op in order:
        out = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue][op](out, jf[op])
    t["jitter_order"] = torch.tensor(order, dtype=torch.int32)
    t["jitter_factors"] = torch.tensor(jf, dtype=torch.float64)
    t["jitter"] = out

    t["grayscale3"] = F.rgb_to_grayscale(c, num_output_channels=3).contiguous()

    # Blur: kernel size = 2 * ceil(3 sigma) + 1 (docmoco's rule), reflect padding.
    sigmas = [0.1, 0.5, 1.0, 1.37, 2.0]
    t["blur_sigmas"] = torch.tensor(sigmas, dtype=torch.float64)
    for k, s in enumerate(sigmas):
        ks = 2 * math.ceil(3 * s) + 1
        t[f"blur_{k}"] = F.gaussian_blur(c, [ks, ks], [s, s])

    t["solarize"] = F.solarize(c, 0.5)
    t["normalize"] = F.normalize(c, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])

    t = {k: v.contiguous() for k, v in t.items()}
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    save_file(t, OUT, metadata=meta)
    print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes, {len(t)} tensors, {meta}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
