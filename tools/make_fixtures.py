#!/usr/bin/env python3
"""PyTorch reference fixtures for docmoco (MoCo, facebookresearch/moco @ 132aea9).

Regenerate (developer machine only; CI never runs this):

    pip install -r tools/requirements.txt
    python3 tools/make_fixtures.py

Everything is float32, single-threaded (torch.set_num_threads(1)) and seeded
(torch.manual_seed(0) at the start of every fixture, so each file is
independent of the others). Output goes to crates/docmoco/tests/fixtures/.
Scalars are stored as shape [1]; integer tensors (ptr, perm, BN
num_batches_tracked) are int64.

What each file checks
---------------------
resnet18_tiny.safetensors / resnet18_tiny.pth
    torchvision ResNet-18 (BasicBlock, [2,2,2,2]) with stage widths
    [4,8,16,32], num_classes=10, torchvision parameter names under the prefix
    `model.` (the .pth holds the very same state_dict, unprefixed, written by
    torch.save, to test direct .pth loading). BN affine params randomised and
    running stats warmed up by 3 train-mode forwards.  `x` [4,3,64,64] (layer4 is 2x2, so train-mode BN is well conditioned);
    `out_eval` (eval mode), `feat_eval` (pooled 64-d features before fc, eval),
    `out_train` (train mode: batch statistics), and `bn1_running_mean_after` /
    `bn1_running_var_after` (stem BN running stats after that one train
    forward: momentum 0.1, unbiased variance). `model.*` is the state BEFORE
    the train forward.
resnet50_tiny.safetensors
    Same for ResNet-50 (Bottleneck, [3,4,6,3], expansion 4 -> 256-d features):
    `model.*`, `x`, `out_eval`, `feat_eval` [4,256], `out_train`.
moco_loss.safetensors
    InfoNCE of MoCo builder.forward: `q`,`k` [4,16] (L2-normalised rows), `queue`
    [16,32] (dim x K, columns normalised), `t`=0.07, `logits` [4,33]
    (positive logit in column 0), `loss`, `grad_q` (d loss / d q, q being the
    normalised tensor used in the logits; k and queue are constants). Same for
    t=0.2: `t02`, `logits_t02`, `loss_t02`, `grad_q_t02`.
ema.safetensors
    Momentum update of the key encoder: `param_k_new = param_k*m + param_q*(1-m)`.
enqueue.safetensors
    _dequeue_and_enqueue with wrap-around: `queue` [8,10], `ptr`=7, `keys` [4,8]
    -> columns 7,8,9,0 replaced by keys rows 0..3, `ptr_new`=1.
sgd.safetensors
    torch.optim.SGD(lr=0.03, momentum=0.9, weight_decay=1e-4, dampening=0,
    nesterov=False): `p0` [5,6], grads `g1`,`g2` -> `p1`,`p2`.
lr_schedule.safetensors
    main_moco.py adjust_learning_rate for 200 epochs, base lr 0.03: `cosine`
    (--cos), `multistep` (schedule [120,160], x0.1 each), and torch's
    CosineAnnealingLR(T_max=200) values `cosine_torch` (lr used in epoch e).
split_bn.safetensors
    SplitBatchNorm of the official MoCo CIFAR demo notebook, num_splits=4, on
    `x` [16,6,5,5]. NOTE: the demo's view(-1, C*S, H, W) puts sample n into
    split n % S (interleaved: split s = samples s, s+4, s+8, s+12), NOT into
    consecutive chunks. `out_train`, `running_mean_after`, `running_var_after`
    follow the demo exactly. For comparison `out_train_consecutive` /
    `running_var_after_consecutive` use consecutive chunks of 4 (the mean
    after is identical either way). `out_eval` uses the initial running stats;
    `out_plain_bn` is ordinary BatchNorm2d in train mode.
shuffle_bn.safetensors
    Shuffle-BN of one key-encoder BN layer: `out = split_bn(x[perm])[inv_perm]`
    with num_splits=2 (demo semantics, interleaved splits), `x` [8,6,5,5],
    `perm`, `inv_perm`=argsort(perm), `weight`, `bias`, initial
    `running_mean`/`running_var` and their values `*_after`.
mlp_head.safetensors
    MoCo v2 MLP head Linear(64,64)-ReLU-Linear(64,16): `fc.0.weight`,
    `fc.0.bias`, `fc.2.weight`, `fc.2.bias` (torch layout [out,in]), `x` [4,64],
    `out` [4,16], `out_norm` (rows L2-normalised).
"""

