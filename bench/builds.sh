#!/usr/bin/env bash
# Edge builds side by side: cache hits of several fdfs-edge binaries on one cache, to measure a change
# as a ratio in the same run. BUILDS_OBJECTS objects of 10 KiB (one pass of bench/warm.py through the
# first binary), every binary then running on that cache (its own port, threads = 1, CPU 0), wrk -t1
# -c32 with bench/pick.lua on CPU 1, uniformly and along a Zipf-1 sequence, ROUNDS rounds in which
# the binaries take turns, medians of req/s and p99, each binary's req/s as a ratio to the first's.
# Every file stays in the page cache (the machine's RAM holds 100,000 objects many times over).
#
#   EDGE_BINS="/tmp/edge-before target/release/fdfs-edge" bench/builds.sh    # 3 rounds of 10 s
#   BENCH_QUICK=1 EDGE_BINS="..." bench/builds.sh                             # 20,000 objects, 2 s
#   BUILDS_SEPARATE=1 EDGE_BINS="..." bench/builds.sh   # a cache of its own for each binary, each
#                                                       # warmed through it (builds whose layouts differ)
# Not a part of `make bench`: it compares builds of the edge, not the edge with its contenders.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
if [[ $BENCH_QUICK == 1 ]]; then DURATION=${DURATION:-2s}; else DURATION=${DURATION:-10s}; fi
SEPARATE=${BUILDS_SEPARATE:-0}
BUILDS_OBJECTS=${BUILDS_OBJECTS:-$([[ $BENCH_QUICK == 1 ]] && echo 20000 || echo 100000)}
read -r -a BINS <<<"${EDGE_BINS:-}"
((${#BINS[@]} >= 2)) || { echo "EDGE_BINS: two edge binaries or more, the first the reference" >&2; exit 2; }
for b in "${BINS[@]}"; do [[ -x $b ]] || { echo "$b: not an executable" >&2; exit 2; }; done
PIN_WRK=(taskset -c 1)
bench_setup builds "$BUILDS_OBJECTS" 10240
n=$BUILDS_OBJECTS
python3 "$ROOT/bench/keys.py" "$n" "$W/paths.txt" "$W/zipf.txt" || exit 1
cache=$W/cache

# start_edge I: binary I on the shared cache (or its own); sets CPORT[I], CPID[I]
start_edge() {
    local dir=$cache
    [[ $SEPARATE == 1 ]] && dir=$cache-$1
    start_edge_on "$1" "${BINS[$1]}" "$dir" 'max_size = "64GiB"'
}
warm() {
    "${PIN_WRK[@]}" python3 "$ROOT/bench/warm.py" "${CPORT[$1]}" "$W/paths.txt" 10240 >/dev/null ||
        { echo "warming $n objects through ${BINS[$1]} failed" >&2; exit 1; }
}

start_edge 0
warm 0
if [[ $SEPARATE != 1 ]]; then
    # started again, as the others start: on a cache it did not fill (the binary that filled it got
    # a few per cent more hits than the same build after it, stop 25)
    stop_contender 0
    start_edge 0
fi
for i in $(seq 1 $((${#BINS[@]} - 1))); do
    start_edge "$i"
    [[ $SEPARATE == 1 ]] && warm "$i"
done

echo "| build | uniform: req/s, p99 | ratio to the first | Zipf-1: req/s, p99 | ratio to the first |"
echo "|---|---|---|---|---|"
declare -A RPS=() P99=()
for r in $(seq "$ROUNDS"); do
    for access in uniform zipf; do
        seq_file=()
        [[ $access == zipf ]] && seq_file=("$W/zipf.txt")
        # a different binary first in each round: none always meets the load the previous one left
        for k in $(seq 0 $((${#BINS[@]} - 1))); do
            i=$(((k + r) % ${#BINS[@]}))
            before=$(origin_count)
            read -r rps p99 _ err < <(wrk_round "${CPID[$i]}" "http://127.0.0.1:${CPORT[$i]}/" \
                -s "$ROOT/bench/pick.lua" -- "$W/paths.txt" "${seq_file[@]}")
            after=$(origin_count)
            [[ $before != "$after" || $err != 0 ]] &&
                note "${BINS[$i]}, $access, round $r: $((after - before)) requests reached the origin, $err errors"
            RPS[$i,$access]+="$rps " P99[$i,$access]+="$p99 "
        done
    done
done
for i in $(seq 0 $((${#BINS[@]} - 1))); do
    row="| \`${BINS[$i]}\`"
    for access in uniform zipf; do
        v=$(med "${RPS[$i,$access]}")
        row+=" | $(human "$v"), $(med "${P99[$i,$access]}") ms | $(ratio "$v" "$(med "${RPS[0,$access]}")")"
    done
    echo "$row |"
done
for i in $(seq 0 $((${#BINS[@]} - 1))); do stop_contender "$i"; done
echo
echo "$n objects of 10 KiB in the page cache, one worker (threads = 1) each on CPU 0, wrk -t1 -c$CONNS on"
echo "CPU 1, bench/pick.lua, $ROUNDS rounds of $DURATION, builds alternating, medians; load average at the end:"
echo "$(cut -d' ' -f1-3 /proc/loadavg)"
