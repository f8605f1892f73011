#!/usr/bin/env bash
# The one list of Debian packages CatTube needs to build, test and run.
# Installs only what is missing (apt-get update runs once, and only then).
# Non-interactive; works as root or through sudo.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config
  libmicrohttpd-dev libhttp-parser-dev libjansson-dev libexpat1-dev libsqlite3-dev libssl-dev
  libseccomp-dev libcurl4-openssl-dev zlib1g-dev libpq-dev
  libavformat-dev libavcodec-dev libavfilter-dev libavutil-dev
  libswresample-dev libswscale-dev
  # fuzz and sanitizer builds
  clang libclang-rt-14-dev
  # run and test
  ffmpeg awscli curl openssl python3-boto3 python3-botocore python3-pytest python3-requests s3cmd rclone cppcheck
  # static analysis (scripts/test.sh: run-clang-tidy with .clang-tidy)
  clang-tidy
  # playback tests (test_playback.py via playwright-core; test_packaging.py/test_hls.py via puppeteer-core)
  chromium
  # PostgreSQL engine tests start their own server (tests/pg/start_pg.sh)
  postgresql
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# node >= 18 + npm for the AWS SDK for JavaScript test; any install will do
# (Debian's or NodeSource's), so these are checked by command, not package.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "deps: not root and no sudo; install these packages first: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" </dev/null
