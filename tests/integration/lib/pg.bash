# Helpers for the PostgreSQL tests (sourced after connect.bash): a throwaway cluster made with
# Debian's initdb on a free loopback port, data in $tmp/pg, stopped on exit and restartable on
# the same port with the same data. initdb refuses root, so as root the server runs as the
# Debian `postgres` user (or $PG_USER); as any other user it runs as that user.
#
# start_pg: initdb + start; sets PG_PORT, PGDATA_DIR and PG_URL (a libpq connection URI for
# database "fleet", user "fleet", no password over TCP: trust on 127.0.0.1 only).
# stop_pg [mode]: pg_ctl stop (-m fast by default; "immediate" is a crash). restart_pg: start again.
# pq ARGS...: psql against the test database, unaligned, tuples only, stop on error.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[[ -x $PG_BIN/initdb ]] || { echo "FAIL: no PostgreSQL server (postgresql-15) installed" >&2; exit 1; }

# as_pg CMD...: runs CMD as the cluster's owner.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "${PG_USER:-postgres}" -- "$@"
  else
    "$@"
  fi
}

start_pg() {
  PGDATA_DIR=$tmp/pg
  mkdir -p "$PGDATA_DIR"
  chmod 755 "$tmp" # the server's user must reach its data directory
  [[ $(id -u) -eq 0 ]] && chown "${PG_USER:-postgres}" "$PGDATA_DIR"
  as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U fleet --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$tmp/initdb.log" 2>&1 || fail "initdb failed: $(tail -5 "$tmp/initdb.log")"
  cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
max_connections = 40
log_min_messages = warning
EOF
  PG_PORT=$(free_port)
  sed -i "s/^#*port = .*/port = $PG_PORT/" "$PGDATA_DIR/postgresql.conf"
  restart_pg
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U fleet fleet || fail "createdb failed"
  PG_URL="postgresql://fleet@127.0.0.1:$PG_PORT/fleet"
  pg_started=1
}

restart_pg() {
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 60 start >/dev/null ||
    fail "PostgreSQL did not start: $(tail -5 "$PGDATA_DIR/server.log")"
}

stop_pg() {
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m "${1:-fast}" -w -t 60 stop >/dev/null 2>&1 || true
}

pq() {
  psql "$PG_URL" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# The cluster is stopped before connect.bash's cleanup removes $tmp.
pg_cleanup() {
  [[ -n ${pg_started:-} ]] && stop_pg immediate
  cleanup
}
trap pg_cleanup EXIT
