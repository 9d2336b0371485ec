#!/bin/bash
# The second to fourth studies of docs/doc-recipe.md: `moco-v2-doc` and `moco-v3-doc` on the
# real-page set, seeds 0–2, against random inits, evaluated at the scale the crops were trained
# at (320 px; v2 also at 256 / 96 px), and the frozen diagnostic (`docmoco diagnose`) of each
# run and of random inits seen through the same pipeline.
#   tools/realpages/recipe.sh OUT_DIR
# The studies' numbers were recorded with the portable build: to replay them bit for bit, build
# `cargo build --release -p docmoco-cli --no-default-features` (the default build's AVX-512
# kernels sum in another order, and the runs move as a whole).
# Needs DOCMOCO (default target/release/docmoco), REALPAGES (default /work/realpages, made by
# build.sh: its unlabeled/ and cls/) and python3 with numpy. About 60 min alone on 2 cores.
set -euo pipefail
D=${DOCMOCO:-target/release/docmoco}
R=${REALPAGES:-/work/realpages}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$1
mkdir -p "$out"
acc() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['accuracy']*100, 1))" "$1/metrics.json"; }
probe() { # init tag seed size
  local dir="$out/probe_$2_$4_s$3"
  [ -f "$dir/metrics.json" ] || "$D" linear-probe --init "$1" --width-mult 0.25 --data "$R/cls" \
    --image-size "$4" --seed "$3" --out "$dir" --quiet > /dev/null
  echo "probe $2 seed $3 ${4}px $(acc "$dir")"
}
knn() { # init tag seed size
  local f="$out/emb_$2_$4_s$3.npy"
  [ -f "$f" ] || "$D" embed --init "$1" --seed "$3" --data "$R/cls" --out "$f" \
    --image-size "$4" --quiet > /dev/null
  echo "knn $2 seed $3 ${4}px $(python3 "$HERE/knn.py" "$f" | cut -d' ' -f2)"
}
diagnose() { # run tag seed: the frozen diagnostic's summary line
  [ -f "$1/diagnosis.txt" ] || "$D" diagnose --run "$1" --quiet 2>&1 | grep '^diagnostic' > "$1/diagnosis.txt"
  echo "diagnose $2 seed $3 $(cat "$1/diagnosis.txt")"
}
for seed in 0 1 2; do
  run="$out/doc_s$seed"
  [ -f "$run/backbone.safetensors" ] || "$D" pretrain --preset moco-v2-doc --seed "$seed" \
    --data "$R/unlabeled" --knn-data "$R/cls" --out "$run" --quiet
  for size in 320 256 96; do
    probe "moco:$run/backbone.safetensors" moco "$seed" "$size"
    knn "moco:$run/backbone.safetensors" moco "$seed" "$size"
  done
  diagnose "$run" moco "$seed"
  # Random init through the same pipeline: one step at a negligible lr, then the diagnostic.
  rnd="$out/random_diag_s$seed"
  [ -f "$rnd/backbone.safetensors" ] || "$D" pretrain --preset moco-v2-doc --seed "$seed" \
    --steps 1 --lr 1e-12 --knn-every 0 --diag-every 0 --data "$R/unlabeled" --out "$rnd" --quiet
  diagnose "$rnd" random "$seed"
done
for seed in 0 1 2; do
  run="$out/v3doc_s$seed"
  [ -f "$run/backbone.safetensors" ] || "$D" pretrain --preset moco-v3-doc --seed "$seed" \
    --data "$R/unlabeled" --knn-data "$R/cls" --out "$run" --quiet
  probe "moco:$run/backbone.safetensors" v3 "$seed" 320
  knn "moco:$run/backbone.safetensors" v3 "$seed" 320
  diagnose "$run" v3 "$seed"
  rnd="$out/v3_random_diag_s$seed"
  [ -f "$rnd/backbone.safetensors" ] || "$D" pretrain --preset moco-v3-doc --seed "$seed" \
    --steps 1 --lr 1e-12 --knn-every 0 --diag-every 0 --data "$R/unlabeled" --out "$rnd" --quiet
  diagnose "$rnd" v3-random "$seed"
done
for seed in 0 1 2 3 4 5 6 7 8 9; do
  for size in 320 256 96; do
    probe random random "$seed" "$size"
    if [ "$seed" -lt 5 ]; then knn random random "$seed" "$size"; fi
  done
done
