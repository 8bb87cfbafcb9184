#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh, on Debian 12: installs missing Debian packages
# (apt-get, as root or through sudo), makes the project venv (.venv) with the Python packages, and builds
# into build/. Safe to run again: each step skips what is already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HEADROOM_BUILD_DIR:-$ROOT/build}"
VENV="$ROOT/.venv"

DEBIAN_PACKAGES=(
    g++ make cmake pkg-config git
    python3 python3-dev python3-venv
    libsimgrid-dev libboost-graph-dev libyaml-cpp-dev libeigen3-dev pybind11-dev
    libgtest-dev nlohmann-json3-dev libcli11-dev libfmt-dev
)

log() { printf '[setup] %s\n' "$*" >&2; }

# Installs the Debian packages named (default: DEBIAN_PACKAGES) that are missing.
install_debian_packages() {
    local missing=()
    local wanted=("$@")
    [ ${#wanted[@]} -eq 0 ] && wanted=("${DEBIAN_PACKAGES[@]}")
    for p in "${wanted[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { log "need root or sudo to install: ${missing[*]}"; exit 1; }
        sudo="sudo"
    fi
    log "installing Debian packages: ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

make_venv() {
    # Debian's python3, the one python3-dev matches (a pyenv shim earlier on PATH would not).
    local py=/usr/bin/python3
    [ -x "$py" ] || py="$(command -v python3)"
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum "$ROOT/requirements-dev.txt" | cut -d' ' -f1)"
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        "$py" -m venv "$VENV"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing Python packages from requirements-dev.txt"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements-dev.txt"
        echo "$want" > "$stamp"
    fi
}

build() {
    local jobs
    jobs="$(nproc 2>/dev/null || echo 2)"
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    fi
    # Quiet progress lines; a failed build fails the script (never run stale binaries).
    local log_file="$BUILD_DIR/build.log"
    if ! cmake --build "$BUILD_DIR" -j"$jobs" >"$log_file" 2>&1; then
        grep -Ev '^\[ *[0-9]+%\]|^-- |Consolidate compiler' "$log_file" >&2
        log "build failed (full log: $log_file)"
        exit 1
    fi
    grep -E 'warning' "$log_file" >&2 || true
}

# The Python package (`pip install .`, scikit-build-core; its CMake build in build/python-* is incremental).
# Skipped when no source file is newer than the last successful install.
install_python_package() {
    local stamp="$VENV/.headroom-installed"
    if [ -f "$stamp" ] && [ -z "$(cd "$ROOT" && find models hardware core sim python cmake CMakeLists.txt pyproject.toml \
            -newer "$stamp" -type f -print -quit)" ]; then
        return 0
    fi
    log "installing the headroom Python package into $VENV (pip install .)"
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$ROOT" >"$BUILD_DIR/pip-install.log" 2>&1; then
        tail -n 40 "$BUILD_DIR/pip-install.log" >&2
        log "pip install . failed (full log: $BUILD_DIR/pip-install.log)"
        exit 1
    fi
    touch "$stamp"
}

# Sourced (scripts/sanitize.sh) for its functions; run for the whole set-up.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    install_debian_packages
    make_venv
    build
    install_python_package
fi
