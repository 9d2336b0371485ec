#!/usr/bin/env bash
# Runs a docmoco benchmark and its PyTorch twin on the same workload back to back and prints
# the docmoco/PyTorch throughput ratio per workload. Not run in CI (needs PyTorch).
# Usage: tools/compare.sh [--image-size 64] [--batch-size 32] [--width-mult 1.0] [--iters 10]
#        tools/compare.sh detect [--crop-size 256] [--batch-size 8] [--width-mult 0.25] [--iters 10]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p docmoco-cli
if [ "${1:-}" = detect ]; then
  shift
  ARGS=(--width-mult 0.25 --crop-size 256 --batch-size 8 --inner-channels 64 --infer-size 1536 --iters 10)
  if [ $# -gt 0 ]; then ARGS=("$@"); fi
  rust=$(./target/release/docmoco bench detect "${ARGS[@]}" --json)
  torch=$(cd tools && python3 bench_torch_detect.py "${ARGS[@]}" --threads "$(nproc)")
else
  ARGS=(--arch resnet18 --image-size 64 --batch-size 32 --width-mult 1.0 --queue-size 4096 --bn-splits 8 --iters 10)
  if [ $# -gt 0 ]; then ARGS=("$@"); fi
  rust=$(./target/release/docmoco bench pretrain "${ARGS[@]}" --only step,key,features --json)
  torch=$(python3 tools/bench_torch.py "${ARGS[@]}" --threads "$(nproc)")
fi
python3 - "$rust" "$torch" <<'PY'
import json, sys
rust = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
torch = [json.loads(l) for l in sys.argv[2].splitlines() if l.strip()]
print(f"{'workload':<60} {'docmoco':>10} {'PyTorch':>10} {'ratio':>7}  {'RSS MB (d/t)':>13}")
for r, t in zip(rust, torch):
    ratio = r["images_per_second"] / t["images_per_second"]
    print(f"{r['workload']:<60} {r['images_per_second']:>10.1f} {t['images_per_second']:>10.1f} {ratio:>7.2f}  "
          f"{r['peak_rss_mb']:>6.0f}/{t['peak_rss_mb']:<6.0f}")
PY
