#!/usr/bin/env python3
"""PyTorch reference fixtures for docmoco's DBNet head and loss.

Regenerate (developer machine only; CI never runs this):

    pip install -r tools/requirements.txt
    python3 tools/make_dbnet_fixtures.py

Written from the DBNet paper (Liao et al., AAAI 2020) and the layout of the
reference decoder (MhLiao/DB decoders/seg_detector.py: in2..in5, out2..out5,
binarize, thresh; loss L1BalanceCELoss = 5*BalanceCE(P) + Dice(B) + 10*MaskL1(T)).
Float32, one thread, seeded. Output: crates/docmoco/tests/fixtures/dbnet.safetensors

Tensors
-------
decoder.*            head weights in the reference's state-dict names (the
                     layout docmoco's detector export writes), BN affine
                     parameters and running stats randomised.
c2, c3, c4, c5       stage features of a [2, 3, 64, 64] input for stage widths
                     [8, 16, 32, 64] (strides 4..32).
prob_train, thresh_train, binary_train
                     head outputs in train mode (BN batch statistics), k = 50.
prob_eval            probability map in eval mode, after that train forward
                     updated the running statistics (momentum 0.1, unbiased var).
grad.<param>, grad.c2
                     gradients of sum(P*wP) + sum(T*wT) + sum(B*wB) (train mode; the
                     weights grad_w_prob/thresh/binary are random) for a conv, transposed
                     conv, BN and bias of each part of the head, and for the C2 input.
pred, binary, thresh [2, 1, 12, 20] maps for the loss; gt, mask, thresh_map,
                     thresh_mask [2, 12, 20] targets.
bce, dice, l1, total the loss terms (unscaled) and the weighted total.
grad_pred            d total / d pred (hard-negative mining routes the gradient).
"""
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent.parent / "crates/docmoco/tests/fixtures/dbnet.safetensors"
INNER = 16
STAGES = [8, 16, 32, 64]
K = 50.0
GRAD_PARAMS = ["in5.weight", "in2.weight", "out5.0.weight", "out2.weight",
               "binarize.0.weight", "binarize.1.weight", "binarize.3.weight",
               "binarize.3.bias", "binarize.6.weight", "binarize.6.bias",
               "thresh.0.weight", "thresh.4.bias"]


def conv(cin, cout, k):
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)


def map_head(inner):
    q = inner // 4
    return nn.Sequential(
        conv(inner, q, 3), nn.BatchNorm2d(q), nn.ReLU(inplace=True),
        nn.ConvTranspose2d(q, q, 2, 2), nn.BatchNorm2d(q), nn.ReLU(inplace=True),
        nn.ConvTranspose2d(q, 1, 2, 2), nn.Sigmoid())


class Decoder(nn.Module):
    """The DBNet decoder for backbone stage widths `stages` (C2..C5) and FPN width `inner`."""

    def __init__(self, stages=STAGES, inner=INNER):
        super().__init__()
        q = inner // 4
        for i, c in zip(range(2, 6), stages):
            setattr(self, f"in{i}", conv(c, inner, 1))
        self.out5 = nn.Sequential(conv(inner, q, 3), nn.Upsample(scale_factor=8, mode="nearest"))
        self.out4 = nn.Sequential(conv(inner, q, 3), nn.Upsample(scale_factor=4, mode="nearest"))
        self.out3 = nn.Sequential(conv(inner, q, 3), nn.Upsample(scale_factor=2, mode="nearest"))
        self.out2 = conv(inner, q, 3)
        self.binarize = map_head(inner)
        self.thresh = map_head(inner)

    def forward(self, c2, c3, c4, c5):
        in5, in4, in3, in2 = self.in5(c5), self.in4(c4), self.in3(c3), self.in2(c2)
        out4 = F.interpolate(in5, scale_factor=2, mode="nearest") + in4
        out3 = F.interpolate(out4, scale_factor=2, mode="nearest") + in3
        out2 = F.interpolate(out3, scale_factor=2, mode="nearest") + in2
        fuse = torch.cat([self.out5(in5), self.out4(out4), self.out3(out3), self.out2(out2)], 1)
        p = self.binarize(fuse)
        t = self.thresh(fuse)
        return p, t, torch.reciprocal(1 + torch.exp(-K * (p - t)))


