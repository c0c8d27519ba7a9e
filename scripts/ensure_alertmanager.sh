#!/usr/bin/env bash
# The Alertmanager interop test starts a real Prometheus Alertmanager (Debian's
# prometheus-alertmanager: the `prometheus-alertmanager` daemon and `amtool`).
# Install it when missing and we may; otherwise say clearly what is missing.
set -u
have() { { command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null; } && command -v amtool >/dev/null; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing prometheus-alertmanager (Debian package) for the Alertmanager test…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager) >/dev/null 2>&1
fi
have || { echo "MISSING: prometheus-alertmanager (Debian: apt-get install prometheus-alertmanager)"; exit 1; }
