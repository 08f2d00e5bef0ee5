#!/usr/bin/env bash
# Reproduces the README's benchmark figures. NOT a test: it measures.
#
#   bench/run.sh
#
# Side by side in one run, `GET /profile` with a valid session cookie on:
#   basic      cargo example `basic` (Portcullis, encrypted cookie session)
#   basic-redis  the same binary with SESSION_STORE=redis://127.0.0.1:6379
#              (server-side sessions in the machine's Redis, replica-local cache)
#   bare-axum  the same handler in bare axum, no authentication (the ceiling)
#   express    express-openid-connect 3.x (npm), requiresAuth() + res.json(req.oidc.user)
#   axum-oidc  axum-oidc 0.6 (crates.io) with tower-sessions' MemoryStore
#   actix      cargo example `actix_basic` (portcullis-actix, the same engine
#              and cookie session in actix-web)
#   bare-actix the same handler in bare actix-web (the ceiling for `actix`)
# All apps sign in against one OP (`portcullis idp --auto-approve alice`), with
# bench/login.mjs. Servers are pinned to core 0 and wrk to core 1 (taskset).
# Per server: requests/s, p99 latency, server CPU time per request
# (/proc/<pid>/stat utime+stime delta / requests), the ratio to bare axum
# (for `actix`: to bare actix-web), and
# the size of the Cookie header. Table: bench/results/latest.md and stdout.
#
# Knobs (environment): DURATION (5s per round), ROUNDS (3), WARMUP (3s), CONNECTIONS (32),
# THREADS (1), SERVERS (basic,bare-axum,express,axum-oidc),
# BENCH_OP=portcullis|oidc-provider (oidc-provider = interop/op.mjs, for
# developing the bench without the portcullis CLI), SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export LC_ALL=C

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
SERVERS=${SERVERS:-basic,basic-redis,bare-axum,express,axum-oidc,actix,bare-actix}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
BENCH_OP=${BENCH_OP:-portcullis}
OP_PORT=${OP_PORT:-9400}
declare -A PORT=([basic]=3100 [bare-axum]=3101 [express]=3102 [axum-oidc]=3103 [basic-redis]=3104 [actix]=3105 [bare-actix]=3106)
declare -A LABEL=(
  [basic]="portcullis (example basic)"
  [basic-redis]="portcullis, Redis sessions"
  [bare-axum]="bare axum (no auth, ceiling)"
  [express]="express-openid-connect"
  [axum-oidc]="axum-oidc"
  [actix]="portcullis-actix (example actix_basic)"
  [bare-actix]="bare actix-web (no auth, ceiling)"
)
# The ceiling each server is compared with.
declare -A BASELINE=([actix]=bare-actix [bare-actix]=bare-actix)
CLIENT_SECRET=bench-client-secret-0123456789abcdef
SESSION_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
RESULTS=$ROOT/bench/results
LOGS=$RESULTS/logs
mkdir -p "$LOGS"

log() { printf '==> bench: %s\n' "$*" >&2; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }
want() { [[ ",$SERVERS," == *",$1,"* ]]; }

# ---- tools ----------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt)"
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && apt-get install -y -qq wrk
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
fi
command -v node >/dev/null || die "node is required (bench/login.mjs, express peer)"
command -v curl >/dev/null || die "curl is required"
NCPU=$(nproc)
if command -v taskset >/dev/null && (( NCPU >= 2 )); then
  SERVER_PIN=(taskset -c 0)
  LOAD_PIN=(taskset -c 1)
  PINNING="servers on core 0, wrk on core 1 (taskset)"
else
  SERVER_PIN=()
  LOAD_PIN=()
  PINNING="no pinning (taskset missing or fewer than 2 cores)"
fi

# ---- build ----------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  if [[ $BENCH_OP == portcullis ]]; then
    log "cargo build --release -p portcullis-cli"
    cargo build --release -p portcullis-cli
  fi
  if want basic || want basic-redis; then
    log "cargo build --release -p portcullis --example basic"
    cargo build --release -p portcullis --example basic
  fi
  if want bare-axum; then
    log "cargo build --release -p bench-bare-axum"
    cargo build --release -p bench-bare-axum
  fi
  if want actix; then
    log "cargo build --release -p portcullis-actix --example actix_basic"
    cargo build --release -p portcullis-actix --example actix_basic
  fi
  if want bare-actix; then
    log "cargo build --release -p bench-bare-actix"
    cargo build --release -p bench-bare-actix
  fi
  if want axum-oidc; then
    log "cargo build --release (bench/axum-oidc, its own workspace)"
    (cd bench/axum-oidc && cargo build --release --locked)
  fi
  if want express; then
    stamp=bench/express/node_modules/.package-lock.json
    if [[ ! -f $stamp || bench/express/package-lock.json -nt $stamp ]]; then
      log "npm ci in bench/express"
      (cd bench/express && npm ci --no-audit --no-fund)
    fi
  fi
