#!/usr/bin/env bash
# pip-audit on the locked dependencies (uv.lock), as `make test` runs it.
# Fails only when the advisory data was reached and names a known vulnerability; when the
# advisory service cannot be reached it says so and passes (the suite must run offline).
set -uo pipefail
cd "$(dirname "$0")/.."
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
python3 -m uv export --frozen --no-hashes --no-emit-project --quiet >"$requirements"
output=$(.venv/bin/pip-audit -r "$requirements" --disable-pip --no-deps \
    --progress-spinner off --desc off 2>&1)
status=$?
total=$(grep -c '==' "$requirements")
skipped=$(grep -c 'could not be audited' <<<"$output")
if grep -q 'No known vulnerabilities found' <<<"$output"; then
    echo "pip-audit: no known vulnerabilities in $((total - skipped)) of $total locked packages" \
        "($skipped not on PyPI's advisory service, so not audited)"
    exit 0
fi
if grep -qiE 'Found [0-9]+ known vulnerabilit' <<<"$output"; then
    grep -vE 'could not be audited|^WARNING' <<<"$output"
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "pip-audit: the advisory service could not be reached; not audited this time:"
    tail -n 3 <<<"$output"
    exit 0
fi
echo "$output"
