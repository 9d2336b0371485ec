#!/usr/bin/env python3
"""Prints docmoco's and PyTorch's `bench` JSON lines side by side with the throughput ratio.

    python3 tools/bench_table.py DOCMOCO_JSONL TORCH_JSONL [TITLE]

Each argument is the text of one run (one JSON object per line, as `docmoco bench ... --json`
and `tools/bench_torch.py` print them); workloads are paired in order. Used by
tools/compare.sh (CPU) and tools/gpu/bench.sh (GPU).
"""
import json
import sys


def rows(text):
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def passes(rust, avx2, torch):
    """`--passes`: `docmoco bench conv` (default and DOCMOCO_MATMUL=avx2) against
    tools/bench_torch_conv.py, GFLOP/s per convolution pass and the ratio to PyTorch."""
    print(f"{'layer':<8} {'pass':<12} {'docmoco':>9} {'AVX2 only':>10} {'PyTorch':>9} {'ratio':>6}")
    for r, a, t in zip(rust, avx2, torch):
        print(f"{r['layer']:<8} {r['pass']:<12} {r['gflops']:>9.1f} {a['gflops']:>10.1f}"
              f" {t['gflops']:>9.1f} {r['gflops'] / t['gflops']:>6.2f}")
    total = lambda xs: sum(x["milliseconds"] for x in xs)
    print(f"all passes: docmoco {total(rust):.1f} ms, AVX2 only {total(avx2):.1f} ms,"
          f" PyTorch {total(torch):.1f} ms (ratio {total(torch) / total(rust):.2f})")


def main():
    if sys.argv[1] == "--passes":
        return passes(*(rows(text) for text in sys.argv[2:5]))
    rust, torch = rows(sys.argv[1]), rows(sys.argv[2])
    if len(sys.argv) > 3:
        print(sys.argv[3])
    print(f"{'workload':<60} {'docmoco':>10} {'PyTorch':>10} {'ratio':>7}  {'RSS MB (d/t)':>13}")
    for r, t in zip(rust, torch):
        ratio = r["images_per_second"] / t["images_per_second"]
        rss = lambda x: f"{x['peak_rss_mb']:.0f}" if x.get("peak_rss_mb") is not None else "?"
        print(f"{r['workload']:<60} {r['images_per_second']:>10.1f} {t['images_per_second']:>10.1f}"
              f" {ratio:>7.2f}  {rss(r):>6}/{rss(t):<6}")
    if len(rust) != len(torch):
        print(f"warning: {len(rust)} docmoco workloads vs {len(torch)} PyTorch ones", file=sys.stderr)


if __name__ == "__main__":
    main()
