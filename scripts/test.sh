#!/usr/bin/env bash
# Installs what the tests need and runs every check CI runs: format, lints, the layering rule,
# and every test (including the ones that bring up real displays, audio and networks).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test

echo "== npm ci (playwright-core for the browser viewer test; it downloads no browser)"
npm ci --prefix e2e/browser --no-audit --no-fund --loglevel=error

echo "== node --test (the browser viewer's modules)"
node --test signal/web/test/

# One build cache for every checkout on this machine (CI tests a fresh clone elsewhere): a cold
# build of webrtc-rs and openh264 takes minutes on two cores, a warm one seconds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tether/target}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "== tether-proto and tether-session stay free of I/O"
for crate in tether-proto tether-session; do
  forbidden=$(cargo tree --locked -p "$crate" -e normal --prefix none |
    grep -E '^(tokio|axum|webrtc|rtc|scrap|enigo|cpal|tungstenite|mio) ' || true)
  if [ -n "$forbidden" ]; then
    echo "$crate must not depend on: $forbidden" >&2
    exit 1
  fi
done

echo "== the peers' client builds carry no server"
# The viewer, and the agent without its embedded server, reach a signaling server through
# tether-signal-client only: no HTTP server stack, no TURN server in their dependency trees.
for crate in "tether-viewer" "tether-agent --no-default-features"; do
  # shellcheck disable=SC2086 # the feature flag is a separate word on purpose
  server=$(cargo tree --locked -p $crate -e normal --prefix none |
    grep -E '^(axum|hyper|tower|turn|tether-signal) ' || true)
  if [ -n "$server" ]; then
    echo "$crate must not depend on: $server" >&2
    exit 1
  fi
done
cargo clippy --locked -p tether-agent --no-default-features --all-targets -- -D warnings

echo "== cargo test"
cargo test --locked --workspace -- --include-ignored

echo "== fuzz: every target for ${FUZZ_SHORT_SECS:-20} s from its kept corpus (docs/security.md)"
# Its own build cache beside the tests' one: instrumented builds share nothing with them.
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/tether/fuzz-target}" \
  FUZZ_SHORT_SECS="${FUZZ_SHORT_SECS:-20}" scripts/fuzz.sh short
