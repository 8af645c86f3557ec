#!/usr/bin/env bash
# Deploys session-events to Google Cloud with gcloud: APIs, Firestore (database, indexes,
# TTL), the rollup job's and the operator's tokens in Secret Manager, a least-privilege
# service account, the
# gen2 HTTP function and the daily Cloud Scheduler job that runs the rollup. Every step is
# idempotent: a second run changes nothing and does not fail.
#
# usage: infra/deploy.sh [all|firestore]     (make deploy / make deploy-firestore)
#
#   all        (default) APIs, Firestore, job and read tokens, service account, function,
#              schedule
#   firestore  only the Firestore part: database, composite index, index exemptions, TTL
#
# environment:
#   GOOGLE_CLOUD_PROJECT  required: the project to deploy to
#   REGION                required: the function's region (e.g. us-central1)
#   STAGE                 env file infra/env.<STAGE>.yaml (default: prod)
#   DRY_RUN=1             print the exact commands, one per line, and run none
#   FIRESTORE_LOCATION    location of a new Firestore database (default: REGION)
#   MEMORY, CPU           instance size (default: 512Mi, 1; concurrency > 1 needs CPU >= 1)
#   MIN_INSTANCES         default 0
#   MAX_INSTANCES         default 10 (a cost and write-rate ceiling)
#   TIMEOUT               request timeout of the function (default: 540s, so a rollup run
#                         over a large window finishes; ingest requests end far sooner)
#   INGEST_TOKEN_SECRET   optional Secret Manager secret holding the ingest token; when set,
#                         the function reads it as SESSION_EVENTS_INGEST_TOKEN
#   READ_TOKEN_SECRET     Secret Manager secret of the operator's read token, which the
#                         function reads as SESSION_EVENTS_READ_TOKEN (default:
#                         session-events-read-token; created with a random token if missing)
#   JOB_TOKEN_SECRET      Secret Manager secret of the rollup job's token (default:
#                         session-events-job-token; created with a random token if missing)
#   ROLLUP_SCHEDULE       cron schedule of the rollup job, UTC (default: "17 3 * * *")
#   SCHEDULER_LOCATION    Cloud Scheduler location (default: REGION)
#   RETRY_SLEEP_S         pause between retries of an IAM grant (default: 10)
#
# The concurrency per instance is THREADS from the env file, so the request concurrency
# and functions-framework's thread count always match.
set -euo pipefail

readonly FUNCTION_NAME="session-events"
readonly SERVICE_ACCOUNT_ID="session-events-fn"
readonly DATABASE="(default)"
readonly APIS=(
  cloudfunctions.googleapis.com
  run.googleapis.com
  cloudbuild.googleapis.com
  artifactregistry.googleapis.com
  firestore.googleapis.com
  secretmanager.googleapis.com
  cloudscheduler.googleapis.com
)
readonly SCHEDULER_JOB="session-events-rollup"
readonly JOB_PATH="/v1/jobs/rollup"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "infra/deploy.sh"
}

die() {
  local status="$1"
  shift
  echo "deploy.sh: error: $*" >&2
  exit "$status"
}

# ---- arguments and settings ---------------------------------------------------------------

PART="${1:-all}"
case "$PART" in
  all | firestore) ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) die 2 "unknown part '$PART' (expected: all or firestore)" ;;
