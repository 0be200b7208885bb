# tests/lib/pg.sh - start and stop a throwaway PostgreSQL server for tests
# and benchmarks: initdb + pg_ctl on a Unix socket in a temp dir, no TCP.
# initdb refuses to run as root, so as root the server runs as the
# `postgres` user.  Source this file, then:
#   pg_start            sets PGDIR, PGHOST, PGPORT, PGUSER and PG_URL_BASE
#   pg_url DBNAME       prints a URL for a (created) database
#   pg_createdb NAME    creates a database
#   pg_stop             stops the server and removes PGDIR
# Returns non-zero (and says why) when no PostgreSQL is installed.

pg_bindir() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

pg_as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_start() {
  PGBIN=$(pg_bindir) || { echo "pg.sh: no PostgreSQL server installed (initdb not found)" >&2; return 1; }
  PGDIR=$(mktemp -d /tmp/sluice-pg.XXXXXX)
  chmod 755 "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
  pg_as "$PGBIN/initdb" -D "$PGDIR/data" --auth=trust -U postgres -E UTF8 --no-sync >"$PGDIR/initdb.log" 2>&1 \
    || { cat "$PGDIR/initdb.log" >&2; return 1; }
  PGPORT=${PGPORT_TEST:-$((20000 + $$ % 20000))}
  pg_as "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
    -o "-k $PGDIR -p $PGPORT -c listen_addresses='' -c fsync=${PG_FSYNC:-off} -c max_connections=50" start >/dev/null \
    || { cat "$PGDIR/server.log" >&2; return 1; }
  PGHOST=$PGDIR
  PGUSER=postgres
  export PGHOST PGPORT PGUSER PGDIR PGBIN
  PG_URL_BASE="postgresql://postgres@/"
  return 0
}

pg_url() {
  echo "postgresql:///$1?host=$PGDIR&port=$PGPORT&user=postgres"
}

pg_createdb() {
  psql -q -d postgres -c "CREATE DATABASE \"$1\"" >/dev/null
}

pg_stop() {
  [ -n "${PGDIR:-}" ] || return 0
  pg_as "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
  PGDIR=
}