fi

# ---- processes (we only ever kill the pids we started) ----------------------
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_http() { # url, what
  local i
  for i in $(seq 1 100); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "$2 did not answer at $1 (see $LOGS)"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for p in "$OP_PORT" "${PORT[@]}"; do
  port_free "$p" || die "port $p is in use; stop what listens there first"
done

# ---- the OP -----------------------------------------------------------------
redirect_uri() { # server -> redirect URI its middleware uses
  case $1 in
    axum-oidc) echo "http://127.0.0.1:${PORT[$1]}/profile" ;; # axum-oidc redirects to the protected URL itself
    *) echo "http://127.0.0.1:${PORT[$1]}/callback" ;;
  esac
}
APPS=()
for s in basic basic-redis express axum-oidc actix; do want "$s" && APPS+=("$s"); done

if [[ $BENCH_OP == portcullis ]]; then
  PORTCULLIS=$ROOT/target/release/portcullis
  [[ -x $PORTCULLIS ]] || die "$PORTCULLIS is missing (cargo build --release -p portcullis-cli)"
  args=(idp --port "$OP_PORT" --auto-approve alice)
  for s in "${APPS[@]}"; do args+=(--client "bench-$s:$CLIENT_SECRET:$(redirect_uri "$s")"); done
  log "starting the dev OP: portcullis ${args[*]}"
  "${LOAD_PIN[@]}" "$PORTCULLIS" "${args[@]}" >"$LOGS/op.log" 2>&1 &
  PIDS+=($!)
elif [[ $BENCH_OP == oidc-provider ]]; then
  clients=$(for s in "${APPS[@]}"; do
    printf '{"client_id":"bench-%s","client_secret":"%s","redirect_uris":["%s"]}\n' "$s" "$CLIENT_SECRET" "$(redirect_uri "$s")"
  done | paste -sd, -)
  log "starting interop/op.mjs (oidc-provider) on port $OP_PORT"
  [[ -d interop/node_modules ]] || (cd interop && npm ci --no-audit --no-fund)
  "${LOAD_PIN[@]}" node interop/op.mjs --port "$OP_PORT" --keep-alive --clients "[$clients]" >"$LOGS/op.log" 2>&1 &
  PIDS+=($!)
else
  die "BENCH_OP must be portcullis or oidc-provider"
fi
wait_http "http://127.0.0.1:$OP_PORT/.well-known/openid-configuration" "the OP"
ISSUER=$(curl -s "http://127.0.0.1:$OP_PORT/.well-known/openid-configuration" \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).issuer))')
log "OP issuer: $ISSUER"

# ---- the servers (pinned to core 0) ------------------------------------------
declare -A SPID
start_server() { # name
  local s=$1 port=${PORT[$1]}
  local -a envs=(ISSUER_BASE_URL="$ISSUER" CLIENT_ID="bench-$s" CLIENT_SECRET="$CLIENT_SECRET"
    BASE_URL="http://127.0.0.1:$port" SECRET="$SESSION_SECRET" PORT="$port" RUST_LOG=warn)
  case $s in
    basic) env "${envs[@]}" "${SERVER_PIN[@]}" "$ROOT/target/release/examples/basic" >"$LOGS/$s.log" 2>&1 & ;;
    basic-redis) env "${envs[@]}" SESSION_STORE="$REDIS_URL" "${SERVER_PIN[@]}" "$ROOT/target/release/examples/basic" >"$LOGS/$s.log" 2>&1 & ;;
    bare-axum) env PORT="$port" "${SERVER_PIN[@]}" "$ROOT/target/release/bench-bare-axum" >"$LOGS/$s.log" 2>&1 & ;;
    actix) env "${envs[@]}" "${SERVER_PIN[@]}" "$ROOT/target/release/examples/actix_basic" >"$LOGS/$s.log" 2>&1 & ;;
    bare-actix) env PORT="$port" "${SERVER_PIN[@]}" "$ROOT/target/release/bench-bare-actix" >"$LOGS/$s.log" 2>&1 & ;;
    express) (cd bench/express && exec env "${envs[@]}" NODE_ENV=production "${SERVER_PIN[@]}" node server.mjs) >"$LOGS/$s.log" 2>&1 & ;;
    axum-oidc) env "${envs[@]}" "${SERVER_PIN[@]}" "$ROOT/bench/axum-oidc/target/release/bench-axum-oidc" >"$LOGS/$s.log" 2>&1 & ;;
  esac
  SPID[$s]=$!
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/" "$s"
}