import math
import os
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

OUT_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "crates", "docmoco", "tests", "fixtures"
)


def save(name, tensors):
    out = OrderedDict()
    for k, v in tensors.items():
        v = v.detach().clone().contiguous()
        if v.is_floating_point():
            v = v.to(torch.float32)
        out[k] = v
    save_file(out, os.path.join(OUT_DIR, name))


def scalar(v, dtype=torch.float32):
    return torch.tensor([v], dtype=dtype)


# --------------------------------------------------------------------------
# Tiny torchvision ResNets
# --------------------------------------------------------------------------
class TinyResNet(ResNet):
    """torchvision ResNet with configurable stage widths.

    Builds the same module tree as torchvision.models.resnet.ResNet (and uses
    its _make_layer / _forward_impl), so parameter names are torchvision's.
    """

    def __init__(self, block, layers, widths, num_classes=10):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def make_resnet_fixture(name, block, layers, pth_name=None, bn1_after=False):
    torch.manual_seed(0)
    model = TinyResNet(block, layers, [4, 8, 16, 32], num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, 32, 32))
    model.eval()
    state = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    if pth_name is not None:
        torch.save(state, os.path.join(OUT_DIR, pth_name))

    tensors = OrderedDict(("model." + k, v) for k, v in state.items())
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        model.eval()
        out_eval = model(x)
        feat_eval = model.features(x)
        assert torch.allclose(model.fc(feat_eval), out_eval, atol=1e-6)
        model.train()
        out_train = model(x)
        model.eval()
    tensors["x"] = x
    tensors["out_eval"] = out_eval
    tensors["feat_eval"] = feat_eval
    tensors["out_train"] = out_train
    if bn1_after:
        tensors["bn1_running_mean_after"] = model.bn1.running_mean
        tensors["bn1_running_var_after"] = model.bn1.running_var
    save(name, tensors)


# --------------------------------------------------------------------------
# MoCo loss
# --------------------------------------------------------------------------
def moco_logits_loss(q, k, queue, t):
    l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
    l_neg = torch.einsum("nc,ck->nk", q, queue)
    logits = torch.cat([l_pos, l_neg], dim=1) / t
    labels = torch.zeros(logits.shape[0], dtype=torch.long)
    return logits, F.cross_entropy(logits, labels)


def make_moco_loss():
    torch.manual_seed(0)
    dim, K, n = 16, 32, 4
    q = F.normalize(torch.randn(n, dim), dim=1)
    k = F.normalize(q + 0.3 * torch.randn(n, dim), dim=1)
    queue = F.normalize(torch.randn(dim, K), dim=0)
    tensors = OrderedDict(q=q, k=k, queue=queue)
    for t, sfx, tname in ((0.07, "", "t"), (0.2, "_t02", "t02")):
        ql = q.clone().requires_grad_(True)
        logits, loss = moco_logits_loss(ql, k, queue, t)
        loss.backward()
        tensors[tname] = scalar(t)
        tensors["logits" + sfx] = logits
        tensors["loss" + sfx] = loss.reshape(1)
        tensors["grad_q" + sfx] = ql.grad
    save("moco_loss.safetensors", tensors)


# --------------------------------------------------------------------------
# EMA, enqueue
# --------------------------------------------------------------------------
def make_ema():
    torch.manual_seed(0)
    m = 0.99
    param_q = torch.randn(10, 7)
    param_k = torch.randn(10, 7)
    param_k_new = param_k * m + param_q * (1.0 - m)
    save("ema.safetensors", OrderedDict(param_q=param_q, param_k=param_k, m=scalar(m), param_k_new=param_k_new))


