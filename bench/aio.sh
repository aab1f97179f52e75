#!/usr/bin/env bash
# [cache] aio_threads on and off: where the edge opens and reads the files of an object not in memory
# (tokio's blocking pool, or the worker). One edge binary, two configurations on one cache of AIO_OBJECTS
# objects of 10 KiB (one pass of bench/warm.py through the first), both edges running with threads = 1 on
# CPU 0, wrk -t1 -c32 with bench/pick.lua (uniform) on CPU 1, ROUNDS rounds alternating, medians of req/s
# and p99. Two cases: the page cache dropped before every round (as root: each round reads from the disk,
# as a cache larger than the RAM does), and AIO_WARM_OBJECTS objects left in the page cache.
#
#   bench/aio.sh                         # 100,000 and 10,000 objects, 3 rounds of 10 s (about 10 min)
#   BENCH_QUICK=1 bench/aio.sh           # 20,000 and 2,000 objects, rounds of 2 s
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
if [[ $BENCH_QUICK == 1 ]]; then DURATION=${DURATION:-2s}; else DURATION=${DURATION:-10s}; fi
AIO_OBJECTS=${AIO_OBJECTS:-$([[ $BENCH_QUICK == 1 ]] && echo 20000 || echo 100000)}
AIO_WARM_OBJECTS=${AIO_WARM_OBJECTS:-$([[ $BENCH_QUICK == 1 ]] && echo 2000 || echo 10000)}
PIN_WRK=(taskset -c 1)
bench_setup aio "$AIO_OBJECTS" 10240

# start_edge NAME AIO CACHEDIR: an edge with aio_threads = AIO on CACHEDIR; sets CPORT/CPID
start_edge() {
    start_edge_on "$1" "$EDGE_BIN" "$3" "max_size = \"64GiB\"
aio_threads = $2"
}

can_drop=0
[[ $EUID == 0 && -w /proc/sys/vm/drop_caches ]] && can_drop=1
echo "| objects | page cache | aio_threads = true: req/s, p99 | aio_threads = false: req/s, p99 | true / false (req/s) |"
echo "|---|---|---|---|---|"
for case in cold warm; do
    n=$AIO_OBJECTS
    [[ $case == warm ]] && n=$AIO_WARM_OBJECTS
    if [[ $case == cold && $can_drop == 0 ]]; then
        note "not root: the page cache cannot be dropped, the cold case is skipped"
        continue
    fi
    python3 "$ROOT/bench/keys.py" "$n" "$W/paths-$n.txt" "$W/zipf-$n.txt" || exit 1
    cache=$W/cache-$n
    start_edge threads true "$cache"
    "${PIN_WRK[@]}" python3 "$ROOT/bench/warm.py" "${CPORT[threads]}" "$W/paths-$n.txt" 10240 >/dev/null ||
        { echo "warming $n objects failed" >&2; exit 1; }
    start_edge worker false "$cache"
    declare -A RPS=() P99=()
    for r in $(seq "$ROUNDS"); do
        order=(threads worker)
        ((r % 2 == 0)) && order=(worker threads)
        for e in "${order[@]}"; do
            [[ $case == cold ]] && { sync; echo 3 >/proc/sys/vm/drop_caches; }
            before=$(origin_count)
            read -r rps p99 _ err < <(wrk_round "${CPID[$e]}" "http://127.0.0.1:${CPORT[$e]}/" \
                -s "$ROOT/bench/pick.lua" -- "$W/paths-$n.txt")
            after=$(origin_count)
            [[ $before != "$after" || $err != 0 ]] &&
                note "$e, $n objects, round $r: $((after - before)) requests reached the origin, $err errors"
            RPS[$e]+="$rps " P99[$e]+="$p99 "
        done
    done
    t=$(med "${RPS[threads]}") f=$(med "${RPS[worker]}")
    label="dropped before every round"
    [[ $case == warm ]] && label="every file in it"
    echo "| $n | $label | $(human "$t"), $(med "${P99[threads]}") ms | $(human "$f"), $(med "${P99[worker]}") ms | $(ratio "$t" "$f") |"
    stop_contender threads
    stop_contender worker
    rm -rf "$cache"
done
echo
echo "one worker (threads = 1) on CPU 0, wrk -t1 -c$CONNS on CPU 1, bench/pick.lua uniform over every object,"
echo "$ROUNDS rounds of $DURATION alternating, medians; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