def balanced_bce(pred, gt, mask, ratio=3.0, eps=1e-6):
    positive = gt * mask
    negative = (1 - gt) * mask
    pos_count = int(positive.float().sum())
    neg_count = min(int(negative.float().sum()), int(pos_count * ratio))
    loss = F.binary_cross_entropy(pred, gt, reduction="none")
    pos_loss = loss * positive
    neg_loss, _ = torch.topk((loss * negative).view(-1), neg_count)
    return (pos_loss.sum() + neg_loss.sum()) / (pos_count + neg_count + eps)


def dice(pred, gt, mask, eps=1e-6):
    inter = (pred * gt * mask).sum()
    union = (pred * mask).sum() + (gt * mask).sum() + eps
    return 1 - 2.0 * inter / union


def masked_l1(pred, gt, mask):
    s = mask.sum()
    if s.item() == 0:
        return s
    return (torch.abs(pred - gt) * mask).sum() / s


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = {}
    dec = Decoder()
    for m in dec.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)
    for name, t in dec.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            out[f"decoder.{name}"] = t.clone().contiguous()
    feats = [torch.randn(2, c, 64 // s, 64 // s) for c, s in zip(STAGES, [4, 8, 16, 32])]
    for i, f in zip(range(2, 6), feats):
        out[f"c{i}"] = f
    dec.train()
    with torch.no_grad():
        p, t, b = dec(*feats)
    out["prob_train"], out["thresh_train"], out["binary_train"] = p, t, b
    dec.eval()
    with torch.no_grad():
        out["prob_eval"] = dec(*feats)[0]

    # Backward through the whole head (train mode): gradients of a fixed weighting of P, T
    # and B with respect to a few parameters of each kind and to the C2 input.
    dec.train()
    g_feats = [f.clone().requires_grad_(True) for f in feats]
    p, t, b = dec(*g_feats)
    wp, wt, wb = (torch.randn_like(p) for _ in range(3))
    ((p * wp).sum() + (t * wt).sum() + (b * wb).sum()).backward()
    for name in GRAD_PARAMS:
        out[f"grad.{name}"] = dict(dec.named_parameters())[name].grad.clone()
    out["grad.c2"] = g_feats[0].grad.clone()
    out["grad_w_prob"], out["grad_w_thresh"], out["grad_w_binary"] = wp, wt, wb

    # Loss on fixed maps: text rectangles, a don't-care hole in the mask.
    n, h, w = 2, 12, 20
    gt = torch.zeros(n, h, w)
    gt[0, 2:5, 3:15] = 1
    gt[0, 8:10, 1:9] = 1
    gt[1, 4:7, 6:18] = 1
    mask = torch.ones(n, h, w)
    mask[1, 0:3, 0:5] = 0
    thresh_map = 0.3 + 0.4 * torch.rand(n, h, w)
    thresh_mask = torch.zeros(n, h, w)
    thresh_mask[0, 1:6, 2:16] = 1
    thresh_mask[1, 3:8, 5:19] = 1
    pred = torch.sigmoid(torch.randn(n, 1, h, w) * 2).requires_grad_(True)
    thresh = torch.sigmoid(torch.randn(n, 1, h, w))
    binary = torch.reciprocal(1 + torch.exp(-K * (pred - thresh)))
    l_bce = balanced_bce(pred[:, 0], gt, mask)
    l_dice = dice(binary[:, 0], gt, mask)
    l_l1 = masked_l1(thresh[:, 0], thresh_map, thresh_mask)
    total = 5 * l_bce + l_dice + 10 * l_l1
    total.backward()
    out.update(pred=pred.detach(), thresh=thresh, binary=binary.detach(), gt=gt, mask=mask,
               thresh_map=thresh_map, thresh_mask=thresh_mask,
               bce=l_bce.detach().reshape(1), dice=l_dice.detach().reshape(1),
               l1=l_l1.detach().reshape(1), total=total.detach().reshape(1),
               grad_pred=pred.grad.clone())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, str(OUT))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    main()