ORDER=()
for s in bare-axum basic basic-redis express axum-oidc bare-actix actix; do want "$s" && ORDER+=("$s"); done
for s in "${ORDER[@]}"; do
  log "starting $s on port ${PORT[$s]}"
  start_server "$s"
done

# shellcheck source=bench/cpu.sh
source bench/cpu.sh # cpu_ticks
CLK_TCK=$(getconf CLK_TCK)

to_ms() { # "1.23ms" | "456.00us" | "1.02s" -> milliseconds
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "nan" }'
}

check_profile() { # url cookie -> dies unless 200 JSON
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $2" -H 'Accept: application/json' "$1")
  [[ $code == 200 ]] || die "GET $1 with the session cookie gave $code, not 200"
}

declare -A RPS P99 CPU_US COOKIE_BYTES REQS NOTE COOKIE RPS_ALL P99_ALL TICKS
# The ceiling gets the very same request bytes as Portcullis (its session
# cookie included), so the ratio measures the work Portcullis does, not the
# cost of receiving a bigger request. It ignores the cookie.
BASIC_COOKIE=""
if want basic; then
  log "basic: signing in (bench/login.mjs)"
  BASIC_COOKIE=$(node bench/login.mjs "http://127.0.0.1:${PORT[basic]}") || die "login to basic failed (see $LOGS/basic.log)"
fi
ACTIX_COOKIE=""
if want actix; then
  log "actix: signing in (bench/login.mjs)"
  ACTIX_COOKIE=$(node bench/login.mjs "http://127.0.0.1:${PORT[actix]}") || die "login to actix failed (see $LOGS/actix.log)"
