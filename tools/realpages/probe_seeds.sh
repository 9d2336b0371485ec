#!/bin/bash
# Linear probe of each --init over seeds 0 1 2 on the real-page set; prints mean ± std accuracy.
# A 134-page test split moves by several points between probe seeds, so one seed is not enough.
#   tools/realpages/probe_seeds.sh OUT_DIR INIT...     (INIT: random, moco:RUN/backbone_best.safetensors, ...)
set -euo pipefail
D=${DOCMOCO:-target/release/docmoco}
R=${REALPAGES:-/work/realpages}
out=$1; shift
mkdir -p "$out"
for init in "$@"; do
  accs=()
  for seed in 0 1 2; do
    dir="$out/$(echo "$init" | tr '/:' '__')_s$seed"
    [ -f "$dir/metrics.json" ] || "$D" linear-probe --init "$init" --data "$R/cls" --image-size 96 \
      --seed $seed --out "$dir" --quiet > /dev/null 2>&1
    accs+=("$(python3 -c "import json; print(json.load(open('$dir/metrics.json'))['accuracy'])")")
  done
  python3 -c "
import statistics as s; a=[float(x)*100 for x in '${accs[*]}'.split()]
print(f'| {\"$init\"} | {s.mean(a):.1f} ± {s.stdev(a):.1f} | {\" / \".join(f\"{x:.1f}\" for x in a)} |')"
done
