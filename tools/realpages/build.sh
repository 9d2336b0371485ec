#!/usr/bin/env bash
# Builds the real-page development set (see README.md next to this script):
#   OUT_DIR/unlabeled/*.png               pages for self-supervised pre-training
#   OUT_DIR/cls/{train,test}/<class>/*.png labelled pages (ImageFolder layout), from labels.csv
#   OUT_DIR/sheets/<class>.png            20 random labelled pages per class (needs python3 PIL)
#   OUT_DIR/versions.txt, failed.txt, counts.txt
# Usage: tools/realpages/build.sh OUT_DIR
# Environment: LONG_SIDE (1024), UNLABELED_TARGET (2000), PER_DOC_CAP (200), KEEP_WORK (0),
#              CARGO_TARGET_DIR (where the render_pages example is built).
# PDFs come from Debian packages fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` into OUT_DIR/.work: nothing is installed system-wide (no root, and no
# dependencies such as tex-common are pulled in). TeX Live documentation and manual pages
# are never used: they are reserved for an independent evaluation.
set -euo pipefail

OUT=${1:?usage: $0 OUT_DIR}
LONG_SIDE=${LONG_SIDE:-1024}
UNLABELED_TARGET=${UNLABELED_TARGET:-2000}
PER_DOC_CAP=${PER_DOC_CAP:-200}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# Versions the labels were made on (page numbers depend on them).
PACKAGES=(
  auto-multiple-choice-doc-pdf=1.6.0-1
  camlidl-doc=1.04-5
  docbook-xsl-doc-pdf=1.79.1-1
  erlang-doc=1:25.2.3+dfsg-1+deb12u4
  freefem-doc=3.5.8-7
  gnuplot-doc=5.4.4+dfsg1-2
  gri-pdf-doc=2.12.27-1.1
  lilypond-doc-pdf=2.24.1-2
  maxima-doc=5.46.0-11
  octave-doc=7.3.0-2
  python-reportlab-doc=3.6.12-1+deb12u1
  r-doc-pdf=4.2.2.20221110-2
  ruby-prawn-doc=2.4.0+dfsg-1~
  siscone-doc-pdf=3.0.5-2
  why3-doc-pdf=1.5.1-1
)

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK="$OUT/.work"
mkdir -p "$WORK/debs" "$WORK/root" "$WORK/pdf"
start=$(date +%s)
: > "$OUT/failed.txt"

echo "== fetching ${#PACKAGES[@]} packages"
: > "$OUT/versions.txt"
for spec in "${PACKAGES[@]}"; do
  pkg=${spec%%=*}
  if ! ls "$WORK/debs/${pkg}_"*.deb > /dev/null 2>&1; then
    # The pinned version first; a newer point release only if the pinned one is gone.
    (cd "$WORK/debs" && { apt-get download -q "$spec" 2> /dev/null || {
      echo "warning: $spec not available, taking the current $pkg (labels may be off)" >&2
      apt-get download -q "$pkg"; }; })
  fi
  deb=$(ls "$WORK/debs/${pkg}_"*.deb | head -n1)
  mkdir -p "$WORK/root/$pkg"
  dpkg-deb -x "$deb" "$WORK/root/$pkg"
  echo "$pkg $(dpkg-deb -f "$deb" Version)" >> "$OUT/versions.txt"
done

echo "== building the render_pages example"
(cd "$REPO" && cargo build --release -q -p docmoco-data --example render_pages)
RENDER="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/render_pages"

