#!/usr/bin/env bash
# The cost of one /readyz check (what keepalived's `fdfs-edge check` asks every few seconds) while
# N idle client connections are open on the proxy: the check's time seen by the client and the
# edge's CPU per check (utime + stime from /proc). Not part of `make bench`: run it against two
# builds to compare them (EDGE_BIN).
#
#   bash bench/readyz.sh                               # N=4000 connections, 300 checks
#   N=100 CHECKS=500 EDGE_BIN=/tmp/fdfs-edge bash bench/readyz.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=${N:-4000}
CHECKS=${CHECKS:-300}
ulimit -n "$NOFILE"
ensure_edge
W=$(mktemp -d /tmp/fdfs-bench-readyz.XXXXXX)
trap bench_cleanup EXIT
start_origin "$W" 0 0
# the bench's edge.toml with room for the idle connections (the default is 4096)
mkdir -p "$W/conf"
sed "s/^threads = @WORKERS@$/&\nmax_connections = $((N + 100))/" "$CONF/edge.toml" >"$W/conf/edge.toml"
CONF=$W/conf
start_contender edge 1 "$W" || { echo "edge: ${CSKIP[edge]}" >&2; exit 1; }

python3 - "$N" "$CHECKS" "${CPORT[edge]}" "${CADMIN[edge]}" "${CPID[edge]}" "$CLK_TCK" "$EDGE_BIN" <<'PY'
import socket, statistics, sys, time, urllib.error, urllib.request

n, checks, port, admin, pid, tck = (int(a) for a in sys.argv[1:7])
binary = sys.argv[7]
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
time.sleep(1)


def cpu_seconds():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck


def readyz():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz") as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


times, statuses = [], set()
before = cpu_seconds()
for _ in range(checks):
    t = time.perf_counter()
    statuses.add(readyz())
    times.append((time.perf_counter() - t) * 1000)
cpu_ms = (cpu_seconds() - before) * 1000 / checks
times.sort()
print(f"{binary}: {n} idle connections, {checks} /readyz: median {statistics.median(times):.2f} ms, "
      f"p90 {times[int(len(times) * 0.9)]:.2f} ms, edge CPU {cpu_ms:.2f} ms a check "
      f"(statuses {sorted(statuses)})")
PY
