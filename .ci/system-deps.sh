#!/usr/bin/env bash
# System packages the tests need (Debian): ffmpeg and GStreamer's RTSP server for the camera
# tests, mosquitto for MQTT, chromium for browser checks. Idempotent; a package that cannot be
# installed is reported and skipped rather than failing the whole CI run (its tests then skip).
set -uo pipefail

PACKAGES=(
  ffmpeg
  gir1.2-gst-rtsp-server-1.0 python3-gi
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  mosquitto chromium
)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: apt-get not found; skipping system packages (dependent tests will skip)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "system-deps: not root and no sudo; skipping system packages"; exit 0
  fi
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system-deps: all packages already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "system-deps: apt-get update failed; trying the cached lists"
# One apt line first (fast path); if it fails, retry one package at a time to name the culprits.
if $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "system-deps: installed ${missing[*]}"
  exit 0
fi
failed=()
for pkg in "${missing[@]}"; do
  $SUDO apt-get install -y -qq --no-install-recommends "$pkg" || failed+=("$pkg")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "system-deps: could not install: ${failed[*]} (tests needing them will skip)"
else
  echo "system-deps: installed ${missing[*]}"
fi
exit 0
