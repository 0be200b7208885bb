# tests/lib/prom.sh - a real Prometheus server for the end-to-end tests of
# the `prometheus` metric provider: Debian's /usr/bin/prometheus on a free
# loopback port, scraping every second a tiny exporter that serves a file.
# Source this file, then:
#   prom_exporter_start DIR   serves DIR/metrics.prom at /metrics; sets
#                             PROM_EXPORTER_PORT, PROM_EXPORTER_PID
#   prom_exporter_set DIR TEXT  replaces DIR/metrics.prom atomically (a
#                             scrape never sees half a file)
#   prom_start DIR            config in DIR/prometheus.yml, TSDB in DIR/data,
#                             log in DIR/prometheus.log; returns once the
#                             server is ready and has scraped the exporter
#                             (up == 1); sets PROM_URL, PROM_PORT, PROM_PID
#   prom_query QUERY          prints the instant query's values, one a line
#   prom_wait_value QUERY VALUE [TIMEOUT_S]
#                             waits (default 15 s) until QUERY's first value
#                             equals VALUE (compared as numbers), so a test
#                             knows a new exporter value has been scraped
#   prom_stop                 stops both (TERM, then KILL after 5 s) and waits
# Returns non-zero (and says why on stderr) when prometheus is not installed
# or does not come up; PROMETHEUS overrides the binary.  Safe under set -e.
# prom_start takes about 7 s, nearly all of it Prometheus 2.42's fixed 5 s
# wait before it applies the first scrape targets (no flag shortens it):
# start one server per script, not one per test.
#
#   d=$T_TMP/prom; mkdir -p "$d"
#   prom_exporter_set "$d" 'p99_ms 120'
#   prom_exporter_start "$d" && prom_start "$d" || return 1
#   trap prom_stop EXIT
#   ... sluice with url: "$PROM_URL", query: p99_ms ...
#   prom_exporter_set "$d" 'p99_ms 450'; prom_wait_value p99_ms 450

prom_exporter_set() {
  mkdir -p "$1" || return 1
  printf '%s\n' "$2" >"$1/metrics.prom.tmp" && mv -f "$1/metrics.prom.tmp" "$1/metrics.prom"
}

prom_exporter_start() {
  local dir=$1 i
  mkdir -p "$dir" || return 1
  [ -f "$dir/metrics.prom" ] || : >"$dir/metrics.prom"
  # binds port 0 itself and reports the port it got: no race for a free port
  cat >"$dir/exporter.py" <<'EOF'
import http.server, os, sys
path, portfile = sys.argv[1], sys.argv[2]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split('?')[0] != '/metrics':
            self.send_error(404)
            return
        try:
            with open(path, 'rb') as f:
                body = f.read()
        except OSError:
            body = b''
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
with open(portfile + '.tmp', 'w') as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + '.tmp', portfile)
server.serve_forever()
EOF
  rm -f "$dir/exporter.port"
  python3 "$dir/exporter.py" "$dir/metrics.prom" "$dir/exporter.port" </dev/null >"$dir/exporter.log" 2>&1 &
  PROM_EXPORTER_PID=$!
  for i in $(seq 1 100); do
    if [ -s "$dir/exporter.port" ]; then
      PROM_EXPORTER_PORT=$(cat "$dir/exporter.port")
      export PROM_EXPORTER_PORT PROM_EXPORTER_PID
      return 0
    fi
    kill -0 "$PROM_EXPORTER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "prom.sh: the exporter did not start: $(tail -n 5 "$dir/exporter.log" 2>/dev/null)" >&2
  prom_kill "$PROM_EXPORTER_PID"
  PROM_EXPORTER_PID=
  return 1
}

prom_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# prom_query QUERY: the values of the instant query on $PROM_URL, one a line
prom_query() {
  curl -fsS --max-time 5 -G "$PROM_URL/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["data"]["result"]
if d["data"]["resultType"] == "scalar":
    print(r[1])
else:
    for s in r:
        print(s["value"][1])
' 2>/dev/null
}

# prom_wait_until_value QUERY VALUE DEADLINE_S: poll until the first value equals VALUE
prom_wait_until_value() {
  local end=$((SECONDS + $3)) got
  while :; do
    got=$(prom_query "$1" | head -n 1)
    if [ -n "$got" ] && python3 -c 'import sys, math
a, b = float(sys.argv[1]), float(sys.argv[2])
sys.exit(0 if a == b or (math.isnan(a) and math.isnan(b)) else 1)' "$got" "$2" 2>/dev/null; then
      return 0
    fi
    [ $SECONDS -lt $end ] || { PROM_LAST_VALUE=$got; return 1; }
    sleep 0.2
  done
}

prom_start() {
  local dir=$1 bin=${PROMETHEUS:-$(command -v prometheus)} attempt i
  [ -n "$bin" ] && [ -x "$bin" ] || { echo "prom.sh: prometheus is not installed (Debian package prometheus)" >&2; return 1; }
  [ -n "${PROM_EXPORTER_PORT:-}" ] || { echo "prom.sh: call prom_exporter_start first" >&2; return 1; }
  mkdir -p "$dir/data" || return 1
  cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: ['127.0.0.1:$PROM_EXPORTER_PORT']
EOF
  # the port is chosen free, then bound by prometheus: another process can
  # take it in between, so a server that dies at once is retried on a new port
  for attempt in 1 2 3; do
    PROM_PORT=$(prom_free_port) || return 1
    PROM_URL="http://127.0.0.1:$PROM_PORT"
    "$bin" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
      </dev/null >"$dir/prometheus.log" 2>&1 &
    PROM_PID=$!
    export PROM_URL PROM_PORT PROM_PID
    for i in $(seq 1 150); do      # /-/ready: at most 15 s
      kill -0 "$PROM_PID" 2>/dev/null || break
      curl -fs --max-time 1 "$PROM_URL/-/ready" >/dev/null 2>&1 && break
      sleep 0.1
    done
    if kill -0 "$PROM_PID" 2>/dev/null; then
      # the first scrape: up == 1 (the exporter answered) within what is left of 15 s
      if prom_wait_until_value 'up{job="exporter"}' 1 $((15 - i / 10)); then
        return 0
      fi
      echo "prom.sh: prometheus at $PROM_URL did not scrape the exporter within 15 s (up = '${PROM_LAST_VALUE:-}'): $(tail -n 5 "$dir/prometheus.log")" >&2
      prom_stop_server
      return 1
    fi
    wait "$PROM_PID" 2>/dev/null || true
    PROM_PID=
    grep -q 'address already in use' "$dir/prometheus.log" || break
  done
  echo "prom.sh: prometheus did not start: $(tail -n 5 "$dir/prometheus.log")" >&2
  return 1
}

prom_wait_value() {
  [ -n "${PROM_URL:-}" ] || { echo "prom.sh: call prom_start first" >&2; return 1; }
  prom_wait_until_value "$1" "$2" "${3:-15}" && return 0
  echo "prom.sh: $1 did not become $2 within ${3:-15} s (last: '${PROM_LAST_VALUE:-}')" >&2
  return 1
}

# prom_kill PID: TERM, up to 5 s to exit, then KILL; reaped if our child
prom_kill() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true      # its status is not ours (safe under set -e)
  return 0
}

prom_stop_server() {
  prom_kill "${PROM_PID:-}"
  PROM_PID=
}

prom_stop() {
  prom_stop_server
  prom_kill "${PROM_EXPORTER_PID:-}"
  PROM_EXPORTER_PID=
  return 0
}
