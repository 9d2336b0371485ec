#!/usr/bin/env bash
# Runs a docmoco benchmark and its PyTorch twin on the same workload back to back and prints
# the docmoco/PyTorch throughput ratio per workload, for docmoco's convolution kernels and, as
# the baseline of the same run, for burn's own (`--burn-conv`). Not run in CI (needs PyTorch).
# Usage: tools/compare.sh [--image-size 64] [--batch-size 32] [--width-mult 1.0] [--iters 10]
#        tools/compare.sh detect [--crop-size 256] [--batch-size 8] [--width-mult 0.25] [--iters 10]
#        tools/compare.sh conv [--image-size 112] [--batch-size 32] [--width-mult 1.0] [--iters 5] [--fpn-channels 64]
#          (each convolution pass: docmoco, docmoco with AVX2 products, PyTorch, in GFLOP/s)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p docmoco-cli
if [ "${1:-}" = conv ]; then
  shift
  ARGS=(--image-size 112 --batch-size 32 --width-mult 1.0 --iters 5)
  if [ $# -gt 0 ]; then ARGS=("$@"); fi
  rust=$(./target/release/docmoco bench conv "${ARGS[@]}" --json)
  avx2=$(DOCMOCO_MATMUL=avx2 ./target/release/docmoco bench conv "${ARGS[@]}" --json)
  torch=$(python3 tools/bench_torch_conv.py "${ARGS[@]}" --threads "$(nproc)")
  python3 tools/bench_table.py --passes "$rust" "$avx2" "$torch"
  exit 0
fi
if [ "${1:-}" = detect ]; then
  shift
  ARGS=(--width-mult 0.25 --crop-size 256 --batch-size 8 --inner-channels 64 --infer-size 1536 --iters 10)
  if [ $# -gt 0 ]; then ARGS=("$@"); fi
  rust=$(./target/release/docmoco bench detect "${ARGS[@]}" --json)
  burn=$(./target/release/docmoco bench detect "${ARGS[@]}" --json --burn-conv)
  torch=$(cd tools && python3 bench_torch_detect.py "${ARGS[@]}" --threads "$(nproc)")
else
  ARGS=(--arch resnet18 --image-size 64 --batch-size 32 --width-mult 1.0 --queue-size 4096 --bn-splits 8 --iters 10)
  if [ $# -gt 0 ]; then ARGS=("$@"); fi
  rust=$(./target/release/docmoco bench pretrain "${ARGS[@]}" --only step,key,features --json)
  burn=$(./target/release/docmoco bench pretrain "${ARGS[@]}" --only step,key,features --json --burn-conv)
  torch=$(python3 tools/bench_torch.py "${ARGS[@]}" --threads "$(nproc)")
fi
python3 tools/bench_table.py "$rust" "$torch" "docmoco's convolution kernels (default)"
echo
python3 tools/bench_table.py "$burn" "$torch" "burn's convolution kernels (--burn-conv)"
