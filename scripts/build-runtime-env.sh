#!/bin/sh
# Builds the container image's runtime environment: a virtualenv at TARGET holding exactly
# the locked runtime dependencies (uv.lock, --frozen: the lock is used as is, never
# re-resolved; no dev group) and this project installed as a wheel (not editable), with
# the bytecode compiled at build time (the image runs on a read-only root filesystem).
#
#   scripts/build-runtime-env.sh TARGET [deps|all]
#
#   deps  the locked dependencies only (the Dockerfile's cached layer: pyproject.toml,
#         uv.lock and this script are all it needs)
#   all   the dependencies and the project (default)
#
# The Dockerfile RUNs this script, and tests/deploy/test_image_commands.py builds its
# environment with it, so the image and the test cannot drift apart. Environment:
# UV (the uv command, default `uv`), UV_PYTHON (the interpreter, default: uv's choice,
# e.g. the image's python3), UV_CACHE_DIR and the other UV_* variables uv reads.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 TARGET [deps|all]" >&2
  exit 2
fi
target=$1
stage=${2:-all}
project=$(cd "$(dirname "$0")/.." && pwd)
uv=${UV:-uv}

export UV_PROJECT_ENVIRONMENT="$target"
export UV_PYTHON_DOWNLOADS=never
export UV_COMPILE_BYTECODE=1

case $stage in
  deps) set -- --no-install-project ;;
  all) set -- ;;
  *) echo "unknown stage $stage (deps or all)" >&2; exit 2 ;;
esac
cd "$project"
# $uv is word-split on purpose: UV may be "python3 -m uv".
# shellcheck disable=SC2086
$uv sync --frozen --no-dev --no-editable --no-progress "$@"
