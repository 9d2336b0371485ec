"""Markdown rows of the docs/doc-recipe.md ablation from the runs ablation.sh made.

    python3 tools/realpages/ablation_table.py RUNS_DIR NAME...
"""
import csv
import json
import sys
from pathlib import Path


def row(runs: Path, name: str) -> str:
    rows = list(csv.DictReader(open(runs / name / "metrics.csv")))
    epochs = [r for r in rows if r["kind"] == "epoch"]
    knn = [(int(r["epoch"]), float(r["knn_acc"])) for r in epochs if r["knn_acc"]]
    best = max(knn, key=lambda p: (p[1], -p[0]))
    flags = sorted({r["flags"] for r in epochs if r["flags"]})
    last = epochs[-1]

    def probe(w: str) -> str:
        p = runs / f"probe_{name}_{w}" / "metrics.json"
        if not p.exists():
            return "—"
        m = json.load(open(p))
        return f"{m['accuracy'] * 100:.1f}%"

    gap = float(last["cos_pos"]) - float(last["cos_neg"]) if last["cos_pos"] else float("nan")
    knn_txt = " / ".join(f"{a * 100:.1f}" for _, a in knn)
    secs = ""
    log = runs / f"{name}.log"
    if log.exists():
        for line in open(log):
            if line.startswith("train_seconds"):
                secs = f"{int(line.split()[1]) / 60:.1f} min"
    return (
        f"| {name} | {knn_txt} | {best[1] * 100:.1f}% (ep {best[0]}) | "
        f"{probe('backbone_best.safetensors')} | {probe('backbone.safetensors')} | "
        f"{gap:.3f} | {', '.join(flags)} | {secs} |"
    )


if __name__ == "__main__":
    runs = Path(sys.argv[1])
    print("| run | kNN every 4 epochs (%) | best kNN | probe, best | probe, last | frozen cos gap, last | flags seen | train time |")
    print("|---|---|---|---|---|---|---|---|")
    for name in sys.argv[2:]:
        try:
            print(row(runs, name))
        except (OSError, ValueError, KeyError) as e:
            print(f"| {name} | ({e}) |")
