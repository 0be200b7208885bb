#!/bin/sh
# bench/lintgen.sh SRC OUT - build the `make bench-lint` corpus in OUT from the
# Unleash migrations that tests/realworld/fetch.sh wrote to SRC.
#
#   OUT/unleash/NNNN_<name>.up.sql   the 397 up-migrations, copied as they are
#   OUT/unit.sql      every up-migration in order, each followed by "\n;\n" (so
#                     a file that ends without a ";" or inside a "--" comment
#                     cannot swallow the next one)
#   OUT/big5.sql      unit.sql repeated until the file is >= 5 MiB  (whole copies)
#   OUT/big50.sql     unit.sql repeated until the file is >= 50 MiB (whole copies)
#   OUT/sample/       the first up-migrations in order until they add up to
#                     >= SAMPLE_BYTES (default 30000): the sqlfluff sample
#
# Safe to run again: a stamp records what the files were built from; when it
# matches, nothing is rewritten.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 SRC-DIR OUT-DIR" >&2; exit 1; }
SRC=$1
OUT=$2
SAMPLE_BYTES=${SAMPLE_BYTES:-30000}
MIB=1048576

die() { echo "lintgen: $*" >&2; exit 1; }

[ -d "$SRC/migrations" ] || die "no $SRC/migrations (run: bash tests/realworld/fetch.sh $SRC)"
n=$(ls "$SRC"/migrations/*.up.sql 2>/dev/null | wc -l)
[ "$n" -gt 0 ] || die "no *.up.sql in $SRC/migrations"

src_sum=$(cat "$SRC"/migrations/*.up.sql | sha256sum | cut -d' ' -f1)
stamp="v1 $src_sum $n $SAMPLE_BYTES"
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$stamp" ] &&
   [ -f "$OUT/big5.sql" ] && [ -f "$OUT/big50.sql" ] && [ -d "$OUT/sample" ]; then
	exit 0
fi

echo "lintgen: building the corpus in $OUT" >&2
rm -rf "$OUT/unleash" "$OUT/sample" "$OUT/.stamp"
mkdir -p "$OUT/unleash" "$OUT/sample"
cp "$SRC"/migrations/*.up.sql "$OUT/unleash/"

: >"$OUT/unit.sql.tmp"
for f in "$OUT"/unleash/*.up.sql; do
	cat "$f" >>"$OUT/unit.sql.tmp"
	printf '\n;\n' >>"$OUT/unit.sql.tmp"
done
mv "$OUT/unit.sql.tmp" "$OUT/unit.sql"
unit=$(wc -c <"$OUT/unit.sql")

# repeat unit.sql ceil(target/unit) times
repeat() { # target-bytes file
	copies=$((($1 + unit - 1) / unit))
	i=0
	while [ "$i" -lt "$copies" ]; do
		cat "$OUT/unit.sql"
		i=$((i + 1))
	done >"$2.tmp"
	mv "$2.tmp" "$2"
}
repeat $((5 * MIB)) "$OUT/big5.sql"
repeat $((50 * MIB)) "$OUT/big50.sql"

total=0
for f in "$OUT"/unleash/*.up.sql; do
	[ "$total" -ge "$SAMPLE_BYTES" ] && break
	cp "$f" "$OUT/sample/"
	total=$((total + $(wc -c <"$f")))
done

echo "$stamp" >"$OUT/.stamp"
