#!/usr/bin/env bash
# Installs dependencies, builds build/cattube, starts the server and
# provisions the seed tutorial's resources (idempotently):
#   buckets cattube-source + cattube-destination, queue catqueue, job template
#   cattube-converter (examples/seed/settings.json), the source bucket's
#   ObjectCreated notification to that template, and an HTTPS distribution of
#   the destination bucket.
# Then prints how to upload a video and where its outputs appear, and keeps
# the server in the foreground (Ctrl-C stops it). Safe to re-run.
#
# Environment: CATTUBE_DATA (default ./cattube-data), CATTUBE_LISTEN
# (127.0.0.1:9000), CATTUBE_EDGE_LISTEN (127.0.0.1:8443),
# CATTUBE_EDGE_HTTP_LISTEN (127.0.0.1:8080), CATTUBE_ROOT_ACCESS_KEY /
# CATTUBE_ROOT_SECRET_KEY (default: generated once, kept in
# $CATTUBE_DATA/setup-credentials.env), CATTUBE_SKIP_BUILD=1, CATTUBE_BIN.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

DATA=${CATTUBE_DATA:-./cattube-data}
LISTEN=${CATTUBE_LISTEN:-127.0.0.1:9000}
EDGE_LISTEN=${CATTUBE_EDGE_LISTEN:-127.0.0.1:8443}
EDGE_HTTP_LISTEN=${CATTUBE_EDGE_HTTP_LISTEN:-127.0.0.1:8080}
REGION=us-east-1
ENDPOINT="http://$LISTEN"
SRC=cattube-source DST=cattube-destination QUEUE=catqueue TEMPLATE=cattube-converter
BIN=${CATTUBE_BIN:-$ROOT/build/cattube}   # CATTUBE_BIN: use that binary, skip the build

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# --- 1. dependencies and build ---
say "dependencies"
bash scripts/deps.sh
if [ "${CATTUBE_SKIP_BUILD:-0}" != 1 ] && [ -z "${CATTUBE_BIN:-}" ]; then
  say "building build/cattube"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target cattube
fi
[ -x "$BIN" ] || die "build/cattube was not built"

# --- 2. credentials (the server uses these as its root keys) ---
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
CRED_FILE="$DATA/setup-credentials.env"
if [ -z "${CATTUBE_ROOT_ACCESS_KEY:-}" ] || [ -z "${CATTUBE_ROOT_SECRET_KEY:-}" ]; then
  if [ ! -f "$CRED_FILE" ]; then
    umask 077
    rnd() { python3 -c 'import secrets,sys; a=sys.argv[1]; print("".join(secrets.choice(a) for _ in range(int(sys.argv[2]))))' "$@"; }
    ak="AKIA$(rnd ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 16)"
    sk="$(rnd ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 40)"
    printf 'CATTUBE_ROOT_ACCESS_KEY=%s\nCATTUBE_ROOT_SECRET_KEY=%s\n' "$ak" "$sk" >"$CRED_FILE"
    umask 022
  fi
  # shellcheck disable=SC1090
  . "$CRED_FILE"
fi
export CATTUBE_ROOT_ACCESS_KEY CATTUBE_ROOT_SECRET_KEY

