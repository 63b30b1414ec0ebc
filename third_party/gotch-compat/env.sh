# Source this (bash) from anywhere to call `go build` / `go test` / `go vet` directly:
#     source third_party/gotch-compat/env.sh
# The Makefile exports the same variables, so `make …` needs nothing sourced.
# Requires `make setup` (build/stubs, build/gotch and go.work) to have run once.
_gc_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_gc_root="$(cd "$_gc_dir/../.." && pwd)"
# The Go build cache does not hash files pulled in with -include, so the header's hash goes into
# the flags: editing the header then forces gotch's libtch to recompile.
_gc_sum="$(sha256sum "$_gc_dir/gotch_compat.h" | cut -c1-16)"
export CGO_CXXFLAGS="-include $_gc_dir/gotch_compat.h -DGOTCH_COMPAT_SHA=$_gc_sum -I/usr/include/torch/csrc/api/include"
export CGO_LDFLAGS="-L$_gc_root/build/stubs"
# gotch's init() creates $HOME/.cache/gotch unless GOTCH_CACHE is set.
export GOTCH_CACHE="${GOTCH_CACHE:-$_gc_root/build/gotch-cache}"
# setup's go.work replaces gotch by the patched build/gotch; named so that GOWORK=off in the
# environment cannot silently build the unpatched copy from the module cache.
export GOWORK="$_gc_root/go.work"
unset _gc_dir _gc_root _gc_sum
