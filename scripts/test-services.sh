#!/usr/bin/env bash
# Prints QUIZ_TEST_DATABASE_URL=... and QUIZ_TEST_REDIS_URL=... for the test suite.
# Uses the PostgreSQL and Redis that answer on 127.0.0.1:5432 / :6379; when nothing does,
# installs the Debian packages (as root) and starts throwaway servers of its own on high
# ports, with their data under /tmp/quiz-test-services (pidfiles there; stop them with
# scripts/test-services.sh stop).
set -euo pipefail
DIR=/tmp/quiz-test-services
PG_PORT=55432
REDIS_PORT=56379
log() { echo "test-services: $*" >&2; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

if [ "${1:-}" = stop ]; then
  bin=$(pg_bin)
  [ -f "$DIR/pg/postmaster.pid" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$DIR/pg" -m fast stop >&2 || true
  [ -f "$DIR/redis.pid" ] && kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true
  exit 0
fi

apt_install() {
  if [ "$(id -u)" != 0 ]; then log "need $* but not root: install them"; exit 1; fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- PostgreSQL ---------------------------------------------------------------------------
if [ -n "${QUIZ_TEST_DATABASE_URL:-}" ]; then
  pg_url=$QUIZ_TEST_DATABASE_URL
elif pg_answers 5432; then
  pg_url=postgresql://postgres@127.0.0.1:5432/postgres
else
  [ -n "$(pg_bin)" ] || apt_install postgresql
  bin=$(pg_bin)
  install -d -m 755 "$DIR"
  if ! pg_answers $PG_PORT; then
    if [ ! -f "$DIR/pg/PG_VERSION" ]; then
      install -d -o postgres -g postgres -m 700 "$DIR/pg"
      runuser -u postgres -- "$bin/initdb" -D "$DIR/pg" -U postgres --auth=trust >/dev/null
    fi
    runuser -u postgres -- "$bin/pg_ctl" -D "$DIR/pg" -l "$DIR/pg/server.log" -w \
      -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1" start >&2
    log "started PostgreSQL on 127.0.0.1:$PG_PORT"
  fi
  pg_url=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
fi

# --- Redis ----------------------------------------------------------------------------------
if [ -n "${QUIZ_TEST_REDIS_URL:-}" ]; then
  redis_url=$QUIZ_TEST_REDIS_URL
elif pg_answers 6379; then
  redis_url=redis://127.0.0.1:6379/0
else
  command -v redis-server >/dev/null || apt_install redis-server
  install -d -m 755 "$DIR"
  if ! pg_answers $REDIS_PORT; then
    redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --dir "$DIR" >&2
    for _ in $(seq 50); do pg_answers $REDIS_PORT && break; sleep 0.1; done
    log "started Redis on 127.0.0.1:$REDIS_PORT"
  fi
  redis_url=redis://127.0.0.1:$REDIS_PORT/0
fi

echo "QUIZ_TEST_DATABASE_URL=$pg_url"
echo "QUIZ_TEST_REDIS_URL=$redis_url"