# The aws CLI: Debian's awscli (v2) even when another one is first on PATH.
AWS_BIN=$(command -v /usr/bin/aws || command -v aws || true)
[ -n "$AWS_BIN" ] || die "aws CLI not found"
AWS_CFG_DIR=$(mktemp -d)
touch "$AWS_CFG_DIR/config" "$AWS_CFG_DIR/credentials"
awsc() {
  AWS_ACCESS_KEY_ID=$CATTUBE_ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CATTUBE_ROOT_SECRET_KEY \
  AWS_DEFAULT_REGION=$REGION AWS_PAGER="" AWS_CONFIG_FILE="$AWS_CFG_DIR/config" \
  AWS_SHARED_CREDENTIALS_FILE="$AWS_CFG_DIR/credentials" NO_PROXY='*' no_proxy='*' \
    "$AWS_BIN" --endpoint-url "$ENDPOINT" --output json "$@" </dev/null
}
json_get() { # json_get EXPR  (python expression over `d`, reads JSON on stdin)
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
healthy() { curl -fsS --noproxy '*' --max-time 2 "$ENDPOINT/cattube/health" >/dev/null 2>&1; }

# --- 3. the server ---
SERVER_PID=""
cleanup() {
  rm -rf "$AWS_CFG_DIR"
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if healthy; then
  say "a CatTube server already answers on $ENDPOINT; provisioning it"
else
  say "starting cattube serve (data in $DATA, log also in $DATA/server.log)"
  "$BIN" serve --data "$DATA" --listen "$LISTEN" --edge-listen "$EDGE_LISTEN" \
    --edge-http-listen "$EDGE_HTTP_LISTEN" --region "$REGION" \
    </dev/null 2> >(tee -a "$DATA/server.log" >&2) &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    healthy && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "cattube serve exited; see $DATA/server.log"
    sleep 0.1
  done
  healthy || die "cattube serve did not become healthy within 60 s"
fi

# --- 4. the seed's resources, each created only when missing ---
say "buckets"
for b in "$SRC" "$DST"; do
  if awsc s3api head-bucket --bucket "$b" >/dev/null 2>&1; then
    echo "bucket $b exists"
  else
    awsc s3 mb "s3://$b"
  fi
done

say "queue $QUEUE"
if awsc mediaconvert get-queue --name "$QUEUE" >/dev/null 2>&1; then
  echo "queue $QUEUE exists"
else
  awsc mediaconvert create-queue --name "$QUEUE" >/dev/null
  echo "created queue $QUEUE"
fi

say "job template $TEMPLATE"
if ! tpl=$(awsc mediaconvert get-job-template --name "$TEMPLATE" 2>/dev/null); then
  tpl=$(cd examples/seed && awsc mediaconvert create-job-template --name "$TEMPLATE" \
          --queue "$QUEUE" --settings file://settings.json)
  echo "created job template $TEMPLATE"
else
  echo "job template $TEMPLATE exists"
fi
TEMPLATE_ARN=$(json_get 'd["JobTemplate"]["Arn"]' <<<"$tpl")

say "notification $SRC -> $TEMPLATE_ARN"
awsc s3api put-bucket-notification-configuration --bucket "$SRC" \
  --notification-configuration "{\"LambdaFunctionConfigurations\":[{\"Id\":\"cattube-notifications\",\"LambdaFunctionArn\":\"$TEMPLATE_ARN\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"

say "distribution of $DST"
DIST_FILE="$DATA/setup-distribution.json"
DIST_URL=""
if list=$(NO_PROXY='*' "$BIN" distribution list --endpoint "$ENDPOINT" 2>/dev/null); then
  DIST_URL=$(python3 - "$DST" "$list" <<'PY'
import json, sys
bucket, text = sys.argv[1], sys.argv[2]
try:
    d = json.loads(text)
except ValueError:
    sys.exit(0)
items = d if isinstance(d, list) else next((v for v in d.values() if isinstance(v, list)), []) \
    if isinstance(d, dict) else []
for it in items:
    if isinstance(it, dict) and it.get("originBucket") == bucket and it.get("url"):
        print(it["url"])
        break
PY
)
fi
if [ -z "$DIST_URL" ]; then
  out=$(NO_PROXY='*' "$BIN" distribution create --endpoint "$ENDPOINT" --origin-bucket "$DST" \
          --viewer-protocol-policy redirect-to-https)
  printf '%s\n' "$out" >"$DIST_FILE"
  DIST_URL=$(json_get 'd["url"]' <<<"$out")
  echo "created distribution $DIST_URL"
else
  echo "distribution exists: $DIST_URL"
fi
DIST_URL=${DIST_URL%/}
EDGE_HTTP_PORT=${EDGE_HTTP_LISTEN##*:}
DIST_HOST=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).hostname)' "$DIST_URL")

# --- 5. how to use it ---
cat <<EOF

CatTube is up.
  S3 + MediaConvert API : $ENDPOINT   (region $REGION)
  HTTPS edge            : $DIST_URL/   (self-signed certificate: curl -k)
  HTTP edge             : http://$DIST_HOST:$EDGE_HTTP_PORT/  (redirects to HTTPS)
  Data directory        : $DATA

In another terminal:
  export AWS_ACCESS_KEY_ID=$CATTUBE_ROOT_ACCESS_KEY
  export AWS_SECRET_ACCESS_KEY=$CATTUBE_ROOT_SECRET_KEY
  export AWS_DEFAULT_REGION=$REGION AWS_PAGER=""

  # upload a video (any name; spaces are fine)
  $AWS_BIN --endpoint-url $ENDPOINT s3 cp "cat video 1.mov" s3://$SRC/

  # watch the job
  $AWS_BIN --endpoint-url $ENDPOINT mediaconvert list-jobs --queue $QUEUE

  # the outputs
  $AWS_BIN --endpoint-url $ENDPOINT s3 ls s3://$DST/
  curl -k -o hd.mp4 "$DIST_URL/cat%20video%201-hd.mp4"   # HEVC, the input's size
  curl -k -o sd.mp4 "$DIST_URL/cat%20video%201-sd.mp4"   # AV1, 256x144

EOF

if [ -n "$SERVER_PID" ]; then
  say "server running (pid $SERVER_PID); Ctrl-C stops it"
  wait "$SERVER_PID" || true
  SERVER_PID=""
fi
