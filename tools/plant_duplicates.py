#!/usr/bin/env python3
"""Plant near-duplicates in a page folder and score `docmoco dedup` on them.

  plant:  tools/plant_duplicates.py plant SRC_DIR OUT_DIR [--copies 20] [--seed 0]
          copies every page of SRC_DIR (recursively) to OUT_DIR/pages/, then writes
          --copies degraded copies of randomly chosen pages to OUT_DIR/dups/ -- each one
          of: JPEG quality 60, brightness x1.1, Gaussian noise sigma 6, or all three --
          and OUT_DIR/planted.csv (copy,original).
  score:  tools/plant_duplicates.py score OUT_DIR DEDUP_CSV
          recall = planted copies grouped with their original; also how many pages that
          are not planted pairs were grouped (false merges).

Needs Pillow and numpy (a developer tool, not used by the tests, which plant duplicates in
Rust: crates/docmoco-cli/tests/embed.rs).
"""
import csv
import random
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def degrade(img, kind, rng):
    if kind in ("brightness", "all"):
        img = ImageEnhance.Brightness(img).enhance(1.1)
    if kind in ("noise", "all"):
        a = np.asarray(img).astype(np.float32)
        a += np.random.default_rng(rng.randrange(1 << 30)).normal(0, 6, a.shape)
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return img


def plant(src, out, copies, seed):
    rng = random.Random(seed)
    pages = sorted(p for p in Path(src).rglob("*") if p.suffix.lower() in EXT)
    (out / "pages").mkdir(parents=True, exist_ok=True)
    (out / "dups").mkdir(parents=True, exist_ok=True)
    originals = []
    for i, p in enumerate(pages):
        dst = out / "pages" / f"{i:05d}_{p.name}"
        shutil.copyfile(p, dst)
        originals.append(dst)
    rows = []
    kinds = ["jpeg", "brightness", "noise", "all"]
    for j, orig in enumerate(rng.sample(originals, copies)):
        kind = kinds[j % len(kinds)]
        img = degrade(Image.open(orig).convert("RGB"), kind, rng)
        dst = out / "dups" / f"dup{j:03d}_{kind}.jpg"
        img.save(dst, quality=60 if kind in ("jpeg", "all") else 95)
        rows.append((dst.resolve(), orig.resolve()))
    with open(out / "planted.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["copy", "original"])
        w.writerows(rows)
    print(f"{len(originals)} pages, {len(rows)} planted copies -> {out}")


def score(out, dedup_csv):
    group = {}
    for r in csv.DictReader(open(dedup_csv)):
        group[str(Path(r["path"]).resolve())] = r["group"]
    planted = list(csv.DictReader(open(out / "planted.csv")))
    found = sum(
        1 for r in planted
        if r["copy"] in group and group.get(r["copy"]) == group.get(r["original"])
    )
    involved = {r["copy"] for r in planted} | {r["original"] for r in planted}
    false = sum(1 for p in group if p not in involved)
    print(f"recall {found}/{len(planted)} = {100 * found / len(planted):.1f}%; "
          f"{false} other pages grouped (false merges)")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "plant":
        args = sys.argv[2:]
        copies = int(args[args.index("--copies") + 1]) if "--copies" in args else 20
        seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
        plant(args[0], Path(args[1]), copies, seed)
    elif len(sys.argv) == 4 and sys.argv[1] == "score":
        score(Path(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(__doc__)