esac
[[ $# -le 1 ]] || die 2 "too many arguments (expected at most one: all or firestore)"

missing=0
for name in GOOGLE_CLOUD_PROJECT REGION; do
  if [[ -z "${!name:-}" ]]; then
    echo "deploy.sh: error: $name is not set (export $name=... and run again)" >&2
    missing=1
  fi
done
[[ $missing -eq 0 ]] || exit 2

PROJECT="$GOOGLE_CLOUD_PROJECT"
STAGE="${STAGE:-prod}"
ENV_FILE="infra/env.${STAGE}.yaml"
[[ -f "$ENV_FILE" ]] || die 2 "$ENV_FILE not found (STAGE=$STAGE selects infra/env.<stage>.yaml)"
FIRESTORE_LOCATION="${FIRESTORE_LOCATION:-$REGION}"
MEMORY="${MEMORY:-512Mi}"
CPU="${CPU:-1}"
MIN_INSTANCES="${MIN_INSTANCES:-0}"
MAX_INSTANCES="${MAX_INSTANCES:-10}"
TIMEOUT="${TIMEOUT:-540s}"
INGEST_TOKEN_SECRET="${INGEST_TOKEN_SECRET:-}"
READ_TOKEN_SECRET="${READ_TOKEN_SECRET:-session-events-read-token}"
JOB_TOKEN_SECRET="${JOB_TOKEN_SECRET:-session-events-job-token}"
ROLLUP_SCHEDULE="${ROLLUP_SCHEDULE:-17 3 * * *}"
SCHEDULER_LOCATION="${SCHEDULER_LOCATION:-$REGION}"
RETRY_SLEEP_S="${RETRY_SLEEP_S:-10}"
SERVICE_ACCOUNT="${SERVICE_ACCOUNT_ID}@${PROJECT}.iam.gserviceaccount.com"
DRY=0
[[ "${DRY_RUN:-0}" == "1" || "${DRY_RUN:-}" == "true" ]] && DRY=1

# The value of KEY: "value" in the env file (one flat mapping of quoted strings).
env_value() {
  sed -n -E "s/^$1:[[:space:]]*\"?([^\"]*)\"?[[:space:]]*$/\1/p" "$ENV_FILE" | head -n 1
}

STORE="$(env_value SESSION_EVENTS_STORE)"
[[ "$STORE" == "firestore" ]] \
  || die 2 "$ENV_FILE must set SESSION_EVENTS_STORE: \"firestore\" (found: '${STORE}')"
COLLECTION="$(env_value SESSION_EVENTS_COLLECTION)"
COLLECTION="${COLLECTION:-session_events}"
CONCURRENCY="$(env_value THREADS)"
[[ "$CONCURRENCY" =~ ^[1-9][0-9]*$ ]] \
  || die 2 "$ENV_FILE must set THREADS to a positive integer (it is also the concurrency)"
[[ "$CPU" =~ ^[0-9]+([.][0-9]+)?$ ]] || die 2 "CPU must be a number such as 1 or 2"
if [[ "$CONCURRENCY" -gt 1 ]] && awk -v cpu="$CPU" 'BEGIN { exit !(cpu < 1) }'; then
  die 2 "THREADS=$CONCURRENCY needs CPU >= 1 (gen2 allows concurrency > 1 only with a whole CPU)"
fi

# ---- running commands -----------------------------------------------------------------------

# One shell word per argument: plain words as they are, anything else single-quoted.
quote() {
  local word words=()
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
      words+=("$word")
    else
      words+=("'${word//"'"/"'\\''"}'")
    fi
  done
  echo "${words[*]}"
}

# Run a command that changes something (or print it under DRY_RUN=1).
run() {
  if [[ $DRY -eq 1 ]]; then
    quote "$@"
    return 0
  fi
  echo "+ $(quote "$@")" >&2
  "$@"
}

# Is the resource there? 0 = yes, 1 = NOT_FOUND; any other failure stops the deployment.
# Under DRY_RUN=1 the check is printed as a comment and the resource counts as missing.
exists() {
  if [[ $DRY -eq 1 ]]; then
    echo "# the next command runs only when this one answers NOT_FOUND: $(quote "$@")"
    return 1
  fi
  local err status=0
  err="$("$@" 2>&1 >/dev/null)" || status=$?
  if [[ $status -eq 0 ]]; then
    return 0
  fi
  if grep -qiE 'NOT_FOUND|not found|does not exist' <<<"$err"; then
    return 1
  fi
  echo "$err" >&2
  die 1 "could not check: $(quote "$@")"
}

# Run a create command; "already exists" counts as success.
create() {
  if [[ $DRY -eq 1 ]]; then
    quote "$@"
    return 0
  fi
  echo "+ $(quote "$@")" >&2
  local err status=0
  err="$("$@" 2>&1 >/dev/null)" || status=$?
  if [[ $status -eq 0 ]]; then
    return 0
  fi
  if grep -qiE 'ALREADY_EXISTS|already exists' <<<"$err"; then
    echo "  (already exists)" >&2
    return 0
  fi
  echo "$err" >&2
  exit "$status"
}

# Grant a role; a just-created service account can take a moment to become visible to IAM.
grant() {
  if [[ $DRY -eq 1 ]]; then
    quote "$@"
    return 0
  fi
  local attempt err status
  for attempt in 1 2 3 4 5 6; do
    echo "+ $(quote "$@")" >&2
    status=0
    err="$("$@" 2>&1 >/dev/null)" || status=$?
    if [[ $status -eq 0 ]]; then
      return 0
    fi
    if [[ $attempt -lt 6 ]] && grep -qiE 'does not exist|NOT_FOUND' <<<"$err"; then
      echo "  (not visible to IAM yet; retrying in ${RETRY_SLEEP_S}s)" >&2
      sleep "$RETRY_SLEEP_S"
      continue
    fi
    echo "$err" >&2
    exit "$status"
  done
}

# ---- steps ------------------------------------------------------------------------------------

enable_apis() {
  run gcloud services enable "$@" --project="$PROJECT"
}

firestore_database() {
  if ! exists gcloud firestore databases describe --database="$DATABASE" --project="$PROJECT"; then
    create gcloud firestore databases create --database="$DATABASE" \
      --location="$FIRESTORE_LOCATION" --type=firestore-native --project="$PROJECT" --quiet
  fi
}

firestore_indexes_and_ttl() {
  # Queries per identity, newest first.
  create gcloud firestore indexes composite create --database="$DATABASE" \
    --collection-group="$COLLECTION" --query-scope=collection \
    --field-config=field-path=identity_hash,order=ascending \
    --field-config=field-path=ended_at,order=descending \
    --project="$PROJECT" --quiet
  # The operator's anonymous sessions (github_hash == null), newest first, and their count.
  create gcloud firestore indexes composite create --database="$DATABASE" \
    --collection-group="$COLLECTION" --query-scope=collection \
    --field-config=field-path=github_hash,order=ascending \
    --field-config=field-path=ended_at,order=descending \
    --project="$PROJECT" --quiet
  # The senders of one session hash in the order they were stored: the first one's event is
  # the session's page (led by the random session hash, so no write hotspot on received_at).
  create gcloud firestore indexes composite create --database="$DATABASE" \
    --collection-group="$COLLECTION" --query-scope=collection \
    --field-config=field-path=session_id_hash,order=ascending \
    --field-config=field-path=received_at,order=ascending \
    --project="$PROJECT" --quiet
  # Monotonically increasing timestamps: indexing them caps writes at ~500/s (hotspot).
  local field
  for field in received_at expire_at; do
    run gcloud firestore indexes fields update "$field" --database="$DATABASE" \
      --collection-group="$COLLECTION" --disable-indexes --project="$PROJECT" --quiet
  done
  # Rollup documents are read by key only: their JSON body is never indexed.
  run gcloud firestore indexes fields update body --database="$DATABASE" \
    --collection-group="${COLLECTION}_rollups" --disable-indexes --project="$PROJECT" --quiet
  # Firestore deletes a document after its expire_at (received_at + the retention).
  run gcloud firestore fields ttls update expire_at --database="$DATABASE" \
    --collection-group="$COLLECTION" --enable-ttl --project="$PROJECT" --quiet
}

service_account() {
  if ! exists gcloud iam service-accounts describe "$SERVICE_ACCOUNT" --project="$PROJECT"; then
    create gcloud iam service-accounts create "$SERVICE_ACCOUNT_ID" \
      --display-name="session-events ingest function" \
      --description="Runs the session-events function; Firestore read/write only" \
      --project="$PROJECT"
  fi
  grant gcloud projects add-iam-policy-binding "$PROJECT" \
    --member="serviceAccount:$SERVICE_ACCOUNT" --role=roles/datastore.user \
    --condition=None --quiet
  local secret
  for secret in "$JOB_TOKEN_SECRET" "$INGEST_TOKEN_SECRET" "$READ_TOKEN_SECRET"; do
    [[ -n "$secret" ]] || continue
    grant gcloud secrets add-iam-policy-binding "$secret" \
      --member="serviceAccount:$SERVICE_ACCOUNT" --role=roles/secretmanager.secretAccessor \
      --project="$PROJECT" --quiet
  done
}

# A random token (64 hex characters) on stdout, never on a command line.
random_token() {
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# A token secret (the job's, the operator's): created with a random token when missing.
token_secret() {
  local secret="$1"
  if ! exists gcloud secrets describe "$secret" --project="$PROJECT"; then
    if [[ $DRY -eq 1 ]]; then
      echo "# the next command reads a random token on stdin"
    fi
    create gcloud secrets create "$secret" \
      --replication-policy=automatic --data-file=- --project="$PROJECT" < <(random_token)
  fi
}

deploy_function() {
  local flags=(
    --gen2
    --runtime=python312
    --region="$REGION"
    --project="$PROJECT"
    --source=functions
    --entry-point=session_events
    --trigger-http
    --allow-unauthenticated
    --service-account="$SERVICE_ACCOUNT"
    --memory="$MEMORY"
    --cpu="$CPU"
    --concurrency="$CONCURRENCY"
    --min-instances="$MIN_INSTANCES"
    --max-instances="$MAX_INSTANCES"
    --timeout="$TIMEOUT"
    --env-vars-file="$ENV_FILE"
  )
  local secrets="SESSION_EVENTS_JOB_TOKEN=${JOB_TOKEN_SECRET}:latest"
  if [[ -n "$INGEST_TOKEN_SECRET" ]]; then
    secrets+=",SESSION_EVENTS_INGEST_TOKEN=${INGEST_TOKEN_SECRET}:latest"
  fi
  secrets+=",SESSION_EVENTS_READ_TOKEN=${READ_TOKEN_SECRET}:latest"
  flags+=(--set-secrets="$secrets")
  run gcloud functions deploy "$FUNCTION_NAME" "${flags[@]}" --quiet
}

function_url() {
  run gcloud functions describe "$FUNCTION_NAME" --region="$REGION" --project="$PROJECT" \
    --format="value(serviceConfig.uri)"
}

# What a command prints, or (DRY_RUN=1) a placeholder and the command as a comment.
read_value() {
  local placeholder="$1"
  shift
  if [[ $DRY -eq 1 ]]; then
    echo "# $placeholder comes from: $(quote "$@")" >&2
    echo "$placeholder"
    return 0
  fi
  "$@"
}

# The daily rollup: Cloud Scheduler POSTs to the job route with the job token. The token is
# read from Secret Manager here and never printed (the command shows <job-token>).
rollup_schedule() {
  local url token verb=create header_flag=--headers
  url="$(read_value '<function-url>' gcloud functions describe "$FUNCTION_NAME" \
    --region="$REGION" --project="$PROJECT" --format="value(serviceConfig.uri)")"
  [[ -n "$url" ]] || die 1 "could not read the function's URL"
  token="$(read_value '<job-token>' gcloud secrets versions access latest \
    --secret="$JOB_TOKEN_SECRET" --project="$PROJECT")"
  [[ -n "$token" ]] || die 1 "the secret $JOB_TOKEN_SECRET holds no token"
  if exists gcloud scheduler jobs describe "$SCHEDULER_JOB" --location="$SCHEDULER_LOCATION" \
    --project="$PROJECT"; then
    verb=update
    header_flag=--update-headers
  fi
  local command=(
    gcloud scheduler jobs "$verb" http "$SCHEDULER_JOB"
    --location="$SCHEDULER_LOCATION"
    --schedule="$ROLLUP_SCHEDULE"
    --time-zone=Etc/UTC
    --uri="${url}${JOB_PATH}"
    --http-method=POST
    "${header_flag}=Authorization=Bearer <job-token>"
    --attempt-deadline=600s
    --max-retry-attempts=3
    --min-backoff=300s
    --project="$PROJECT"
    --quiet
  )
  if [[ $DRY -eq 1 ]]; then
    quote "${command[@]}"
    return 0
  fi
  echo "+ $(quote "${command[@]}")" >&2
  local i
  for i in "${!command[@]}"; do
    command[i]="${command[i]//<job-token>/$token}"
  done
  "${command[@]}" >/dev/null
}

# ---- plan -------------------------------------------------------------------------------------

if [[ $DRY -eq 1 ]]; then
  echo "# session-events deployment: project=$PROJECT region=$REGION stage=$STAGE part=$PART"
fi

if [[ "$PART" == "firestore" ]]; then
  enable_apis firestore.googleapis.com
  firestore_database
  firestore_indexes_and_ttl
else
  enable_apis "${APIS[@]}"
  firestore_database
  firestore_indexes_and_ttl
  token_secret "$JOB_TOKEN_SECRET"
  token_secret "$READ_TOKEN_SECRET"
  service_account
  deploy_function
  rollup_schedule
  function_url
fi
