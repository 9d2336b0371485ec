#!/bin/bash
# One row of the docs/doc-recipe.md ablation: MoCo v2 on the real-page set (tools/realpages),
# the "plain moco-v2 at this scale" baseline plus the given flags, then a linear probe of the
# best-kNN backbone and of the last one.
#   tools/realpages/ablation.sh RUNS_DIR NAME [pretrain flags...]
# Needs DOCMOCO (the binary, default target/release/docmoco) and REALPAGES (default
# /work/realpages, made by tools/realpages/build.sh).
set -euo pipefail
D=${DOCMOCO:-target/release/docmoco}
R=${REALPAGES:-/work/realpages}
runs=$1; name=$2; shift 2
mkdir -p "$runs"
start=$(date +%s)
"$D" pretrain --preset moco-v2 --arch resnet18 --width-mult 0.25 --image-size 96 \
  --batch-size 64 --epochs 20 --knn-every 4 --data "$R/unlabeled" --knn-data "$R/cls" \
  --out "$runs/$name" --quiet "$@" > "$runs/$name.log" 2>&1
echo "train_seconds $(( $(date +%s) - start ))" >> "$runs/$name.log"
for w in backbone_best.safetensors backbone.safetensors; do
  "$D" linear-probe --init "moco:$runs/$name/$w" --data "$R/cls" --image-size 96 \
    --out "$runs/probe_${name}_$w" --quiet >> "$runs/$name.log" 2>&1
done
