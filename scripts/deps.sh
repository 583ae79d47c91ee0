#!/usr/bin/env bash
# Installs the Debian packages Tether needs, once: only what is missing, with apt run a single
# time (this image deletes downloaded .debs after each apt run, so concurrent runs break).
#   scripts/deps.sh build   -> what `cargo build` needs
#   scripts/deps.sh test    -> that, plus what the end-to-end tests bring up
#   scripts/deps.sh bench   -> that, plus tether-bench's GStreamer baselines (scripts/bench.sh)
set -euo pipefail

BUILD_PKGS=(build-essential pkg-config nasm cmake libxcb1-dev libxcb-shm0-dev libxcb-randr0-dev
  libasound2-dev libopus-dev libgtk-3-dev libayatana-appindicator3-dev libxdo-dev libxkbcommon-dev)
TEST_PKGS=(xvfb xauth x11-xkb-utils xkb-data xdotool x11-apps x11-utils util-linux
  libxkbcommon-x11-0 libayatana-appindicator3-1 dbus dbus-x11 trayer imagemagick
  pulseaudio pulseaudio-utils libasound2-plugins alsa-utils sox xclip
  chromium nodejs coturn iproute2 iptables)
# The baselines of shared/notes/latency-bar.md: gst-launch-1.0 (tools), ximagesrc, rtph264pay,
# udpsrc/udpsink, videocrop (good), videoconvert (base), openh264enc (bad, with libopenh264-7),
# webrtcbin (bad), x264enc (ugly), avdec_h264 (libav), libnice's ICE (nice), and the Python
# bindings testkit/gst/webrtc_sender.py needs (Debian's /usr/bin/python3).
BENCH_PKGS=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad libopenh264-7 gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gstreamer1.0-nice python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1)

case "${1:-build}" in
  build) wanted=("${BUILD_PKGS[@]}") ;;
  test) wanted=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  bench) wanted=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

# NodeSource's nodejs (this image's) ships npm and conflicts with Debian's npm package.
if [ "${1:-build}" != build ] && ! command -v npm >/dev/null; then missing+=(npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3; do
    if $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq &&
       $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"; then
      break
    fi
    [ "$attempt" -lt 3 ] || { echo "apt-get failed 3 times" >&2; exit 1; }
    sleep 5
  done
fi

command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
