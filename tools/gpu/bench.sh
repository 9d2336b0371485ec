#!/usr/bin/env bash
# docmoco on an NVIDIA GPU against the PyTorch installed on the same host, as tables with the
# card's name: first tools/gpu/check.sh (does a GPU run compute the CPU's losses?), then the
# pre-training workloads (PyTorch eager f32 and bf16 autocast) and the DBNet detection step and
# page inference. Every run has a time limit (LIMIT seconds, default 150); a failed run is
# reported, not fatal. On an H200 the whole script took ~4 min (docs/performance.md, "GPU").
#
#   tools/gpu/bench.sh [DOCMOCO_BINARY]
#
# The binary is built elsewhere (the GPU host may have no network and no Rust):
#   cargo build --release -p docmoco-cli --features docmoco/wgpu     # Vulkan; builds offline
# (`--features docmoco/cuda` needs burn's LLVM bundle, see docs/performance.md "GPU builds").
# wgpu needs the Vulkan loader (libvulkan.so.1) and the NVIDIA driver's Vulkan ICD on the host;
# where the ICD sits outside the loader's search path, export VK_DRIVER_FILES=/path/nvidia_icd.json.
# Environment: DEVICE (wgpu | cuda, default wgpu), SIZE (224), BATCH (256), ITERS (5),
# QUEUE (65536), LIMIT (150), TORCH_DEVICE (cuda; `cpu` with DEVICE=cpu is a dry run of this
# script). Needs python3 with torch + torchvision (CUDA build) on the host.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-${DOCMOCO:-target/release/docmoco}}
DEVICE=${DEVICE:-wgpu}
SIZE=${SIZE:-224}
BATCH=${BATCH:-256}
ITERS=${ITERS:-5}
QUEUE=${QUEUE:-65536}
LIMIT=${LIMIT:-150}
TORCH_DEVICE=${TORCH_DEVICE:-cuda}

card=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2> /dev/null | head -n1)
echo "GPU: ${card:-unknown (nvidia-smi not found)}"
echo "CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())' \
  || echo "PyTorch: not importable"
if [ "$DEVICE" = wgpu ]; then
  echo "Vulkan ICDs: $(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2> /dev/null | grep -c json) file(s)"
fi

ARGS=(--arch resnet18 --width-mult 1.0 --image-size "$SIZE" --batch-size "$BATCH"
  --queue-size "$QUEUE" --bn-splits 8 --iters "$ITERS")
run() { # label, command...
  local label=$1 out rc
  shift
  out=$(timeout "$LIMIT" "$@" 2> /tmp/docmoco_gpu_bench.err)
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "$label: failed (exit $rc$([ $rc -eq 124 ] && echo ", over ${LIMIT} s")): $(tail -n3 /tmp/docmoco_gpu_bench.err | tr '\n' ' ')" >&2
  fi
  printf '%s\n' "$out"
}
echo
DEVICE=$DEVICE timeout "$LIMIT" tools/gpu/check.sh "$BIN" || echo "check: failed (exit $?)" >&2
rust=$(run "docmoco ($DEVICE)" "$BIN" bench pretrain "${ARGS[@]}" --only step,key,features --device "$DEVICE" --json)
torch=$(run "PyTorch f32" python3 tools/bench_torch.py "${ARGS[@]}" --device "$TORCH_DEVICE")
torch_amp=$(run "PyTorch bf16" python3 tools/bench_torch.py "${ARGS[@]}" --device "$TORCH_DEVICE" --amp)
DET=(--width-mult 0.25 --crop-size 256 --batch-size 8 --inner-channels 64 --infer-size 1536 --iters 10)
rust_det=$(run "docmoco detect ($DEVICE)" "$BIN" bench detect "${DET[@]}" --device "$DEVICE" --json)
torch_det=$(run "PyTorch detect" bash -c "cd tools && python3 bench_torch_detect.py ${DET[*]} --device $TORCH_DEVICE")
echo
python3 tools/bench_table.py "$rust" "$torch" "docmoco ($DEVICE, f32) vs PyTorch eager f32 — ${card:-unknown GPU}"
echo
python3 tools/bench_table.py "$rust" "$torch_amp" "docmoco ($DEVICE, f32) vs PyTorch eager bf16 autocast (the issue's target: ratio >= 0.9)"
echo
python3 tools/bench_table.py "$rust_det" "$torch_det" "DBNet: docmoco ($DEVICE, f32) vs PyTorch eager f32"
