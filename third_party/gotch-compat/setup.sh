#!/usr/bin/env bash
# Prepares everything the Go build needs on Debian 12 (bookworm); idempotent, safe to re-run.
#   1. Debian's libtorch-dev 1.13.1 (CPU), OpenBLAS, libturbojpeg0-dev (internal/jpeg's
#      JPEG decoder, the libjpeg-turbo that OpenCV uses) and libgloo-dev (the gloo headers that
#      libtorch's c10d ProcessGroupGloo.hpp includes; internal/dist compiles against them),
#      installed with apt when missing.
#   2. build/stubs/lib*.so: comment-only GNU ld linker scripts for the CUDA libraries that gotch's
#      libtch/lib.go hard-codes as -l flags; they satisfy the linker and add nothing to the binary.
#   3. build/gotch: a copy of github.com/sugarme/gotch at the version pinned in go.mod with
#      patch-free-outptr.sh applied (gotch leaks a C.malloc(0) per op call) and
#      patch-must-panic.sh (its Must* wrappers panic with the libtorch error instead of calling
#      log.Fatal, which exits without running deferred functions). The module cache is never
#      modified.
#   4. go.work (git-ignored) at the module root: `use .` and a `replace` of that gotch version
#      by build/gotch, so every go command in the tree builds the patched copy. go.mod itself
#      has no replace: before setup (a fresh clone) the module is a normal one whose `go list`,
#      `go vet` and editors work with gotch from the module cache.
# Usage: third_party/gotch-compat/setup.sh [module-root]
set -euo pipefail
root="$(cd "${1:-$(dirname "$0")/../..}" && pwd)"
here="$root/third_party/gotch-compat"
build="$root/build"
mkdir -p "$build"

say() { printf 'setup: %s\n' "$*"; }

# --- 1. libtorch, its BLAS, libturbojpeg, gloo -------------------------------------------------
# libtorch-dev is satisfied by any libblas.so.3; apt may pick the slow reference BLAS or
# OpenBLAS depending on what else is installed, which changes speed and the last digits of
# results. Ask for OpenBLAS (pthread build) explicitly so every machine runs the same one.
missing=""
for pkg in libtorch-dev libopenblas0-pthread libturbojpeg0-dev libgloo-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  say "installing Debian's$missing (about a minute)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup:$missing missing and I am not root; run: apt-get install -y$missing" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
ver="$(dpkg-query -W -f='${Version}' libtorch-dev)"
case "$ver" in
  1.13.*) ;;
  *) echo "setup: libtorch-dev $ver found, this project needs 1.13.x (Debian 12)" >&2; exit 1 ;;
esac

# --- 2. CUDA stub linker scripts ---------------------------------------------------------------
mkdir -p "$build/stubs"
for lib in cuda cudart cublas cudnn caffe2_nvrtc nvrtc-builtins nvrtc nvToolsExt c10_cuda torch_cuda; do
  f="$build/stubs/lib$lib.so"
  [ -f "$f" ] || printf '/* Empty GNU ld linker script: satisfies gotch'"'"'s hard-coded -l%s on a CPU-only libtorch. */\n' "$lib" >"$f"
done

# --- 3. patched gotch copy ---------------------------------------------------------------------
gotch_ver="$(awk '$1=="github.com/sugarme/gotch"{print $2; exit} $2=="github.com/sugarme/gotch"{print $3; exit}' "$root/go.mod")"
[ -n "$gotch_ver" ] || { echo "setup: cannot find the gotch version in go.mod" >&2; exit 1; }
stamp="$gotch_ver $(cat "$here/patch-free-outptr.sh" "$here/patch-must-panic.sh" "$here/lockthread/main.go" | sha256sum | cut -c1-16)"
if [ "$(cat "$build/gotch/.setup-stamp" 2>/dev/null)" != "$stamp" ]; then
  say "preparing build/gotch (gotch $gotch_ver + per-op leak fix + Must* panic instead of exit + thread lock around error reads)"
  src="$(cd "$root" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/sugarme/gotch@$gotch_ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { echo "setup: go mod download of gotch $gotch_ver failed" >&2; exit 1; }
  rm -rf "$build/gotch.tmp" "$build/gotch"
  cp -r "$src" "$build/gotch.tmp"
  chmod -R u+w "$build/gotch.tmp"
  sh "$here/patch-free-outptr.sh" "$build/gotch.tmp"
  n="$(grep -c 'defer C.free(unsafe.Pointer(' "$build/gotch.tmp/ts/tensor-generated.go" || true)"
  [ "$n" -gt 1000 ] || { echo "setup: the leak patch did not apply (only $n sites)" >&2; exit 1; }
  # Must* wrappers: every log.Fatal(err) of ts's non-test files becomes panic(err). gotch
  # v0.7.0 has 1858 generated wrappers plus about 60 hand-written sites; none may be left.
  m="$(sh "$here/patch-must-panic.sh" "$build/gotch.tmp")"
  left="$(cd "$build/gotch.tmp/ts" && { grep -E '^[^/]*log\.Fatal\(err\)' $(ls *.go | grep -v '_test\.go$') || true; } | wc -l)"
  gen="$(grep -c 'log\.Fatal' "$build/gotch.tmp/ts/must-tensor-generated.go" || true)"
  [ "$m" -gt 1900 ] && [ "$left" -eq 0 ] && [ "$gen" -eq 0 ] || {
    echo "setup: the Must* panic patch did not apply ($m sites changed, $left log.Fatal(err) left, $gen in must-tensor-generated.go)" >&2; exit 1; }
  # Every ts function that reads libtorch's per-thread error state stays on one OS thread
  # (see lockthread/main.go); gotch v0.7.0 has 1,941 of them.
  l="$(cd "$root" && GOWORK=off GOFLAGS=-mod=mod go run ./third_party/gotch-compat/lockthread "$build/gotch.tmp/ts")"
  [ "$l" -gt 1900 ] || { echo "setup: the thread-lock patch did not apply (only $l functions)" >&2; exit 1; }
  printf '%s\n' "$stamp" >"$build/gotch.tmp/.setup-stamp"
  mv "$build/gotch.tmp" "$build/gotch"
  say "patched $n op wrappers (leak fix), $m Must* sites (panic instead of exit) and $l functions (one OS thread while reading the error state)"
fi

# --- 4. go.work --------------------------------------------------------------------------------
# Written after build/gotch is complete (a go.work pointing at a missing folder breaks every go
# command), and only when its content changes. `make clean` removes it with build/.
work="go 1.26.8

use .

// Written by third_party/gotch-compat/setup.sh (make setup): the patched copy of gotch.
replace github.com/sugarme/gotch $gotch_ver => ./build/gotch"
if [ "$(cat "$root/go.work" 2>/dev/null)" != "$work" ]; then
  printf '%s\n' "$work" >"$root/go.work.tmp"
  mv "$root/go.work.tmp" "$root/go.work"
  say "wrote go.work (gotch $gotch_ver => ./build/gotch)"
fi
say "ready (libtorch-dev $ver, gotch $gotch_ver)"
