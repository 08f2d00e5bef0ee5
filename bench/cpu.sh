# Sourced by bench/run.sh and bench/proxy.sh. NOT a test: it measures.
#
# cpu_ticks PID...: the user + system CPU time, in clock ticks
# (getconf CLK_TCK), of the processes and their direct children (Apache's
# and nginx's workers), from /proc/<pid>/stat. A process that is gone counts 0.
cpu_ticks() {
  local pid total=0 stat
  for pid in "$@" $(for p in "$@"; do pgrep -P "$p" || true; done); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) } # the fields after "pid (comm) " (comm may hold spaces): utime, stime are the 12th, 13th
    total=$((total + $(awk '{print $12 + $13}' <<<"$stat")))
  done
  echo "$total"
}
