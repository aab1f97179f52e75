#!/usr/bin/env bash
# Cache hits: fdfs-edge against every caching proxy an operator could put in front of the storages, each
# configured as a tuned caching reverse proxy (bench/contenders/, one comment per tuning choice):
#   nginx-seed     nginx proxy_cache as the seed deployment has it (bench/edge.sh's baseline)
#   nginx-tuned    nginx proxy_cache + sendfile, open_file_cache, proxy_cache_lock
#   varnish        Varnish (Debian), malloc storage of MEM_MIB
#   varnish-file   Varnish, file storage of DISK_MIB
#   trafficserver  Apache Traffic Server (Debian), RAM cache of MEM_MIB in front of its disk cache
#   pingap         Pingap from crates.io (built into build/pingap), file cache + TinyUFO of MEM_MIB
# all in front of the same origin (bench/origin.py), all warm. For each number of workers (1: servers
# pinned to CPU 0 with taskset, wrk to CPU 1; 2: unpinned) and each case (objects of 1 KiB to 16 MiB, HEAD
# of the 1 MiB object (with ab: wrk cannot do HEAD), a 1 MiB Range of the 16 MiB object), ROUNDS rounds in which the contenders take turns
# (so a change of load on a shared machine hits all of them); each figure is the median of the rounds:
# requests/s, p99 latency, and requests per CPU-second of the proxy's processes (utime+stime of every
# process of the proxy from /proc/<pid>/stat, before and after the round: comparable on a noisy machine).
# Printed as tables of each contender's ratio to fdfs-edge. The origin's request count is read around
# every round: a round that reached the origin was not all cache hits and is marked "!".
#
#   bench/contenders.sh                                   # full: 3 rounds of 10 s, 1 and 2 workers
#   BENCH_QUICK=1 bench/contenders.sh                     # smoke: 3 rounds of 2 s
#   CONTENDERS="nginx-tuned varnish" CASES="10k 1m" WORKERS_LIST=1 ROUNDS=5 DURATION=5s bench/contenders.sh
#   CONNS=32 (1 worker) / 64 (2 workers), WRK_THREADS=1, MEM_MIB=64, DISK_MIB=2048, BENCH_PINGAP=0 (skip it)
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2034 # CONNS and PIN_WRK are read by lib.sh's wrk_round

if [[ $BENCH_QUICK == 1 ]]; then
    DURATION=${DURATION:-2s}
else
    DURATION=${DURATION:-10s}
fi
ROUNDS=${ROUNDS:-3}
WORKERS_LIST=${WORKERS_LIST:-1 2}
CASES=${CASES:-1k 10k 100k 1m 16m head range}
CONTENDERS=${CONTENDERS:-nginx-seed nginx-tuned varnish varnish-file trafficserver pingap}
RANGE=${RANGE:-bytes=8388608-9437183}
read -ra ALL <<<"edge $CONTENDERS"
CONNS_SET=${CONNS:-} # fixed by the caller, or 32 for 1 worker and 64 for 2

bench_setup contenders 0 0

case_label() {
    case $1 in
    1k) echo "1 KiB" ;; 10k) echo "10 KiB" ;; 100k) echo "100 KiB" ;; 1m) echo "1 MiB" ;; 16m) echo "16 MiB" ;;
    head) echo "HEAD 1 MiB" ;; range) echo "Range 1 MiB of 16 MiB" ;;
    esac
}
# case_args CASE -> "PATH|wrk args|curl args|expected status"
case_args() {
    local p=/group1/M00/00/00
    case $1 in
    head) echo "$p/obj1m|HEAD|-I|200" ;;
    range) echo "$p/obj16m|-H Range:$RANGE|-H Range:$RANGE|206" ;;
    *) echo "$p/obj$1|||200" ;;
    esac
}

# warm NAME CASE: the object into the contender's cache (and memory tier), then one checked request
warm() {
    local name=$1 path wargs cargs want st _
    IFS='|' read -r path wargs cargs want <<<"$(case_args "$2")"
    local url="http://127.0.0.1:${CPORT[$name]}$path"
    # the whole object first (a HEAD or a Range alone need not fill a cache), then the case's own requests
    curl -s -o /dev/null "$url"
    # shellcheck disable=SC2086 # cargs is a list of words
    for _ in 1 2 3 4; do curl -s -o /dev/null $cargs "$url"; done
    # shellcheck disable=SC2086
    st=$(curl -s -o /dev/null -w '%{http_code}' $cargs "$url")
    [[ $st == "$want" ]] || { note "$name: $2 answers $st, not $want"; return 1; }
}

