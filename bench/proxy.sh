#!/usr/bin/env bash
# Benchmarks `portcullis proxy` side by side in one run. NOT a test: it measures.
#
#   bench/proxy.sh
#
# Every server fronts the same upstream (bench-bare-axum's GET /profile),
# and wrk requests /profile with a valid session cookie where auth applies:
#   gate          portcullis proxy, authenticated, cookie session
#   nginx         nginx proxy_pass, no auth, 1 worker (the ceiling)
#   nginx-auth    nginx auth_request -> the gate's /oauth2/auth, then proxy_pass
# Servers are pinned to core 0 and wrk to core 1 (taskset), as bench/run.sh.
# Per server: requests/s, p99 latency, the ratio to plain nginx, and the
# gate's RSS after the load. Table on stdout and in bench/results/proxy.md.
# Not yet included: Apache + mod_auth_openidc (issue 7 asks for it).
#
# Knobs: DURATION (5s), ROUNDS (3), CONNECTIONS (32), PROFILE (release;
# `debug` only to check the script), SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export LC_ALL=C
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
PROFILE=${PROFILE:-release}
OP_PORT=9410 UP_PORT=3210 GATE_PORT=3211 NGINX_PORT=3212 NGINX_AUTH_PORT=3213
RESULTS=$ROOT/bench/results
LOGS=$RESULTS/logs
mkdir -p "$LOGS"
log() { printf '==> bench/proxy: %s\n' "$*" >&2; }
die() { printf 'bench/proxy: ERROR: %s\n' "$*" >&2; exit 1; }

for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null && [[ ! -x /usr/sbin/$tool ]]; then
    log "installing $tool (apt)"
    if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && apt-get install -y -qq "$tool"
    else sudo apt-get update -qq && sudo apt-get install -y -qq "$tool"; fi
  fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v node >/dev/null || die "node is required (bench/login.mjs)"
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  SERVER_PIN=(taskset -c 0); LOAD_PIN=(taskset -c 1)
else
  SERVER_PIN=(); LOAD_PIN=()
fi

flag=(); [[ $PROFILE == release ]] && flag=(--release)
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "cargo build ${flag[*]} -p portcullis-cli -p bench-bare-axum"
  cargo build "${flag[@]}" -p portcullis-cli -p bench-bare-axum
fi
BIN=$ROOT/target/$PROFILE

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
wait_http() {
  for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done
  die "$2 did not answer at $1 (logs in $LOGS)"
}

BASE=http://127.0.0.1:$GATE_PORT
SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
"$BIN/portcullis" idp --port "$OP_PORT" --auto-approve alice \
  --client "bench-gate:bench-gate-secret-0123456789:$BASE/oauth2/callback" >"$LOGS/proxy-op.log" 2>&1 &
PIDS+=($!)
PORT=$UP_PORT "${SERVER_PIN[@]}" "$BIN/bench-bare-axum" >"$LOGS/proxy-upstream.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$OP_PORT/.well-known/openid-configuration" "the dev OP"
wait_http "http://127.0.0.1:$UP_PORT/" "the upstream"

env ISSUER_BASE_URL="http://127.0.0.1:$OP_PORT" CLIENT_ID=bench-gate \
  CLIENT_SECRET=bench-gate-secret-0123456789 BASE_URL="$BASE" SECRET="$SECRET" \
  UPSTREAM="http://127.0.0.1:$UP_PORT" LISTEN="127.0.0.1:$GATE_PORT" METRICS_LISTEN=off \
  TRUSTED_PROXIES=127.0.0.1 RUST_LOG=warn \
  "${SERVER_PIN[@]}" "$BIN/portcullis" proxy >"$LOGS/proxy-gate.log" 2>&1 &
GATE_PID=$!
PIDS+=($GATE_PID)
wait_http "$BASE/oauth2/healthz" "the gate"

NGINX_DIR=$(mktemp -d)
sed -e "s|listen 80;|listen 127.0.0.1:$NGINX_AUTH_PORT;|" -e "s|127.0.0.1:4180|127.0.0.1:$GATE_PORT|g" \
  -e "s|proxy_pass http://127.0.0.1:8080;|proxy_pass http://bench_upstream;\n        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";|" \
  docs/proxy/nginx.conf >"$NGINX_DIR/auth.conf"
cat >"$NGINX_DIR/nginx.conf" <<CONF
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $NGINX_DIR/body; proxy_temp_path $NGINX_DIR/proxy;
  fastcgi_temp_path $NGINX_DIR/fcgi; uwsgi_temp_path $NGINX_DIR/uwsgi; scgi_temp_path $NGINX_DIR/scgi;
  upstream bench_upstream { server 127.0.0.1:$UP_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://bench_upstream; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  include $NGINX_DIR/auth.conf;
}
CONF
"${SERVER_PIN[@]}" "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" -g 'daemon off;' &
PIDS+=($!)
wait_http "http://127.0.0.1:$NGINX_PORT/" "nginx"

log "signing in through the gate"
COOKIE=$(node bench/login.mjs "$BASE")
[[ -n $COOKIE ]] || die "no session cookie"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$NGINX_AUTH_PORT/profile")
[[ $status == 200 ]] || die "nginx auth_request answered $status with the session cookie"

run_wrk() { # url -> "rps p99_ms"
  "${LOAD_PIN[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $COOKIE" "$1" >"$LOGS/wrk.tmp"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$LOGS/wrk.tmp")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$LOGS/wrk.tmp")
  grep -q 'Non-2xx' "$LOGS/wrk.tmp" && die "non-2xx answers from $1: $(cat "$LOGS/wrk.tmp")"
  echo "$rps $p99"
}
declare -A URL=([gate]="$BASE/profile" [nginx]="http://127.0.0.1:$NGINX_PORT/profile" [nginx-auth]="http://127.0.0.1:$NGINX_AUTH_PORT/profile")
declare -A BEST_RPS BEST_P99
for name in gate nginx nginx-auth; do run_wrk "${URL[$name]}" >/dev/null; done # warm-up
for round in $(seq 1 "$ROUNDS"); do
  for name in gate nginx nginx-auth; do
    read -r rps p99 < <(run_wrk "${URL[$name]}")
    log "round $round $name: $rps req/s, p99 $p99 ms"
    if [[ -z ${BEST_RPS[$name]:-} ]] || awk "BEGIN{exit !($rps > ${BEST_RPS[$name]})}"; then
      BEST_RPS[$name]=$rps; BEST_P99[$name]=$p99
    fi
  done
done
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$GATE_PID/status")
{
  echo "| server | requests/s | p99 (ms) | vs plain nginx |"
  echo "| --- | --- | --- | --- |"
  for name in gate nginx nginx-auth; do
    ratio=$(awk "BEGIN{printf \"%.2f\", ${BEST_RPS[$name]} / ${BEST_RPS[nginx]}}")
    echo "| $name | ${BEST_RPS[$name]} | ${BEST_P99[$name]} | ${ratio}x |"
  done
  echo
  echo "gate RSS after the load: $((RSS_KB / 1024)) MiB. Best of $ROUNDS rounds of $DURATION, $CONNECTIONS connections, profile $PROFILE."
} | tee "$RESULTS/proxy.md"
rm -rf "$NGINX_DIR"
