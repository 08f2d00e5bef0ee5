#!/usr/bin/env bash
# Bearer-token benchmark: requests/s of GET /profile behind Portcullis'
# BearerLayer (RS256 JWT access token from the dev OP), with and without the
# verified-token cache, side by side with bare axum in the same run.
# A benchmark, not a test: nothing asserts on a number.
#
#   bench/bearer.sh
#   DURATION=10s ROUNDS=5 CONNECTIONS=64 bench/bearer.sh
#
# Servers (pinned to core 0, wrk to core 1 when taskset exists):
#   bare-axum        bench/apps/bare-axum (no auth; sent the same Authorization header, ignored)
#   bearer-cached    bench/apps/bearer (BearerLayer, token cache on: the default)
#   bearer-nocache   bench/apps/bearer with TOKEN_CACHE=off (an RS256 verification per request)
# Output: a table on stdout and in bench/results/bearer.md; logs in bench/results/logs/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
RESULTS=$ROOT/bench/results
LOGS=$RESULTS/logs
mkdir -p "$LOGS"

log() { echo "bearer.sh: $*" >&2; }
die() { log "$*"; exit 1; }

if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk (apt)"
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
SERVER_PIN=()
LOAD_PIN=()
if command -v taskset >/dev/null 2>&1 && [[ $(nproc) -ge 2 ]]; then
  SERVER_PIN=(taskset -c 0)
  LOAD_PIN=(taskset -c 1)
fi

log "cargo build --release -p bench-bare-axum -p bench-bearer"
cargo build --release -p bench-bare-axum -p bench-bearer

declare -A PORT=([bare-axum]=3101 [bearer-cached]=3105 [bearer-nocache]=3106)
ORDER=(bare-axum bearer-cached bearer-nocache)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "${PORT[@]}"; do port_free "$p" || die "port $p is in use"; done

wait_token() { # file -> the token once printed
  local i
  for i in $(seq 1 200); do
    if grep -q '^TOKEN ' "$1" 2>/dev/null; then sed -n 's/^TOKEN //p' "$1" | head -1; return 0; fi
    sleep 0.1
  done
  die "no token in $1"
}

PORT=${PORT[bare-axum]} "${SERVER_PIN[@]}" "$ROOT/target/release/bench-bare-axum" >"$LOGS/bare-axum.log" 2>&1 &
PIDS+=($!)
PORT=${PORT[bearer-cached]} "${SERVER_PIN[@]}" "$ROOT/target/release/bench-bearer" >"$LOGS/bearer-cached.out" 2>"$LOGS/bearer-cached.log" &
PIDS+=($!)
PORT=${PORT[bearer-nocache]} TOKEN_CACHE=off "${SERVER_PIN[@]}" "$ROOT/target/release/bench-bearer" >"$LOGS/bearer-nocache.out" 2>"$LOGS/bearer-nocache.log" &
PIDS+=($!)
TOKEN=$(wait_token "$LOGS/bearer-cached.out")
TOKEN_NOCACHE=$(wait_token "$LOGS/bearer-nocache.out")
declare -A AUTH=([bare-axum]="Bearer $TOKEN" [bearer-cached]="Bearer $TOKEN" [bearer-nocache]="Bearer $TOKEN_NOCACHE")

for s in "${ORDER[@]}"; do
  url="http://127.0.0.1:${PORT[$s]}/profile"
  for i in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "$url" && break; sleep 0.1; done
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: ${AUTH[$s]}" "$url")
  [[ $code == 200 ]] || die "$s answered $code with the token"
  "${LOAD_PIN[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -H "Authorization: ${AUTH[$s]}" "$url" >/dev/null
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A RPS_ALL
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then order=("${ORDER[@]}"); else order=($(printf '%s\n' "${ORDER[@]}" | tac)); fi
  for s in "${order[@]}"; do
    url="http://127.0.0.1:${PORT[$s]}/profile"
    out=$("${LOAD_PIN[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: ${AUTH[$s]}" "$url")
    echo "$out" >"$LOGS/$s.round$round.wrk"
    grep -q 'Non-2xx' <<<"$out" && die "$s answered non-2xx under load (see $LOGS/$s.round$round.wrk)"
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    log "$s round $round: $rps req/s"
    RPS_ALL[$s]="${RPS_ALL[$s]:-} $rps"
  done
done

base=$(median <<<"${RPS_ALL[bare-axum]}")
{
  echo "| server | requests/s (median of $ROUNDS) | × bare axum |"
  echo "| --- | ---: | ---: |"
  for s in "${ORDER[@]}"; do
    m=$(median <<<"${RPS_ALL[$s]}")
    printf '| %s | %.0f | %.2f |\n' "$s" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN {print a / b}')"
  done
  echo
  echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS interleaved rounds, RS256 at+jwt of ${#TOKEN} bytes."
} | tee "$RESULTS/bearer.md"
