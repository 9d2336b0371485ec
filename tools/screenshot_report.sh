#!/usr/bin/env bash
# Open a docmoco HTML report in a real headless browser and save a screenshot, to check by
# eye that the page renders and its plots show (SVG curves, PCA maps, confusion PNGs).
#
#   tools/screenshot_report.sh REPORT.html OUT.png [WIDTHxHEIGHT]   (default 1200x2000)
#
# Needs Debian's chromium (`apt-get install -y chromium`); the flags keep it offline and
# stateless (no sandbox: CI containers run as root). The PNG is then shrunk (75%, 128-colour
# palette) with Python's Pillow when present, to keep committed screenshots small.
set -euo pipefail
report=${1:?usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]}
out=${2:?usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]}
size=${3:-1200x2000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "no chromium found: apt-get install -y chromium" >&2
    exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size="${size/x/,}" \
    --screenshot="$out" "file://$abs" 2>/dev/null
if python3 -c "import PIL" 2>/dev/null; then
    python3 - "$out" <<'PY'
import sys
from PIL import Image
p = sys.argv[1]
im = Image.open(p).convert("RGB")
im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
im.quantize(128).save(p, optimize=True)
PY
fi
echo "screenshot → $out ($(du -k "$out" | cut -f1) KB)"
