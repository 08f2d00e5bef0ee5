#!/usr/bin/env bash
# Benchmarks `portcullis proxy` side by side in one run. NOT a test: it measures.
#
#   bench/proxy.sh
#
# Every server fronts the same upstream (bench-bare-axum's GET /profile),
# and wrk requests /profile with a valid session cookie where auth applies:
#   gate          portcullis proxy, authenticated, cookie session
#   apache        Apache httpd (event MPM) + mod_auth_openidc, authenticated,
#                 server-cache (shm) session, mod_proxy_http to the upstream
#                 (Debian's apache2 and libapache2-mod-auth-openidc; the
#                 configuration is bench/apache/apache.conf)
#   nginx         nginx proxy_pass, no auth, 1 worker (the ceiling)
#   nginx-auth    nginx auth_request -> the gate's /oauth2/auth, then proxy_pass
# The gate and Apache sign in to the same dev OP (`portcullis idp`, one client
# each) with bench/login.mjs, afresh before every round; each session cookie
# must get a 200 from /profile before and after every round (wrk does not
# count 3xx answers as errors). nginx and nginx-auth are sent the gate's cookie.
# Servers (all of Apache's processes included) are pinned to core 0 and wrk to
# core 1 (taskset), as bench/run.sh; rounds are interleaved, the order
# reversed on alternate rounds.
# Per server: requests/s and p99 latency (from the best round by requests/s),
# the ratios to plain nginx and to Apache, the CPU time per request of the
# proxy's processes and of the upstream (/proc), the Cookie header's size; the
# gate's RSS and Apache's RSS summed over its processes after the load; the
# versions of Apache, mod_auth_openidc, nginx and wrk. Table on stdout and in
# bench/results/proxy.md, logs in bench/results/logs/proxy-*.
#
# Knobs: DURATION (5s), ROUNDS (3), CONNECTIONS (32), PROFILE (release;
# `debug` only to check the script), SKIP_BUILD=1, APACHE_SERVERS (1 child
# process), APACHE_THREADS (threads per child: 64, or CONNECTIONS if more).
# Installs wrk, nginx, apache2 and libapache2-mod-auth-openidc with apt when
# missing. Ports: 9410 (OP), 3210-3214.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export LC_ALL=C
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
PROFILE=${PROFILE:-release}
APACHE_SERVERS=${APACHE_SERVERS:-1}
APACHE_THREADS=${APACHE_THREADS:-$((CONNECTIONS > 64 ? CONNECTIONS : 64))}
OP_PORT=9410 UP_PORT=3210 GATE_PORT=3211 NGINX_PORT=3212 NGINX_AUTH_PORT=3213 APACHE_PORT=3214
RESULTS=$ROOT/bench/results
LOGS=$RESULTS/logs
mkdir -p "$LOGS"
: >"$LOGS/proxy-login.log"
log() { printf '==> bench/proxy: %s\n' "$*" >&2; }
die() { printf 'bench/proxy: ERROR: %s\n' "$*" >&2; exit 1; }

