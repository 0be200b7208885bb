#!/bin/sh
# Install the Debian packages sluice needs to build, test and demo, when any
# is missing.  Uses apt-get as root, sudo otherwise; does nothing when all
# are present.  Usage: scripts/deps.sh [build|test|all]
set -eu
what=${1:-all}
# libprotobuf-c-dev: the header that libpg_query's protobuf parse trees need
# (lint walks them); libpg-query-dev does not depend on it.  libcurl: the
# prometheus metric provider of rollouts.  prometheus: its tests run a real one.
build="gcc make pkg-config libsqlite3-dev libpq-dev libpg-query-dev libprotobuf-c-dev libyaml-dev libssl-dev libjansson-dev zlib1g-dev libcurl4-openssl-dev"
test="libcmocka-dev postgresql sqlite3 clang libclang-rt-14-dev procps python3 util-linux prometheus"
case "$what" in
  build) pkgs="$build sqlite3" ;;
  test|all) pkgs="$build $test" ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
# npm (the real-history test fetches it from the npm registry): any npm on
# PATH will do; only when there is none, Debian's.
if [ "$what" != build ] && ! command -v npm >/dev/null 2>&1; then
  missing="$missing nodejs npm"
fi
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
