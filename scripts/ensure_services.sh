#!/usr/bin/env bash
# The tests need a real PostgreSQL and a real Redis. Start them when installed but stopped;
# otherwise say clearly what is missing.
set -u
PGHOST=${PGHOST:-127.0.0.1}
missing=0

pg_up() { pg_isready -q -h "$PGHOST" -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "Starting PostgreSQL…"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 20); do pg_up && break; sleep 0.5; done
  fi
  pg_up || { echo "MISSING: PostgreSQL on $PGHOST:5432 (install postgresql, trust auth for user postgres, or set DATABASE_URL)"; missing=1; }
fi

if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "Starting Redis…"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
  fi
  redis_up || { echo "MISSING: Redis on 127.0.0.1:6379 (install redis-server, or set REDIS_URL)"; missing=1; }
fi

exit $missing
