#!/usr/bin/env bash
# Packs a CUDA build for a GPU machine that has no Debian packages and no network (how issue 15's run was
# done): the CLI, its CUDA module, the test binary and every shared library they link that is not part of
# glibc or CUDA (SimGrid and what it pulls in, yaml-cpp, fmt, Boost), into one tar.xz laid out as build/.
# libstdc++ and libgcc_s go to build/libfb/, which bench/gpu_validation.sh adds only when the machine has no
# libstdc++ of its own. CUDA's libraries (cudart, cuBLAS, cuBLASLt) are the GPU machine's.
#
# On the GPU machine, in a checkout of the same commit:
#   tar xJf bundle.tar.xz
#   mkdir -p "$(dirname BUILD_ROOT)" && ln -s "$PWD" BUILD_ROOT     # the path printed below (RPATHs name it)
#   HEADROOM_PREBUILT=1 bench/gpu_validation.sh OUT
#
# Usage: scripts/gpu_bundle.sh [OUT.tar.xz]   (default: .gpu/bundle.tar.xz; build/ must hold a CUDA build)
#        XZ_LEVEL=0 for a quick, larger archive (default 6)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/.gpu/bundle.tar.xz}"
FILES=(build/cli/headroom build/cli/libheadroom_cuda.so build/tests/headroom_tests)
for f in "${FILES[@]}"; do
    if [ ! -f "$ROOT/$f" ]; then
        echo "error: $ROOT/$f is missing: build with CUDA first (nvcc at /usr/local/cuda, then scripts/setup.sh)" >&2
        exit 2
    fi
done
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build/cli" "$stage/build/tests" "$stage/build/lib" "$stage/build/libfb"
cp "$ROOT/build/cli/headroom" "$ROOT/build/cli/libheadroom_cuda.so" "$stage/build/cli/"
cp "$ROOT/build/tests/headroom_tests" "$stage/build/tests/"
# every library the three link, less glibc's own, CUDA's and our module (the loader finds those there)
libs=$(for f in "${FILES[@]}"; do ldd "$ROOT/$f"; done | awk '/=> \// { print $3 }' | sort -u |
    grep -vE '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so|libcud|libcublas|libheadroom' || true)
for lib in $libs; do
    case "$(basename "$lib")" in
        libstdc++.so*|libgcc_s.so*) cp -L "$lib" "$stage/build/libfb/" ;;
        *) cp -L "$lib" "$stage/build/lib/" ;;
    esac
done
mkdir -p "$(dirname "$OUT")"
tar -C "$stage" -cf - build | xz -T0 "-${XZ_LEVEL:-6}" >"$OUT"
echo "$OUT: $(du -h "$OUT" | cut -f1), $(ls "$stage/build/lib" | wc -l) libraries; built in $ROOT (link that path on the GPU machine)" >&2
echo "$OUT"
