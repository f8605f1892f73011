#!/bin/sh
# Stops a server started by start_pg.sh DIR (fast shutdown).
set -eu
dir=${1:?usage: stop_pg.sh DIR}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -f "$dir/data/postmaster.pid" ] || exit 0
if [ "$(id -u)" -eq 0 ]; then
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
else
  "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
fi
