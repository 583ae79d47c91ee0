#!/usr/bin/env bash
# Installs what the build needs, builds, and runs the agent on its embedded signaling server.
# Extra arguments go to tether-agent (e.g. --bind 0.0.0.0:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cargo build --release --locked -p tether-agent
exec target/release/tether-agent "$@"
