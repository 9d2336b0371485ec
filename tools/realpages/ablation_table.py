"""Markdown rows of the docs/doc-recipe.md ablation from the runs ablation.sh made.

    python3 tools/realpages/ablation_table.py RUNS_DIR NAME...
"""
import csv
import json
import sys
from pathlib import Path


def final_flags(runs: Path, name: str, rows, epochs):
    """The flags of each epoch under docmoco's current rules (ssl/diagnostics.rs), recomputed
    from the logged numbers — runs made by an older binary logged older rules' flags."""
    cfg = open(runs / name / "config.toml").read()
    k = int(cfg.split("queue_size = ")[1].split()[0])
    batch = int(cfg.split("batch_size = ")[1].split()[0])
    seen = set()
    for e in epochs:
        if not e["cos_pos"] or int(e["step"]) * batch // k < 3:
            continue
        pos, neg = float(e["cos_pos"]), float(e["cos_neg"])
        stale = float(e["cos_stale"]) if e["cos_stale"] else None
        acc = [float(r["instance_acc"]) for r in rows
               if r["kind"] == "step" and r["epoch"] == str(int(e["epoch"]) - 1)]
        train = sum(acc) / len(acc) if acc else 0.0
        shortcut = (train >= 0.05 and float(e["frozen_acc"]) < 0.5 * train) or (
            stale is not None and pos - neg >= 0.02 and (stale - neg) / (pos - neg) < 0.25)
        collapse = float(e["spread"]) < 0.2 or float(e["erank"]) < 2.0
        label = "+".join(n for n, f in (("shortcut", shortcut), ("collapse", collapse)) if f) or "ok"
        seen.add(f"{label}@{e['epoch']}" if label != "ok" else "ok")
    flagged = sorted((s for s in seen if s != "ok"), key=lambda s: int(s.split("@")[1]))
    if not flagged:
        return "ok"
    labels = sorted({f.split("@")[0] for f in flagged})
    first = flagged[0].split("@")[1]
    return f"{', '.join(labels)}: {len(flagged)} epochs from epoch {first}"


def row(runs: Path, name: str) -> str:
    rows = list(csv.DictReader(open(runs / name / "metrics.csv")))
    epochs = [r for r in rows if r["kind"] == "epoch"]
    knn = [(int(r["epoch"]), float(r["knn_acc"])) for r in epochs if r["knn_acc"]]
    best = max(knn, key=lambda p: (p[1], -p[0]))
    flags = [final_flags(runs, name, rows, epochs)]
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
    print("| run | kNN at the monitored epochs (%) | best kNN | probe, best | probe, last | frozen cos gap, last | flags (current rules) | train time |")
    print("|---|---|---|---|---|---|---|---|")
    for name in sys.argv[2:]:
        try:
            print(row(runs, name))
        except (OSError, ValueError, KeyError) as e:
            print(f"| {name} | ({e}) |")
