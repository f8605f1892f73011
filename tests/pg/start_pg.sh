#!/bin/sh
# Starts a throwaway PostgreSQL for tests and prints its base URL
# (postgresql://postgres@127.0.0.1:PORT; append /DBNAME).
#   start_pg.sh DIR     initdb in DIR/data (DIR is created; must be new or
#                       empty), listen on 127.0.0.1:<free port>, unix socket in DIR
#   stop_pg.sh DIR      stops it (the caller removes DIR)
# CT_PG_OWNER_PID=PID: also stop it and remove DIR once that process is gone,
# so a test that crashes does not leave a server running.
# As root the server runs as the `postgres` user (runuser), which then owns DIR.
# Binaries: $PG_BIN, else the newest /usr/lib/postgresql/*/bin (Debian's postgresql).
set -eu
dir=${1:?usage: start_pg.sh DIR}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "start_pg: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$dir"
  chmod 0755 "$dir"
  as_pg() { runuser -u postgres -- "$@"; }
fi
as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2; exit 1; }
# Durable settings as in production (fsync on); small and quiet otherwise.
# The free port is picked before the server binds it: retry if taken meanwhile.
for _try in 1 2 3; do
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=16MB" \
      start >"$dir/pg_ctl.log" 2>&1; then
    echo "$port" >"$dir/port"
    if [ -n "${CT_PG_OWNER_PID:-}" ]; then
      here=$(cd "$(dirname "$0")" && pwd)
      ( while kill -0 "$CT_PG_OWNER_PID" 2>/dev/null; do sleep 1; done
        "$here/stop_pg.sh" "$dir"; rm -rf "$dir" ) </dev/null >/dev/null 2>&1 &
    fi
    echo "postgresql://postgres@127.0.0.1:$port"
    exit 0
  fi
done
cat "$dir/pg_ctl.log" "$dir/server.log" >&2
exit 1
