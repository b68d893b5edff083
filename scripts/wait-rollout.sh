#!/usr/bin/env bash
# Wait for an Argo Rollouts canary to finish, with kubectl only (no plugin):
#   scripts/wait-rollout.sh NAMESPACE ROLLOUT TIMEOUT_SECONDS [PREVIOUS_POD_HASH]
# Exit 0 once the Rollout is Healthy with its newest revision stable; exit 1 as soon as it
# is aborted or Degraded (its analysis failed: Argo Rollouts has already scaled the canary
# away and stable keeps the traffic), or when the time is up. PREVIOUS_POD_HASH (the
# Rollout's status.currentPodHash before the change) makes it wait until the controller has
# seen the change, so the old revision's "Healthy" is not taken for the new one's.
set -euo pipefail
namespace=$1 rollout=$2 timeout=$3 previous=${4:-}
deadline=$((SECONDS + timeout))
field() { kubectl -n "$namespace" get rollout "$rollout" -o "jsonpath={.status.$1}"; }
while ((SECONDS < deadline)); do
  phase=$(field phase) abort=$(field abort) current=$(field currentPodHash) stable=$(field stableRS)
  echo "rollout $rollout: phase=${phase:-?} revision=${current:-?} stable=${stable:-?}"
  if [ "$abort" = true ] || [ "$phase" = Degraded ]; then
    echo "rollout $rollout aborted: $(field message)" >&2
    exit 1
  fi
  if [ -n "$current" ] && [ "$current" != "$previous" ] && [ "$phase" = Healthy ] \
    && [ "$current" = "$stable" ]; then
    exit 0
  fi
  sleep 10
done
echo "rollout $rollout: not done after ${timeout}s" >&2
exit 1
