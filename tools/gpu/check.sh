#!/usr/bin/env bash
# Does docmoco train the same on a GPU as on the CPU? Same binary, same seed, same generated
# pages: a few MoCo v2 steps (`moco-v2-tiny`: ResNet-18 x0.25, 64 px) on the CPU and on DEVICE,
# then the loss of every step side by side. Step 1 sees identical weights, batch and queue, so
# its losses differ by float rounding alone (the check fails above a relative 1e-3); later steps
# drift apart slowly as rounding compounds through the updates. Under a minute on a GPU host.
#
#   tools/gpu/check.sh [DOCMOCO_BINARY]          environment: DEVICE (wgpu), STEPS (10)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-${DOCMOCO:-target/release/docmoco}}
DEVICE=${DEVICE:-wgpu}
STEPS=${STEPS:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$BIN" synth --out "$work/data" --pages 256 --size 256 --seed 0 --quiet > /dev/null
for dev in cpu "$DEVICE"; do
  "$BIN" pretrain --preset moco-v2-tiny --data "$work/data/unlabeled" --steps "$STEPS" \
    --batch-size 32 --knn-every 0 --quiet --device "$dev" --out "$work/$dev" |
    sed -n "s/^done: /$dev: /p"
done
python3 - "$work/cpu/metrics.csv" "$work/$DEVICE/metrics.csv" "$DEVICE" << 'EOF'
import csv, sys

def losses(path):
    with open(path) as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f) if r["kind"] == "step"}

cpu, gpu, name = losses(sys.argv[1]), losses(sys.argv[2]), sys.argv[3]
print(f"| step | loss cpu | loss {name} | relative difference |")
print("|---|---|---|---|")
for s in sorted(cpu):
    print(f"| {s} | {cpu[s]:.6f} | {gpu[s]:.6f} | {abs(gpu[s] - cpu[s]) / abs(cpu[s]):.2e} |")
first = abs(gpu[1] - cpu[1]) / abs(cpu[1])
print(f"step 1: relative difference {first:.2e} ({'ok' if first <= 1e-3 else 'FAILED: over 1e-3'})")
sys.exit(0 if first <= 1e-3 else 1)
EOF
