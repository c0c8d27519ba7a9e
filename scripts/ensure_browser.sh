#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through its ChromeDriver (no browser download).
# Install them when missing and we may; otherwise say clearly what is missing.
set -u
have() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing chromium and chromium-driver (Debian packages) for the browser tests…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1
fi
have || { echo "MISSING: chromium and chromium-driver (Debian: apt-get install chromium chromium-driver)"; exit 1; }
