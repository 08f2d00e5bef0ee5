#!/usr/bin/env bash
# Builds every fuzz target and runs each for a few seconds on the stable
# toolchain (libFuzzer through cargo-fuzz, `--sanitizer none`).
#
#   fuzz/run-short.sh            # every target, 20 s each
#   fuzz/run-short.sh 60         # every target, 60 s each
#   fuzz/run-short.sh 30 jwks    # only the named targets
#
# Exits non-zero if the build fails or any target finds a crash (a panic,
# a failed invariant, an overflow, a timeout or an out-of-memory). The
# crashing input is kept in fuzz/artifacts/<target>/ and the command to
# reproduce it is printed. Seeds are read from fuzz/seeds/<target>/ and
# never modified; the inputs libFuzzer finds go to fuzz/corpus/<target>/
# (git-ignored), so repeated runs build on each other.
set -euo pipefail

SECONDS_PER_TARGET="${1:-20}"
shift || true
case "$SECONDS_PER_TARGET" in
  ''|*[!0-9]*) echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2 ;;
esac

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$FUZZ_DIR"

# The tool: cargo-fuzz from crates.io, built from source (no binary download).
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "run-short: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi
# libFuzzer itself is C++, compiled by libfuzzer-sys's build script.
if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1 && [ -z "${CXX:-}" ]; then
  echo "run-short: a C++ compiler is needed to build libFuzzer (apt-get install g++)" >&2
  exit 1
fi

if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi

# `-s none`: no AddressSanitizer, which needs nightly. The code under test
# is `#![forbid(unsafe_code)]`, so what the fuzzer looks for is panics,
# failed assertions, overflows and runaway time or memory.
FLAGS=(--sanitizer none)
cargo fuzz build "${FLAGS[@]}"

failed=()
for target in "${TARGETS[@]}"; do
  mkdir -p "corpus/$target" "seeds/$target"
  echo "run-short: $target for ${SECONDS_PER_TARGET}s" >&2
  if ! cargo fuzz run "${FLAGS[@]}" "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=20000 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1; then
    failed+=("$target")
    echo "run-short: $target FAILED; reproduce with:" >&2
    echo "  cd fuzz && cargo fuzz run --sanitizer none $target artifacts/$target/<file>" >&2
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "run-short: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "run-short: ${#TARGETS[@]} targets ran ${SECONDS_PER_TARGET}s each, no crash" >&2