# Debian packages, installed when missing (as scripts/test does for nginx).
MOD_AUTH_OPENIDC=/usr/lib/apache2/modules/mod_auth_openidc.so
missing=()
for tool in wrk nginx apache2; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || missing+=("$tool")
done
[[ -f $MOD_AUTH_OPENIDC ]] || missing+=(libapache2-mod-auth-openidc)
if ((${#missing[@]})); then
  log "installing ${missing[*]} (apt)"
  # Debian starts the packaged apache2/nginx services on install unless
  # policy-rc.d forbids it (containers); this script never uses them.
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
APACHE2=$(command -v apache2 || echo /usr/sbin/apache2)
command -v node >/dev/null || die "node is required (bench/login.mjs)"
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
  SERVER_PIN=(taskset -c 0); LOAD_PIN=(taskset -c 1); PINNING="servers on core 0, wrk on core 1"
else
  SERVER_PIN=(); LOAD_PIN=(); PINNING="not pinned (no taskset or 1 core)"
fi

flag=(); [[ $PROFILE == release ]] && flag=(--release)
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "cargo build ${flag[*]} -p portcullis-cli -p bench-bare-axum"
  cargo build "${flag[@]}" -p portcullis-cli -p bench-bare-axum
fi
BIN=$ROOT/target/$PROFILE

PIDS=()
TMP_DIRS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Apache's directory holds its client secret and crypto passphrase.
  ((${#TMP_DIRS[@]})) && rm -rf "${TMP_DIRS[@]}"
  return 0
}
trap cleanup EXIT
wait_http() {
  for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done
  die "$2 did not answer at $1 (logs in $LOGS)"
}

BASE=http://127.0.0.1:$GATE_PORT
APACHE_BASE=http://127.0.0.1:$APACHE_PORT
SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
APACHE_CLIENT_SECRET=bench-apache-secret-0123456789
"$BIN/portcullis" idp --port "$OP_PORT" --auto-approve alice \
  --client "bench-gate:bench-gate-secret-0123456789:$BASE/oauth2/callback" \
  --client "bench-apache:$APACHE_CLIENT_SECRET:$APACHE_BASE/redirect_uri" >"$LOGS/proxy-op.log" 2>&1 &
PIDS+=($!)
PORT=$UP_PORT "${SERVER_PIN[@]}" "$BIN/bench-bare-axum" >"$LOGS/proxy-upstream.log" 2>&1 &
UP_PID=$!
PIDS+=($UP_PID)
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
TMP_DIRS+=("$NGINX_DIR")
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
NGINX_PID=$!
PIDS+=($NGINX_PID)
wait_http "http://127.0.0.1:$NGINX_PORT/" "nginx"

# Apache from a private configuration (bench/apache/apache.conf): its own
# ServerRoot, PidFile and port in a temporary directory, nothing of
# /etc/apache2. -DFOREGROUND keeps the parent in the foreground (so it is our
# child, stopped by SIGTERM with its children); not -X, which would serve from
# one debug process instead of the event MPM's children.
APACHE_DIR=$(mktemp -d)
TMP_DIRS+=("$APACHE_DIR")
APACHE_PASSPHRASE=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
sed -e "s|@DIR@|$APACHE_DIR|g" -e "s|@ERROR_LOG@|$LOGS/proxy-apache-error.log|g" \
  -e "s|@PORT@|$APACHE_PORT|g" -e "s|@UP_PORT@|$UP_PORT|g" -e "s|@OP_PORT@|$OP_PORT|g" \
  -e "s|@SERVERS@|$APACHE_SERVERS|g" -e "s|@THREADS@|$APACHE_THREADS|g" \
  -e "s|@WORKERS@|$((APACHE_SERVERS * APACHE_THREADS))|g" \
  -e "s|@CLIENT_ID@|bench-apache|g" -e "s|@CLIENT_SECRET@|$APACHE_CLIENT_SECRET|g" \
  -e "s|@PASSPHRASE@|$APACHE_PASSPHRASE|g" -e "s|@MOD_AUTH_OPENIDC@|$MOD_AUTH_OPENIDC|g" \
  bench/apache/apache.conf >"$APACHE_DIR/apache.conf"
chmod 600 "$APACHE_DIR/apache.conf" # read by the parent (root or you) only
"$APACHE2" -t -f "$APACHE_DIR/apache.conf" >"$LOGS/proxy-apache.log" 2>&1 ||
  die "apache2 -t rejected the configuration: $(cat "$LOGS/proxy-apache.log")"
"${SERVER_PIN[@]}" "$APACHE2" -f "$APACHE_DIR/apache.conf" -DFOREGROUND >>"$LOGS/proxy-apache.log" 2>&1 &
APACHE_PID=$!
PIDS+=($APACHE_PID)
wait_http "$APACHE_BASE/" "apache (see also $LOGS/proxy-apache-error.log)"

declare -A URL=([gate]="$BASE/profile" [apache]="$APACHE_BASE/profile"
  [nginx]="http://127.0.0.1:$NGINX_PORT/profile" [nginx-auth]="http://127.0.0.1:$NGINX_AUTH_PORT/profile")
declare -A LOGIN_BASE=([gate]="$BASE" [apache]="$APACHE_BASE")
# Whose session cookie each server is sent: nginx (ignores it) and
# nginx-auth (checks it at the gate) get the gate's, so they receive the same
# request bytes as the gate.
declare -A COOKIE_OF=([gate]=gate [apache]=apache [nginx]=gate [nginx-auth]=gate)
SERVERS=(gate apache nginx nginx-auth)
declare -A COOKIE

check_profile() { # server -> dies unless its cookie gets a 200 from its /profile
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: ${COOKIE[${COOKIE_OF[$1]}]}" \
    -H 'Accept: application/json' "${URL[$1]}")
  [[ $code == 200 ]] || die "$1: GET ${URL[$1]} with the session cookie gave $code, not 200"
}
# A fresh sign-in for the gate and for Apache. Once a minute old, the gate's
# rolling cookie session is answered with its renewal (a Set-Cookie), and
# mod_auth_openidc rewrites its session every 30 s of use (a tenth of its
# 300 s inactivity timeout): wrk never stores a renewed cookie, so each round
# starts with a new session, as a browser would keep it.
sign_in() {
  local s
  for s in gate apache; do
    COOKIE[$s]=$(node bench/login.mjs "${LOGIN_BASE[$s]}" 2>>"$LOGS/proxy-login.log") ||
      die "login to $s failed (see $LOGS/proxy-login.log and $LOGS/proxy-$s*.log)"
  done
}

# CPU time (user + system, clock ticks) of processes and their children:
# where the core's time per request goes (the proxy's own share and the
# upstream's, which is the same work behind every proxy).
# shellcheck source=bench/cpu.sh
source bench/cpu.sh # cpu_ticks
declare -A PROXY_PIDS=([gate]="$GATE_PID" [apache]="$APACHE_PID" [nginx]="$NGINX_PID"
  [nginx-auth]="$NGINX_PID $GATE_PID")
TICK_US=$((1000000 / $(getconf CLK_TCK)))
run_wrk() { # server -> "rps p99_ms proxy_us upstream_us" (CPU µs per request)
  local before_proxy before_up
  before_proxy=$(cpu_ticks ${PROXY_PIDS[$1]})
  before_up=$(cpu_ticks "$UP_PID")
  "${LOAD_PIN[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -H "Cookie: ${COOKIE[${COOKIE_OF[$1]}]}" "${URL[$1]}" >"$LOGS/wrk.tmp"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$LOGS/wrk.tmp")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$LOGS/wrk.tmp")
  grep -q 'Non-2xx' "$LOGS/wrk.tmp" && die "non-2xx answers from ${URL[$1]}: $(cat "$LOGS/wrk.tmp")"
  grep -q 'Socket errors' "$LOGS/wrk.tmp" && log "$1: $(grep 'Socket errors' "$LOGS/wrk.tmp")"
  local requests proxy_ticks up_ticks
  requests=$(awk '/requests in/ {print $1}' "$LOGS/wrk.tmp")
  proxy_ticks=$(($(cpu_ticks ${PROXY_PIDS[$1]}) - before_proxy))
  up_ticks=$(($(cpu_ticks "$UP_PID") - before_up))
  echo "$rps $p99 $(awk -v t="$proxy_ticks" -v u="$TICK_US" -v n="$requests" 'BEGIN {printf "%.1f", t * u / n}') $(awk -v t="$up_ticks" -v u="$TICK_US" -v n="$requests" 'BEGIN {printf "%.1f", t * u / n}')"
}

log "signing in through the gate and through Apache (bench/login.mjs)"
sign_in
declare -A COOKIE_BYTES
for s in "${SERVERS[@]}"; do
  check_profile "$s"
  COOKIE_BYTES[$s]=${#COOKIE[${COOKIE_OF[$s]}]}
done
for s in "${SERVERS[@]}"; do run_wrk "$s" >/dev/null; done # warm-up
declare -A BEST_RPS BEST_P99 BEST_CPU BEST_UP_CPU ALL_RPS
for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then order=("${SERVERS[@]}"); else order=($(printf '%s\n' "${SERVERS[@]}" | tac)); fi
  sign_in
  for s in "${order[@]}"; do
    check_profile "$s"
    read -r rps p99 proxy_us up_us < <(run_wrk "$s")
    cp "$LOGS/wrk.tmp" "$LOGS/proxy-$s.round$round.wrk.txt"
    check_profile "$s" # still signed in (wrk counts a 302 to the OP as a success)
    log "round $round $s: $rps req/s, p99 $p99 ms, CPU per request: proxy $proxy_us µs, upstream $up_us µs"
    ALL_RPS[$s]="${ALL_RPS[$s]:-}$rps "
    if [[ -z ${BEST_RPS[$s]:-} ]] || awk "BEGIN{exit !($rps > ${BEST_RPS[$s]})}"; then
      BEST_RPS[$s]=$rps; BEST_P99[$s]=$p99; BEST_CPU[$s]=$proxy_us; BEST_UP_CPU[$s]=$up_us
    fi
  done
done

# Memory after the load: the gate is one process; Apache is its parent and
# the event MPM's children, summed (VmRSS counts the pages they share, the
# binary, libraries and the shm session cache, once per process; the PSS sum
# splits them and is the fairer total).
GATE_RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$GATE_PID/status")
apache_pids=("$APACHE_PID" $(pgrep -P "$APACHE_PID" || true))
APACHE_RSS_KB=0 APACHE_PSS_KB=0
for pid in "${apache_pids[@]}"; do
  APACHE_RSS_KB=$((APACHE_RSS_KB + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status")))
  APACHE_PSS_KB=$((APACHE_PSS_KB + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)))
done

versions() {
  local mod wrkv
  mod=$(dpkg-query -W -f '${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?')
  wrkv=$(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}' || true)
  printf '%s, libapache2-mod-auth-openidc %s, %s, %s' \
    "$("$APACHE2" -v | awk -F': ' '/Server version/ {print $2}')" "$mod" \
    "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')" "$wrkv"
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
{
  echo "# bench/proxy.sh: GET /profile through a proxy in front of the same upstream"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $PINNING."
  echo "wrk -t1 -c$CONNECTIONS -d$DURATION --latency, best of $ROUNDS interleaved rounds (p99 from that round), profile $PROFILE;"
  echo "Apache event MPM with $APACHE_SERVERS child process(es) x $APACHE_THREADS threads; $(versions)."
  echo
  echo "| server | requests/s | p99 (ms) | vs plain nginx | vs apache | proxy CPU/request | upstream CPU/request | Cookie header |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for s in "${SERVERS[@]}"; do
    echo "| $s | ${BEST_RPS[$s]} | ${BEST_P99[$s]} | $(ratio "${BEST_RPS[$s]}" "${BEST_RPS[nginx]}")x | $(ratio "${BEST_RPS[$s]}" "${BEST_RPS[apache]}")x | ${BEST_CPU[$s]} µs | ${BEST_UP_CPU[$s]} µs | ${COOKIE_BYTES[$s]} B |"
  done
  echo
  echo "CPU per request: user + system time of the proxy's processes (nginx-auth: nginx and the gate) and of the upstream over the round, from /proc, divided by wrk's request count."
  echo
  gate_x=$(ratio "${BEST_RPS[gate]}" "${BEST_RPS[apache]}")
  met=no; awk -v r="$gate_x" -v g="${BEST_P99[gate]}" -v a="${BEST_P99[apache]}" 'BEGIN {exit !(r >= 3 && g < a)}' && met=yes
  echo "gate / apache: ${gate_x}x the requests/s, p99 ${BEST_P99[gate]} ms against ${BEST_P99[apache]} ms (issue 7's goal, >= 3x and a lower p99: $met)."
  echo "RSS after the load: gate $(mib "$GATE_RSS_KB") MiB; apache $(mib "$APACHE_RSS_KB") MiB summed over its ${#apache_pids[@]} processes (PSS sum $(mib "$APACHE_PSS_KB") MiB)."
  echo "All rounds (requests/s): $(for s in "${SERVERS[@]}"; do printf '%s: %s; ' "$s" "${ALL_RPS[$s]% }"; done)"
} | tee "$RESULTS/proxy.md"