echo "== unpacking PDFs and counting pages"
# docs.tsv: package <TAB> path inside the package. Name: <pkg>__<stem>.
: > "$WORK/docs.tsv"
while IFS=$'\t' read -r pkg path; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  case "$path" in
    /usr/share/texlive* | /usr/share/texmf* | /usr/share/doc/texlive* | /usr/share/man/*)
      echo "refusing $path: reserved for evaluation" >&2; exit 1 ;;
  esac
  src="$WORK/root/$pkg$path"
  stem=$(basename "$path"); stem=${stem%.gz}; stem=${stem%.pdf}
  if [[ "$path" == *.gz ]]; then
    pdf="$WORK/pdf/${pkg}__${stem}.pdf"
    gunzip -c "$src" > "$pdf"
  else
    pdf="$src"
  fi
  if n=$("$RENDER" count "$pdf" 2>> "$OUT/failed.txt"); then
    printf '%s\t%s\t%s\t%s\t%s\n' "$pkg" "$path" "$stem" "$pdf" "$n" >> "$WORK/docs.tsv"
  else
    echo "skipping $pkg $path: cannot be parsed" >&2
  fi
done < "$HERE/docs.tsv"

echo "== planning"
# Writes render jobs "pdf <TAB> out_prefix <TAB> pages..." (1-based pages).
python3 - "$WORK/docs.tsv" "$HERE/labels.csv" "$OUT" "$UNLABELED_TARGET" "$PER_DOC_CAP" \
  > "$WORK/jobs.tsv" << 'EOF'
import csv, sys
from collections import defaultdict
docs_tsv, labels_csv, out, target, cap = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
docs = {}  # (pkg, path) -> (name, pdf, pages)
for line in open(docs_tsv):
    pkg, path, stem, pdf, n = line.rstrip("\n").split("\t")
    docs[(pkg, path)] = (f"{pkg}__{stem}", pdf, int(n))
labels = list(csv.DictReader(open(labels_csv)))
test_docs = {(r["package"], r["pdf"]) for r in labels if r["split"] == "test"}
# Unlabeled: every document not in the test split, capped per document at the level c
# that brings the total to the target (water filling), pages evenly spaced.
pool = [k for k in docs if k not in test_docs]
sizes = [docs[k][2] for k in pool]
c = 0
while c < cap and sum(min(n, c + 1) for n in sizes) <= target:
    c += 1
for k in pool:
    name, pdf, n = docs[k]
    m = min(n, c)
    pages = sorted({int((i + 0.5) * n / m) + 1 for i in range(m)})
    print(pdf, f"{out}/unlabeled/{name}__", *pages, sep="\t")
jobs = defaultdict(list)
for r in labels:
    key = (r["package"], r["pdf"])
    if key not in docs:
        print(f"warning: {key} not available, label skipped", file=sys.stderr)
        continue
    name, pdf, n = docs[key]
    jobs[(pdf, f"{out}/cls/{r['split']}/{r['class']}/{name}__")].append(int(r["page"]))
for (pdf, prefix), pages in sorted(jobs.items()):
    print(pdf, prefix, *sorted(pages), sep="\t")
print(f"unlabeled: {len(pool)} documents, at most {c} pages each", file=sys.stderr)
EOF

echo "== rendering at long side $LONG_SIDE"
rm -rf "$OUT/unlabeled" "$OUT/cls"
while IFS=$'\t' read -r pdf prefix pages; do
  mkdir -p "$(dirname "$prefix")"
  # A page (or a whole file) that fails is listed in failed.txt and skipped.
  # shellcheck disable=SC2086
  "$RENDER" render "$pdf" "$prefix" "$LONG_SIDE" $pages 2>> "$OUT/failed.txt" || true
done < "$WORK/jobs.tsv"

{
  echo "unlabeled $(find "$OUT/unlabeled" -name '*.png' | wc -l)"
  for d in "$OUT"/cls/*/*; do
    echo "$(basename "$(dirname "$d")") $(basename "$d") $(find "$d" -name '*.png' | wc -l)"
  done
} | tee "$OUT/counts.txt"
labelled=$(($(wc -l < "$HERE/labels.csv") - 1))
rendered=$(find "$OUT/cls" -name '*.png' | wc -l)
[[ $rendered -eq $labelled ]] || echo "warning: $rendered of $labelled labelled pages rendered (see failed.txt)" >&2
[[ -s "$OUT/failed.txt" ]] && echo "failures: $(grep -c FAILED "$OUT/failed.txt") (see $OUT/failed.txt)"

if python3 -c 'import PIL' 2> /dev/null; then
  echo "== contact sheets"
  python3 - "$OUT" << 'EOF'
import random, sys
from pathlib import Path
from PIL import Image, ImageDraw
out = Path(sys.argv[1]); (out / "sheets").mkdir(exist_ok=True)
for cls in sorted({p.name for p in out.glob("cls/*/*")}):
    files = sorted(out.glob(f"cls/*/{cls}/*.png"))
    pick = random.Random(0).sample(files, min(20, len(files)))
    w, h = 240, 320
    sheet = Image.new("RGB", (5 * w, 4 * h), "gray")
    for i, f in enumerate(pick):
        im = Image.open(f).convert("RGB"); im.thumbnail((w - 6, h - 6))
        x, y = (i % 5) * w + 3, (i // 5) * h + 3
        sheet.paste(im, (x, y))
        ImageDraw.Draw(sheet).text((x + 2, y + 2), f"{i} {f.parent.parent.name}", fill="red")
    sheet.save(out / "sheets" / f"{cls}.png")
    print(cls, "->", out / "sheets" / f"{cls}.png")
EOF
fi

[[ "${KEEP_WORK:-0}" == 1 ]] || rm -rf "$WORK"
echo "== done in $(($(date +%s) - start)) s: $OUT"
