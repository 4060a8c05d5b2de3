#!/usr/bin/env bash
# cibuildwheel's before-all on macOS: build LLVM's OpenMP runtime (libomp) for the
# wheel's architecture and its oldest supported macOS, so that delocate can bundle it
# into the wheel. Homebrew's libomp is built for the runner's own macOS version and
# delocate refuses a library newer than the wheel's target.
#
# Installs into $BPFAST_LIBOMP_PREFIX (default /tmp/bpfast-libomp) with an absolute
# install name, which CMake's FindOpenMP finds through OpenMP_ROOT and delocate then
# copies into bpfast/.dylibs and rewrites.
# Usage: tools/wheels/macos_libomp.sh   (environment: ARCHFLAGS, else this machine's arch)
set -euo pipefail

version=17.0.6
prefix="${BPFAST_LIBOMP_PREFIX:-/tmp/bpfast-libomp}"
url="https://github.com/llvm/llvm-project/releases/download/llvmorg-$version"
# SHA-256 of the release files (the same pins as Homebrew's libomp 17.0.6 formula)
sums="74334cbb4dc8b73a768448a7561d5a3540404940b2267b1fb9813a6464b320de  openmp-$version.src.tar.xz
807f069c54dc20cb47b21c1f6acafdd9c649f3ae015609040d6182cab01140f4  cmake-$version.src.tar.xz"

# The wheel's architecture: ARCHFLAGS (cibuildwheel sets it) or this machine's.
arch="$(uname -m)"
if [[ "${ARCHFLAGS:-}" =~ -arch[[:space:]]+([a-z0-9_]+) ]]; then arch="${BASH_REMATCH[1]}"; fi
# The wheels' macOS targets ([tool.cibuildwheel.macos] in pyproject.toml; keep in step):
# the runtime must not need a newer macOS than the wheel it goes into.
if [[ "$arch" == arm64 ]]; then MACOSX_DEPLOYMENT_TARGET=11.0; else MACOSX_DEPLOYMENT_TARGET=10.15; fi
export MACOSX_DEPLOYMENT_TARGET

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
for f in "openmp-$version.src.tar.xz" "cmake-$version.src.tar.xz"; do
    curl --fail --silent --show-error --location --retry 3 -o "$f" "$url/$f"
done
echo "$sums" | shasum -a 256 -c -
tar -xf "openmp-$version.src.tar.xz"
tar -xf "cmake-$version.src.tar.xz"
mv "cmake-$version.src" cmake     # the standalone build looks for ../cmake

cmake -S "openmp-$version.src" -B build -G "Unix Makefiles" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_INSTALL_NAME_DIR="$prefix/lib" \
    -DCMAKE_OSX_ARCHITECTURES="$arch" \
    -DCMAKE_OSX_DEPLOYMENT_TARGET="$MACOSX_DEPLOYMENT_TARGET" \
    -DLIBOMP_INSTALL_ALIASES=OFF \
    -DOPENMP_ENABLE_LIBOMPTARGET=OFF \
    -DLIBOMP_OMPD_SUPPORT=OFF \
    -DOPENMP_ENABLE_OMPT_TOOLS=OFF \
    -DLIBOMP_OMPT_SUPPORT=OFF \
    -DOPENMP_ENABLE_TESTING=OFF
cmake --build build --parallel "$(sysctl -n hw.logicalcpu)"
cmake --install build
otool -L "$prefix/lib/libomp.dylib"
echo "libomp $version for $arch, macOS >= $MACOSX_DEPLOYMENT_TARGET, in $prefix"
