#!/usr/bin/env bash
# Installs what tether-bench needs (scripts/deps.sh bench: Xvfb, PulseAudio, Chromium, node,
# GStreamer and its Python bindings), builds the release binaries, installs playwright-core
# (it downloads no browser), and runs tether-bench with this script's arguments, e.g.
#   scripts/bench.sh --seconds 8 --only 1080-motion --viewers native,browser --input-events 0
#   scripts/bench.sh --pin --baseline openh264      scripts/bench.sh --no-baseline
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh bench

# The same build cache as scripts/test.sh.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tether/target}"

echo "== cargo build --release" >&2
cargo build --release --locked --workspace

echo "== npm ci (playwright-core for the browser viewer)" >&2
npm ci --prefix e2e/browser --no-audit --no-fund --loglevel=error

exec "$CARGO_TARGET_DIR/release/tether-bench" "$@"
