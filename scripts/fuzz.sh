#!/usr/bin/env bash
# libFuzzer runs of the targets in fuzz/ (docs/security.md, "Fuzzing").
#
#   scripts/fuzz.sh short                  every target for FUZZ_SHORT_SECS (25) from its kept
#                                          corpus; fails on any crash (CI)
#   scripts/fuzz.sh long [seconds]         every target for [seconds] (3600) each; what it finds
#                                          goes to fuzz/target/found/<target>; then run `cmin`
#   scripts/fuzz.sh run TARGET [ARGS...]   one target, libFuzzer's own arguments passed on
#                                          (e.g. a crash file to replay it)
#   scripts/fuzz.sh cmin [TARGET...]       minimise fuzz/corpus/<target>, folding in what long
#                                          runs found
#   scripts/fuzz.sh build                  build only
#
# No cargo-fuzz needed: the targets are built by plain `cargo +nightly build` (stable if no
# nightly is installed) with the sanitizer-coverage flags cargo-fuzz passes, and run as
# libFuzzer binaries. `cargo +nightly fuzz run <target>` works as well where cargo-fuzz is
# installed. FUZZ_TARGETS="a b" picks targets; FUZZ_TOOLCHAIN picks the toolchain;
# FUZZ_TARGET_DIR the build directory (fuzz/target); FUZZ_SANITIZER=address adds
# AddressSanitizer (nightly only; Tether's own crates forbid unsafe code, so it is off by
# default: it halves the speed).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS="signal_msg input_msg toolbox_msg rendezvous sharing rtp_assembler sdp_candidate"
TARGETS="${FUZZ_TARGETS:-$ALL_TARGETS}"
# Nightly where it is installed (cargo-fuzz's toolchain; AddressSanitizer needs it); the
# coverage flags themselves are stable codegen options, so stable builds the same targets.
if [ -z "${FUZZ_TOOLCHAIN:-}" ]; then
  if rustup run nightly rustc --version >/dev/null 2>&1; then
    FUZZ_TOOLCHAIN=nightly
  else
    FUZZ_TOOLCHAIN=stable
  fi
fi
TRIPLE="$(rustc "+$FUZZ_TOOLCHAIN" -vV | sed -n 's/^host: //p')"
# Its own target dir: nightly and instrumented, nothing the stable builds could reuse.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
BIN="$CARGO_TARGET_DIR/$TRIPLE/release"

build() {
  local flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
  flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
  flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
  flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares"
  flags+=" -Cllvm-args=-sanitizer-coverage-stack-depth --cfg fuzzing"
  if [ -n "${FUZZ_SANITIZER:-}" ]; then
    flags+=" -Zsanitizer=$FUZZ_SANITIZER"
  fi
  echo "== cargo +$FUZZ_TOOLCHAIN build (fuzz targets)"
  # The root lock file is the one source of versions: fuzz/ starts from a copy of it (so it
  # builds exactly what the workspace builds) and adds only its own pinned libfuzzer-sys and
  # arbitrary.
  cp Cargo.lock fuzz/Cargo.lock
  # --target keeps build scripts and proc macros uninstrumented, as cargo-fuzz does.
  RUSTFLAGS="$flags" cargo "+$FUZZ_TOOLCHAIN" build --release \
    --manifest-path fuzz/Cargo.toml --target "$TRIPLE" --bins
}

# The longest input each target is given: signal frames go past the 64 KiB limit.
max_len() {
  case "$1" in
    signal_msg | toolbox_msg) echo 70000 ;;
    sdp_candidate) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

# fuzz TARGET SECONDS [RUNS]: new inputs go to fuzz/target/found/<target>, never to the
# kept corpus (which only cmin rewrites); crashes to fuzz/artifacts/<target>/.
fuzz() {
  local target="$1" secs="$2"
  local found="$CARGO_TARGET_DIR/found/$target" artifacts="fuzz/artifacts/$target"
  mkdir -p "$found" "$artifacts" "fuzz/corpus/$target"
  echo "== $target: ${secs}s"
  "$BIN/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$(max_len "$target")" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$found" "fuzz/corpus/$target"
}

cmin() {
  local target="$1" kept="fuzz/corpus/$1" found="$CARGO_TARGET_DIR/found/$1"
  local merged="$CARGO_TARGET_DIR/cmin/$1"
  rm -rf "$merged"
  mkdir -p "$merged" "$found" "$kept"
  echo "== cmin $target"
  # Edges only (no hit counts, no comparison operands), a set cover first, then whatever it
  # missed: a small set with all the coverage, hundreds of files rather than thousands.
  local flags=(-use_counters=0 -use_cmp=0 -use_value_profile=0 -timeout=10 -rss_limit_mb=2048
    -max_len="$(max_len "$target")")
  "$BIN/$target" -set_cover_merge=1 "${flags[@]}" "$merged" "$kept" "$found"
  "$BIN/$target" -merge=1 "${flags[@]}" "$merged" "$kept" "$found"
  rm -rf "$kept"
  mv "$merged" "$kept"
  echo "$target: $(find "$kept" -type f | wc -l) inputs kept"
}

case "${1:-}" in
  build) build ;;
  short)
    build
    for target in $TARGETS; do
      fuzz "$target" "${FUZZ_SHORT_SECS:-25}"
    done
    ;;
  long)
    build
    for target in $TARGETS; do
      fuzz "$target" "${2:-3600}"
    done
    echo "== done; fold what was found into the kept corpora with: scripts/fuzz.sh cmin"
    ;;
  run)
    target="${2:?usage: scripts/fuzz.sh run TARGET [libFuzzer args...]}"
    shift 2
    build
    mkdir -p "fuzz/artifacts/$target"
    if [ "$#" -eq 0 ]; then
      set -- "$CARGO_TARGET_DIR/found/$target" "fuzz/corpus/$target"
      mkdir -p "$1" "$2"
    fi
    exec "$BIN/$target" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
      -artifact_prefix="fuzz/artifacts/$target/" "$@"
    ;;
  cmin)
    shift
    build
    for target in ${*:-$TARGETS}; do
      cmin "$target"
    done
    ;;
  *)
    sed -n '2,23p' "$0" >&2
    exit 2
    ;;
esac
