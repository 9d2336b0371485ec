#!/usr/bin/env python3
"""Expected ICDAR 2015 task 4.1 metrics for random small cases, computed independently.

Writes crates/docmoco-det/tests/fixtures/icdar15_protocol.json, which the Rust test
crates/docmoco-det/tests/eval_fixture.rs compares against. The protocol is implemented here
from its description (polygon IoU > 0.5 greedy one-to-one matching in file order; a detection
is ignored when more than half of its area lies in a don't-care region; counts summed over
images), with shapely for polygon areas, so the Rust side (i_overlay) is checked against an
unrelated geometry library.

Cases whose outcome hinges on a ratio within 0.01 of a threshold are redrawn: two correct
implementations may legitimately round such a case either way.

    pip install shapely && python3 tools/make_det_fixtures.py
"""

import json
import math
import os
import random

from shapely.geometry import Polygon

IOU_T = 0.5
DC_T = 0.5
MARGIN = 0.01
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "docmoco-det", "tests", "fixtures",
                   "icdar15_protocol.json")


def quad(cx, cy, w, h, angle_deg, wobble=0.0, rng=None):
    """A rectangle rotated about its centre, corners optionally moved a little (still simple)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    pts = []
    for dx, dy in [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]:
        if wobble and rng is not None:
            dx += rng.uniform(-wobble, wobble) * w / 2
            dy += rng.uniform(-wobble, wobble) * h / 2
        pts.append([round(cx + dx * c - dy * s, 1), round(cy + dx * s + dy * c, 1)])
    return pts


def near(v, t):
    return abs(v - t) < MARGIN


def evaluate_image(gt, det):
    """Returns (matched, n_gt_care, n_det_care) or None when a ratio is too close to call."""
    gpolys = [Polygon(g["quad"]) for g in gt]
    dpolys = [Polygon(d) for d in det]
    if not all(p.is_valid for p in gpolys + dpolys):
        return None
    ignored = set()
    for j, dp in enumerate(dpolys):
        for i, g in enumerate(gt):
            if not g["dont_care"]:
                continue
            frac = 0.0 if dp.area == 0 else dp.intersection(gpolys[i]).area / dp.area
            if near(frac, DC_T):
                return None
            if frac > DC_T:
                ignored.add(j)
                break
    gt_used, det_used, matched = set(), set(), 0
    for i, g in enumerate(gt):
        if g["dont_care"]:
            continue
        for j, dp in enumerate(dpolys):
            if i in gt_used or j in det_used or j in ignored:
                continue
            inter = gpolys[i].intersection(dp).area
            union = gpolys[i].area + dp.area - inter
            v = 0.0 if union == 0 else inter / union
            if near(v, IOU_T):
                return None
            if v > IOU_T:
                gt_used.add(i)
                det_used.add(j)
                matched += 1
    n_gt = sum(1 for g in gt if not g["dont_care"])
    return matched, n_gt, len(det) - len(ignored)


def random_image(rng):
    gt, det = [], []
    for k in range(rng.randint(0, 6)):
        cx, cy = rng.uniform(50, 450), 30 + 40 * k + rng.uniform(-5, 5)
        w, h = rng.uniform(40, 200), rng.uniform(8, 25)
        ang = rng.choice([0, 0, rng.uniform(-30, 30)])
        dont_care = rng.random() < 0.2
        gt.append({"quad": quad(cx, cy, w, h, ang, 0.1 if rng.random() < 0.3 else 0.0, rng),
                   "dont_care": dont_care})
        r = rng.random()
        if r < 0.45:  # a perturbed hit (or miss)
            det.append(quad(cx + rng.uniform(-0.4, 0.4) * w, cy + rng.uniform(-0.5, 0.5) * h,
                            w * rng.uniform(0.6, 1.3), h * rng.uniform(0.6, 1.4), ang + rng.uniform(-8, 8)))
        elif r < 0.6:  # split in two
            f = rng.uniform(0.2, 0.8)
            a = math.radians(ang)
            for part, off in [(f, -(1 - f) / 2), (1 - f, f / 2)]:
                det.append(quad(cx + off * w * math.cos(a), cy + off * w * math.sin(a), w * part, h, ang))
        elif r < 0.7:  # a piece inside (e.g. on a don't-care region)
            det.append(quad(cx, cy, w * rng.uniform(0.2, 0.6), h * 0.8, ang))
    for _ in range(rng.randint(0, 2)):  # false alarms
        det.append(quad(rng.uniform(0, 500), rng.uniform(0, 300), rng.uniform(10, 80), rng.uniform(5, 20),
                        rng.uniform(-20, 20)))
    rng.shuffle(det)
    return gt, det


def main():
    rng = random.Random(20240601)
    cases = []
    while len(cases) < 40:
        images = []
        while len(images) < rng.randint(1, 4):
            gt, det = random_image(rng)
            res = evaluate_image(gt, det)
            if res is None:
                continue
            m, ng, nd = res
            images.append({"gt": gt, "det": det, "matched": m, "n_gt_care": ng, "n_det_care": nd})
        matched = sum(i["matched"] for i in images)
        ng = sum(i["n_gt_care"] for i in images)
        nd = sum(i["n_det_care"] for i in images)
        r = 0.0 if ng == 0 else matched / ng
        p = 0.0 if nd == 0 else matched / nd
        h = 0.0 if p + r == 0 else 2 * p * r / (p + r)
        cases.append({"images": images, "precision": p, "recall": r, "hmean": h})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/make_det_fixtures.py (shapely)", "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
