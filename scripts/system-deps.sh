#!/usr/bin/env bash
# Installs the Debian packages the stack, its drills and the browser tests need (HAProxy,
# Prometheus, Alertmanager, PostgreSQL, etcd, pgBackRest, Redis and Redis Sentinel, wrk,
# chromium, and python3-venv for Patroni's virtualenv) when one is missing. As root only;
# otherwise it names what to install and fails.
set -euo pipefail
declare -A need=(
  [haproxy]=haproxy
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [pgbackrest]=pgbackrest
  [redis-server]=redis-server
  [etcd]=etcd-server
  [redis-sentinel]=redis-sentinel
  [wrk]=wrk
  [chromium]=chromium
  [kubectl]=kubernetes-client  # kubectl kustomize: tests/deploy/test_k8s.py
)
missing=()
for cmd in "${!need[@]}"; do
  PATH=$PATH:/usr/sbin command -v "$cmd" >/dev/null || missing+=("${need[$cmd]}")
done
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || missing+=(postgresql)
# Patroni runs as the postgres user from a virtualenv of Debian's own Python.
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} (install them as root)" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
