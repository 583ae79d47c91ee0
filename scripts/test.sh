#!/usr/bin/env bash
# Installs what the tests need and runs every check CI runs: format, lints, the layering rule,
# and every test (including the ones that bring up real displays, audio and networks).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test

echo "== npm ci (playwright-core for the browser viewer test; it downloads no browser)"
npm ci --prefix e2e/browser --no-audit --no-fund --loglevel=error

# One build cache for every checkout on this machine (CI tests a fresh clone elsewhere): a cold
# build of webrtc-rs and openh264 takes minutes on two cores, a warm one seconds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tether/target}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "== tether-proto stays free of I/O"
forbidden=$(cargo tree --locked -p tether-proto -e normal --prefix none |
  grep -E '^(tokio|axum|webrtc|rtc|scrap|enigo|cpal|tungstenite|mio) ' || true)
if [ -n "$forbidden" ]; then
  echo "tether-proto must not depend on: $forbidden" >&2
  exit 1
fi

echo "== cargo test"
cargo test --locked --workspace -- --include-ignored