fi
# A ceiling is sent the cookie of the server it is the ceiling for.
ceiling_cookie() { # ceiling -> cookie
  case $1 in
    bare-actix) printf '%s' "${ACTIX_COOKIE:-$BASIC_COOKIE}" ;;
    *) printf '%s' "$BASIC_COOKIE" ;;
  esac
}
is_ceiling() { [[ $1 == bare-axum || $1 == bare-actix ]]; }
for s in "${ORDER[@]}"; do
  url="http://127.0.0.1:${PORT[$s]}/profile"
  if [[ $s == basic ]]; then
    COOKIE[$s]=$BASIC_COOKIE
    COOKIE_BYTES[$s]=${#BASIC_COOKIE}
  elif [[ $s == actix ]]; then
    COOKIE[$s]=$ACTIX_COOKIE
    COOKIE_BYTES[$s]=${#ACTIX_COOKIE}
  elif ! is_ceiling "$s"; then
    log "$s: signing in (bench/login.mjs)"
    COOKIE[$s]=$(node bench/login.mjs "http://127.0.0.1:${PORT[$s]}") || die "login to $s failed (see $LOGS/$s.log)"
    COOKIE_BYTES[$s]=${#COOKIE[$s]}
  else
    COOKIE[$s]=$(ceiling_cookie "$s")
    COOKIE_BYTES[$s]="- (sent Portcullis' cookie, ignored)"
  fi
  check_profile "$url" "${COOKIE[$s]}"
  log "$s: warm-up ($WARMUP)"
  hdr=()
  [[ -n ${COOKIE[$s]} ]] && hdr=(-H "Cookie: ${COOKIE[$s]}")
  "${LOAD_PIN[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${hdr[@]}" "$url" >/dev/null
  REQS[$s]=0
  TICKS[$s]=0
  RPS_ALL[$s]=""
  P99_ALL[$s]=""
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Interleaved rounds: every server is measured once per round, the order
# reversed on alternate rounds, so drift on this shared machine hits all alike.
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then order=("${ORDER[@]}"); else order=($(printf '%s\n' "${ORDER[@]}" | tac)); fi
  for s in "${order[@]}"; do
    url="http://127.0.0.1:${PORT[$s]}/profile"
    # A fresh sign-in each round: wrk never stores a renewed cookie, so an old
    # one would be answered with the rolling renewal (a Set-Cookie) on every
    # request, which no browser sees.
    if ! is_ceiling "$s" && [[ $round -gt 1 ]]; then
      COOKIE[$s]=$(node bench/login.mjs "http://127.0.0.1:${PORT[$s]}" 2>/dev/null) || die "login to $s failed"
    fi
    hdr=()
    [[ -n ${COOKIE[$s]} ]] && hdr=(-H "Cookie: ${COOKIE[$s]}")
    log "$s: round $round/$ROUNDS: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $url"
    before=$(cpu_ticks "${SPID[$s]}")
    out=$("${LOAD_PIN[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${hdr[@]}" "$url")
    after=$(cpu_ticks "${SPID[$s]}")
    printf '%s\n' "$out" >"$LOGS/$s.round$round.wrk.txt"
    check_profile "$url" "${COOKIE[$s]}" # still signed in (wrk does not count 3xx as errors)
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    REQS[$s]=$((REQS[$s] + reqs))
    TICKS[$s]=$((TICKS[$s] + after - before))
    RPS_ALL[$s]+="$rps "
    P99_ALL[$s]+="$p99 "
    errs=$(awk '/Non-2xx or 3xx responses:/ {print $NF} /Socket errors:/ {print "socket errors:" $0}' <<<"$out" | paste -sd' ' -)
    [[ -n $errs ]] && NOTE[$s]="${NOTE[$s]:-}$errs "
    log "$s: $rps req/s, p99 $p99 ms"
  done
done
for s in "${ORDER[@]}"; do
  RPS[$s]=$(median <<<"${RPS_ALL[$s]}")
  P99[$s]=$(median <<<"${P99_ALL[$s]}")
  CPU_US[$s]=$(awk -v d="${TICKS[$s]}" -v hz="$CLK_TCK" -v n="${REQS[$s]}" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
  log "$s: median ${RPS[$s]} req/s over rounds (${RPS_ALL[$s]}), ${CPU_US[$s]} µs CPU/request"
done

# ---- report -------------------------------------------------------------------
versions() {
  local eoc axo
  eoc=$(node -p 'require("./bench/express/node_modules/express-openid-connect/package.json").version' 2>/dev/null || echo '?')
  axo=$(awk '/^name = "axum-oidc"/ {getline; gsub(/"/, "", $3); print $3}' bench/axum-oidc/Cargo.lock 2>/dev/null || echo '?')
  printf 'express-openid-connect %s (Node %s), axum-oidc %s' "$eoc" "$(node -v)" "$axo"
}
report() {
  local base=${RPS[bare-axum]:-}
  echo "# Benchmark: GET /profile with a valid session"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $PINNING."
  echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS interleaved rounds per server (median requests/s and p99; CPU summed over all rounds), after a $WARMUP warm-up; OP: $BENCH_OP ($ISSUER); $(versions)."
  echo
  echo "| server | requests/s | × bare axum | p99 latency | server CPU per request | Cookie header |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  local s ratio cookie b against
  for s in "${ORDER[@]}"; do
    b=$base against=""
    if [[ -n ${BASELINE[$s]:-} ]]; then b=${RPS[${BASELINE[$s]}]:-}; against=" (× bare actix-web)"; fi
    if [[ -n $b ]]; then ratio=$(awk -v a="${RPS[$s]}" -v b="$b" 'BEGIN { r = a / b; printf (r < 0.1 ? "%.3f×" : "%.2f×"), r }')$against; else ratio="n/a"; fi
    if [[ ${COOKIE_BYTES[$s]} == -* ]]; then cookie="${COOKIE_BYTES[$s]#- }"; else cookie="${COOKIE_BYTES[$s]} B"; fi
    printf '| %s | %s | %s | %s ms | %s µs | %s |%s\n' "${LABEL[$s]}" \
      "$(printf '%.0f' "${RPS[$s]}")" "$ratio" "${P99[$s]}" "${CPU_US[$s]}" "$cookie" \
      "${NOTE[$s]:+ ⚠ ${NOTE[$s]}}"
  done
  echo
  echo "Reproduce: \`bench/run.sh\` (see bench/README.md). Raw wrk output: bench/results/logs/."
}
report | tee "$RESULTS/latest.md"
