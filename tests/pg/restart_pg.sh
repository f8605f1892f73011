#!/bin/sh
# Restarts a server started by start_pg.sh DIR (fast shutdown, same port):
# every client connection breaks, as in a database failover.
set -eu
dir=${1:?usage: restart_pg.sh DIR}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ "$(id -u)" -eq 0 ]; then
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w restart >/dev/null
else
  "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w restart >/dev/null
fi
