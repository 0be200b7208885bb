#!/bin/sh
# bench/gen.sh DIR N - write N small migrations in dbmate layout to DIR and
# the "physical floor" scripts beside them.
#
#   DIR/migrations/<14-digit version>_m<i>.sql   "-- migrate:up" with 1-3
#       small statements (CREATE TABLE; INSERT a row; CREATE INDEX), then
#       "-- migrate:down" with DROP TABLE.  Read as-is by sluice and dbmate.
#   DIR/floor.sql      the up sections of all N files concatenated, in order:
#       exactly the SQL the migration tools run, for a bare psql/sqlite3.
#   DIR/floor-1tx.sql  floor.sql wrapped in BEGIN; ... COMMIT; (SQLite's
#       equivalent of `psql -1`).
#
# The SQL is portable between PostgreSQL and SQLite.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 DIR N" >&2; exit 2; }
dir=$1
n=$2
case $n in ''|*[!0-9]*) echo "$0: N must be a number" >&2; exit 2 ;; esac

mkdir -p "$dir/migrations"
rm -f "$dir"/migrations/*.sql

# One awk process writes all files: forking per file would dominate for
# large N.  Version = 2024 followed by the 10-digit index (14 digits).
awk -v n="$n" -v dir="$dir" 'BEGIN {
	floor = dir "/floor.sql"
	printf "" > floor
	for (i = 1; i <= n; i++) {
		f = sprintf("%s/migrations/2024%010d_m%d.sql", dir, i, i)
		up = sprintf("CREATE TABLE t_%d (id integer PRIMARY KEY, name text NOT NULL, v integer);\n", i)
		k = i % 3  # 1, 2 or 3 statements
		if (k >= 1)
			up = up sprintf("INSERT INTO t_%d (id, name, v) VALUES (1, %cm%d%c, %d);\n", i, 39, i, 39, i)
		if (k == 2)
			up = up sprintf("CREATE INDEX t_%d_v ON t_%d (v);\n", i, i)
		printf "-- migrate:up\n%s\n-- migrate:down\nDROP TABLE t_%d;\n", up, i > f
		close(f)
		printf "%s", up >> floor
	}
	close(floor)
}'

{ echo "BEGIN;"; cat "$dir/floor.sql"; echo "COMMIT;"; } >"$dir/floor-1tx.sql"