declare -A RPS P99 EFF MARK
run_workers() {
    local workers=$1 pin=() name c r path wargs cargs want before after rps p99 eff err
    PIN_WRK=()
    CONNS=${CONNS_SET:-$((workers == 1 ? 32 : 64))}
    if [[ $workers == 1 ]] && command -v taskset >/dev/null; then
        pin=(taskset -c 0)
        PIN_WRK=(taskset -c 1)
    fi
    for name in "${ALL[@]}"; do
        start_contender "$name" "$workers" "$W/w$workers" "${pin[@]}" || note "$name skipped: ${CSKIP[$name]}"
    done
    for c in $CASES; do
        for name in "${ALL[@]}"; do
            [[ -n ${CPID[$name]:-} ]] && { warm "$name" "$c" || MARK[$workers,$c,$name]="!"; }
        done
        IFS='|' read -r path wargs cargs want <<<"$(case_args "$c")"
        for r in $(seq "$ROUNDS"); do
            for name in "${ALL[@]}"; do
                [[ -n ${CPID[$name]:-} ]] || continue
                before=$(origin_count)
                # shellcheck disable=SC2086 # wargs is a list of words
                read -r rps p99 eff err < <(wrk_round "${CPID[$name]}" "http://127.0.0.1:${CPORT[$name]}$path" $wargs)
                after=$(origin_count)
                if [[ $before != "$after" || $err != 0 ]]; then
                    MARK[$workers,$c,$name]="!"
                    note "$name, $workers worker(s), $c, round $r: $((after - before)) requests reached the origin, $err errors"
                fi
                RPS[$workers,$c,$name]+="$rps "
                P99[$workers,$c,$name]+="$p99 "
                EFF[$workers,$c,$name]+="$eff "
            done
            echo "  $workers worker(s), $(case_label "$c"), round $r/$ROUNDS done" >&2
        done
    done
    for name in "${ALL[@]}"; do stop_contender "$name"; done
}


# one table per number of workers: fdfs-edge's figures, then each contender's ratios to them
print_table() {
    local workers=$1 c name e_rps e_p99 e_eff rps p99 eff line best best_eff best_p99 who
    echo
    echo "### $workers worker(s): wrk -t${WRK_THREADS:-1} -c${CONNS_SET:-$((workers == 1 ? 32 : 64))}, $ROUNDS rounds of $DURATION, medians$([[ $workers == 1 ]] && echo ", servers on CPU 0, wrk on CPU 1")"
    echo
    line="| |"
    for c in $CASES; do line+=" $(case_label "$c") |"; done
    echo "$line"
    echo "|---|$(for c in $CASES; do printf -- '---|'; done)"
    line="| fdfs-edge: req/s, p99, req/CPU-s |"
    for c in $CASES; do
        e_rps=$(med "${RPS[$workers,$c,edge]:-}") e_p99=$(med "${P99[$workers,$c,edge]:-}") e_eff=$(med "${EFF[$workers,$c,edge]:-}")
        line+=" $(human "$e_rps"), $(printf '%.1f' "$e_p99") ms, $(human "$e_eff")${MARK[$workers,$c,edge]:-} |"
    done
    echo "$line"
    for name in $CONTENDERS; do
        if [[ -z ${RPS[$workers,${CASES%% *},$name]:-} ]]; then
            echo "| $name | skipped: ${CSKIP[$name]:-not run} |"
            continue
        fi
        line="| $name |"
        for c in $CASES; do
            rps=$(med "${RPS[$workers,$c,$name]}") p99=$(med "${P99[$workers,$c,$name]}") eff=$(med "${EFF[$workers,$c,$name]}")
            e_rps=$(med "${RPS[$workers,$c,edge]:-}") e_p99=$(med "${P99[$workers,$c,edge]:-}") e_eff=$(med "${EFF[$workers,$c,edge]:-}")
            line+=" $(ratio "$rps" "$e_rps"), $(ratio "$p99" "$e_p99"), $(ratio "$eff" "$e_eff")${MARK[$workers,$c,$name]:-} |"
        done
        echo "$line"
    done
    # the issue's targets: >= 1.2x the best contender in req/s and in req/CPU-s, p99 no worse than its
    line="| target: edge / best contender |"
    for c in $CASES; do
        best=0 best_eff=0 best_p99=0 who=-
        for name in $CONTENDERS; do
            [[ -n ${RPS[$workers,$c,$name]:-} ]] || continue
            rps=$(med "${RPS[$workers,$c,$name]}") eff=$(med "${EFF[$workers,$c,$name]}") p99=$(med "${P99[$workers,$c,$name]}")
            if awk -v a="$rps" -v b="$best" 'BEGIN {exit !(a > b)}'; then best=$rps best_p99=$p99 who=$name; fi
            awk -v a="$eff" -v b="$best_eff" 'BEGIN {exit !(a > b)}' && best_eff=$eff
        done
        e_rps=$(med "${RPS[$workers,$c,edge]:-}") e_p99=$(med "${P99[$workers,$c,edge]:-}") e_eff=$(med "${EFF[$workers,$c,edge]:-}")
        line+=" $(ratio "$e_rps" "$best") ($who), $(ratio "$e_p99" "$best_p99"), $(ratio "$e_eff" "$best_eff") $(awk -v r="$(ratio "$e_rps" "$best")" -v e="$(ratio "$e_eff" "$best_eff")" -v p="$(ratio "$e_p99" "$best_p99")" 'BEGIN {print (r >= 1.2 && e >= 1.2 && p <= 1) ? "met" : "not met"}') |"
    done
    echo "$line"
}

for workers in $WORKERS_LIST; do
    echo "==> $workers worker(s): ${ALL[*]}" >&2
    run_workers "$workers"
done

echo "## Contenders: cache hits, ratio to fdfs-edge (contender / edge)"
echo
echo "Each contender's cell: req/s ratio, p99 ratio, req/CPU-s ratio (above 1 = more requests, a longer p99,"
echo "more requests per CPU-second than fdfs-edge). The target row: fdfs-edge / the contender with the most"
echo "req/s (named), p99 ratio, req/CPU-s ratio against the most efficient contender; the issue asks >= 1.2,"
echo "<= 1 and >= 1.2. \"!\" = a round that was not all cache hits (the origin saw requests) or had errors."
for workers in $WORKERS_LIST; do print_table "$workers"; done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
