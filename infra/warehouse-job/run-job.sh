#!/usr/bin/env bash
# The warehouse job, one run (started every 15 minutes by EventBridge Scheduler on ECS
# Fargate; infra/constructs/analytics_warehouse_job.py): retention once a UTC day, then
# the warehouse build (which delivers new alerts to SNS), then the reports that are due.
#
# Everything it is told comes from the task's environment, set by the analytics stack;
# it writes HOME/certsight.toml from it at every run, so the deployment is the one
# source of these settings. HOME is on EFS: the warehouse, the alert outbox, the report
# schedule and the pseudonym key survive from one run to the next.
set -euo pipefail

: "${CERTSIGHT_HOME:?set CERTSIGHT_HOME (the EFS mount)}"
: "${CERTSIGHT_LAKE:?set CERTSIGHT_LAKE (s3://BUCKET/PREFIX)}"
: "${CERTSIGHT_RAW:?set CERTSIGHT_RAW (space-separated s3:// RAW prefixes)}"
: "${CERTSIGHT_REPORTS:?set CERTSIGHT_REPORTS (s3://BUCKET/PREFIX)}"
: "${CERTSIGHT_ALERTS_TOPIC_ARN:?set CERTSIGHT_ALERTS_TOPIC_ARN}"
: "${CERTSIGHT_RAW_DAYS:?set CERTSIGHT_RAW_DAYS}"
: "${CERTSIGHT_CLIENT_ADDRESS_DAYS:?set CERTSIGHT_CLIENT_ADDRESS_DAYS}"
CERTSIGHT_LAKE_DAYS="${CERTSIGHT_LAKE_DAYS:-}"
CERTSIGHT_ALERTS_MIN_SEVERITY="${CERTSIGHT_ALERTS_MIN_SEVERITY:-medium}"
export CERTSIGHT_HOME

state="$CERTSIGHT_HOME/.certsight"
mkdir -p "$state"

# One run at a time: a build that outlasts the interval makes the next start a no-op
# instead of a second writer of the same warehouse (EFS honours flock's locks).
exec 9>"$state/job.lock"
if ! flock --nonblock 9; then
    echo "warehouse job: the previous run still holds $state/job.lock; nothing to do" >&2
    exit 0
fi

settings="$CERTSIGHT_HOME/certsight.toml"
{
    echo "# Written by run-job.sh at every run from the task's environment: edit the stack."
    echo "[privacy]"
    echo "raw_days = $CERTSIGHT_RAW_DAYS"
    echo "client_address_days = $CERTSIGHT_CLIENT_ADDRESS_DAYS"
    if [[ -n "$CERTSIGHT_LAKE_DAYS" ]]; then
        echo "lake_days = $CERTSIGHT_LAKE_DAYS"
    fi
    echo
    echo "[alerts]"
    echo "sns_topic_arn = \"$CERTSIGHT_ALERTS_TOPIC_ARN\""
    echo "sns_min_severity = \"$CERTSIGHT_ALERTS_MIN_SEVERITY\""
    echo
    echo "[reports]"
    echo "destination = \"$CERTSIGHT_REPORTS\""
} >"$settings.tmp"
mv "$settings.tmp" "$settings"

failed=0

# Retention once a UTC day, as `certsight run` does; a failure does not hold the build
# back (the next run tries again) but fails the task, so that it shows.
today="$(date -u +%F)"
if [[ "$(cat "$state/job-retained-on" 2>/dev/null || true)" != "$today" ]]; then
    raw_options=()
    for raw in $CERTSIGHT_RAW; do
        raw_options+=(--raw "$raw")
    done
    if certsight lake retain --lake "$CERTSIGHT_LAKE" "${raw_options[@]}"; then
        echo "$today" >"$state/job-retained-on"
    else
        echo "warehouse job: retention failed; the next run tries again" >&2
        failed=1
    fi
fi

certsight build --lake "$CERTSIGHT_LAKE"

python - <<'PY'
"""The reports the schedule says are due (certsight.reporting; `certsight run` does this)."""
from datetime import UTC, datetime

from rich.console import Console

from certsight.reporting import write_due_reports
from certsight.settings import Home

for location in write_due_reports(Home.resolve(None), now=datetime.now(UTC), console=Console()):
    print(f"report written: {location}")
PY

exit "$failed"