def make_enqueue():
    torch.manual_seed(0)
    dim, K, bs = 8, 10, 4
    queue = F.normalize(torch.randn(dim, K), dim=0)
    keys = F.normalize(torch.randn(bs, dim), dim=1)
    ptr = 7
    queue_new = queue.clone()
    for i in range(bs):
        queue_new[:, (ptr + i) % K] = keys[i]
    ptr_new = (ptr + bs) % K
    assert ptr_new == 1
    save(
        "enqueue.safetensors",
        OrderedDict(
            queue=queue,
            ptr=scalar(ptr, torch.int64),
            keys=keys,
            queue_new=queue_new,
            ptr_new=scalar(ptr_new, torch.int64),
        ),
    )


# --------------------------------------------------------------------------
# SGD, LR schedules
# --------------------------------------------------------------------------
def make_sgd():
    torch.manual_seed(0)
    p0 = torch.randn(5, 6)
    g1 = torch.randn(5, 6)
    g2 = torch.randn(5, 6)
    p = nn.Parameter(p0.clone())
    opt = torch.optim.SGD(
        [p], lr=0.03, momentum=0.9, weight_decay=1e-4, dampening=0, nesterov=False, foreach=False
    )
    p.grad = g1.clone()
    opt.step()
    p1 = p.detach().clone()
    p.grad = g2.clone()
    opt.step()
    p2 = p.detach().clone()
    save(
        "sgd.safetensors",
        OrderedDict(
            p0=p0, g1=g1, g2=g2, p1=p1, p2=p2,
            lr=scalar(0.03), momentum=scalar(0.9), weight_decay=scalar(1e-4),
        ),
    )


