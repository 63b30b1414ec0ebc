#!/bin/sh
# Project-owned patch for a copied gotch module: gotch's Must* wrappers (and the few other
# ts helpers written the same way, e.g. Dim, DType, Copy_) call log.Fatal on a libtorch
# error, which exits the process without running deferred functions. This makes them
# panic with the error instead, so internal/torch.Recover can turn it back into an error
# value at our package boundaries. Only `log.Fatal(err)` (the error as is) and DType's
# `log.Fatalf(..., err)` are changed; the remaining log.Fatalf calls of ts report misuse of
# gotch's Go API (an unsupported Go type in jit.go, index.go, print.go), not libtorch
# failures. Prints the number of sites changed; setup.sh checks it.
set -e
cd "$1/ts"
# Lines that are comments (`// log.Fatal(err)`) are left alone and not counted.
files=$(grep -lE '^[^/]*log\.Fatal\(err\)' *.go | grep -v '_test\.go$')
n=0
for f in $files; do
  c=$(grep -cE '^[^/]*log\.Fatal\(err\)' "$f")
  n=$((n + c))
  sed -i -E '/^[[:space:]]*\/\//! s/log\.Fatal\(err\)/panic(err)/g' "$f"
done
c=$(grep -c 'log\.Fatalf("Tensor DType error: %v\\n", err)' tensor.go || true)
n=$((n + c))
sed -i 's/log\.Fatalf("Tensor DType error: %v\\n", err)/panic(fmt.Errorf("Tensor DType error: %w", err))/' tensor.go
# Drop the "log" import where nothing but comments uses log any more.
for f in $files tensor.go; do
  if ! grep -Eq '^[^/]*\blog\.' "$f"; then
    sed -i -E '/^[[:space:]]*"log"[[:space:]]*$/d' "$f"
  fi
done
echo "$n"
