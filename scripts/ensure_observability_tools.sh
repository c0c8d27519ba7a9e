#!/usr/bin/env bash
# The stack's checks run the real tools (`make validate`, the stack tests): promtool and Prometheus,
# Alertmanager and amtool, and the node, PostgreSQL, Redis and blackbox exporters (Debian packages).
# Install the missing ones when we may (root with apt-get); otherwise say clearly what is missing.
set -u
# command -> Debian package
declare -A PACKAGE=(
  [prometheus]=prometheus [promtool]=prometheus
  [amtool]=prometheus-alertmanager
  [prometheus-node-exporter]=prometheus-node-exporter
  [prometheus-postgres-exporter]=prometheus-postgres-exporter
  [prometheus-redis-exporter]=prometheus-redis-exporter
  [prometheus-blackbox-exporter]=prometheus-blackbox-exporter
)
have_alertmanager() { command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null; }

missing_packages() {
  local command
  for command in "${!PACKAGE[@]}"; do
    command -v "$command" >/dev/null || echo "${PACKAGE[$command]}"
  done
  have_alertmanager || echo prometheus-alertmanager
}

missing=$(missing_packages | sort -u | tr '\n' ' ')
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing $missing(Debian packages) for the stack's checks…"
  # Debian's packages start their daemons where an init system runs; the checks start their own.
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing) \
    >/dev/null 2>&1
fi
missing=$(missing_packages | sort -u | tr '\n' ' ')
[ -z "$missing" ] && exit 0
echo "MISSING: $missing(Debian: apt-get install $missing)"
exit 1