def make_lr_schedule():
    torch.manual_seed(0)
    base_lr, epochs, schedule = 0.03, 200, [120, 160]
    cosine = [base_lr * 0.5 * (1.0 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    multistep = []
    for e in range(epochs):
        lr = base_lr
        for milestone in schedule:
            lr *= 0.1 if e >= milestone else 1.0
        multistep.append(lr)
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    cosine_torch = []
    for _ in range(epochs):
        cosine_torch.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    f = lambda v: torch.tensor(v, dtype=torch.float64).to(torch.float32)
    save(
        "lr_schedule.safetensors",
        OrderedDict(cosine=f(cosine), multistep=f(multistep), cosine_torch=f(cosine_torch)),
    )


# --------------------------------------------------------------------------
# SplitBatchNorm / Shuffle-BN (MoCo CIFAR demo semantics)
# --------------------------------------------------------------------------
def split_bn_train(x, weight, bias, running_mean, running_var, num_splits, momentum=0.1, eps=1e-5):
    """Demo method: view as [N/S, C*S, H, W] and batch_norm with repeated params.

    Returns (out, new_running_mean, new_running_var); inputs are not modified.
    """
    N, C, H, W = x.shape
    rm = running_mean.repeat(num_splits)
    rv = running_var.repeat(num_splits)
    out = F.batch_norm(
        x.view(-1, C * num_splits, H, W), rm, rv,
        weight.repeat(num_splits), bias.repeat(num_splits),
        True, momentum, eps,
    ).view(N, C, H, W)
    return out, rm.view(num_splits, C).mean(dim=0), rv.view(num_splits, C).mean(dim=0)


def split_bn_consecutive(x, weight, bias, running_mean, running_var, num_splits, momentum=0.1, eps=1e-5):
    outs, rms, rvs = [], [], []
    for chunk in x.chunk(num_splits, dim=0):
        rm, rv = running_mean.clone(), running_var.clone()
        outs.append(F.batch_norm(chunk, rm, rv, weight, bias, True, momentum, eps))
        rms.append(rm)
        rvs.append(rv)
    return torch.cat(outs), torch.stack(rms).mean(0), torch.stack(rvs).mean(0)


def make_split_bn():
    torch.manual_seed(0)
    C, S = 6, 4
    x = torch.randn(16, C, 5, 5) * 1.5 + 0.5
    # make the splits statistically different so the grouping matters
    x = x + torch.arange(16, dtype=torch.float32).view(16, 1, 1, 1) * 0.1
    weight = torch.empty(C).uniform_(0.5, 1.5)
    bias = torch.randn(C) * 0.1
    running_mean = torch.randn(C) * 0.2
    running_var = torch.empty(C).uniform_(0.5, 2.0)

    out_train, rm_after, rv_after = split_bn_train(x, weight, bias, running_mean, running_var, S)
    out_cons, rm_cons, rv_cons = split_bn_consecutive(x, weight, bias, running_mean, running_var, S)
    assert torch.allclose(rm_cons, rm_after, atol=1e-6)
    # cross-check the interleaved interpretation of the demo's view
    out_inter, _, _ = split_bn_consecutive(
        x.view(16 // S, S, C, 5, 5).transpose(0, 1).reshape(16, C, 5, 5),
        weight, bias, running_mean, running_var, S,
    )
    out_inter = out_inter.view(S, 16 // S, C, 5, 5).transpose(0, 1).reshape(16, C, 5, 5)
    assert torch.allclose(out_inter, out_train, atol=1e-5)
    assert not torch.allclose(out_cons, out_train, atol=1e-3)

    out_eval = F.batch_norm(x, running_mean, running_var, weight, bias, False, 0.1, 1e-5)
    bn = nn.BatchNorm2d(C)
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
        bn.running_mean.copy_(running_mean)
        bn.running_var.copy_(running_var)
        bn.train()
        out_plain = bn(x)
    save(
        "split_bn.safetensors",
        OrderedDict(
            x=x, weight=weight, bias=bias,
            running_mean=running_mean, running_var=running_var,
            num_splits=scalar(S, torch.int64),
            out_train=out_train,
            running_mean_after=rm_after, running_var_after=rv_after,
            out_eval=out_eval, out_plain_bn=out_plain,
            out_train_consecutive=out_cons, running_var_after_consecutive=rv_cons,
        ),
    )


def make_shuffle_bn():
    torch.manual_seed(0)
    C, S, N = 6, 2, 8
    x = torch.randn(N, C, 5, 5)
    perm = torch.randperm(N)
    inv_perm = torch.argsort(perm)
    weight = torch.empty(C).uniform_(0.5, 1.5)
    bias = torch.randn(C) * 0.1
    running_mean = torch.zeros(C)
    running_var = torch.ones(C)
    y, rm_after, rv_after = split_bn_train(x[perm], weight, bias, running_mean, running_var, S)
    out = y[inv_perm]
    save(
        "shuffle_bn.safetensors",
        OrderedDict(
            x=x, perm=perm.to(torch.int64), inv_perm=inv_perm.to(torch.int64),
            num_splits=scalar(S, torch.int64), weight=weight, bias=bias,
            running_mean=running_mean, running_var=running_var,
            out=out, running_mean_after=rm_after, running_var_after=rv_after,
        ),
    )


# --------------------------------------------------------------------------
# MLP head
# --------------------------------------------------------------------------
def make_mlp_head():
    torch.manual_seed(0)
    fc = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16))
    x = torch.randn(4, 64)
    with torch.no_grad():
        out = fc(x)
    tensors = OrderedDict(("fc." + k, v) for k, v in fc.state_dict().items())
    tensors["x"] = x
    tensors["out"] = out
    tensors["out_norm"] = F.normalize(out, dim=1)
    save("mlp_head.safetensors", tensors)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT_DIR, exist_ok=True)
    make_resnet_fixture(
        "resnet18_tiny.safetensors", BasicBlock, [2, 2, 2, 2], pth_name="resnet18_tiny.pth", bn1_after=True
    )
    make_resnet_fixture("resnet50_tiny.safetensors", Bottleneck, [3, 4, 6, 3])
    make_moco_loss()
    make_ema()
    make_enqueue()
    make_sgd()
    make_lr_schedule()
    make_split_bn()
    make_shuffle_bn()
    make_mlp_head()
    total = 0
    for f in sorted(os.listdir(OUT_DIR)):
        size = os.path.getsize(os.path.join(OUT_DIR, f))
        total += size
        print(f"{size:>9}  {f}")
    print(f"{total:>9}  total  (torch {torch.__version__})")


if __name__ == "__main__":
    main()
