# shellcheck shell=bash
# Shared by the bench scripts (bench/contenders.sh, bench/scale.sh and others): the packages, the origin (bench/origin.py), the
# contenders (their configurations are the files in bench/contenders/, filled in here), CPU and memory of
# a proxy's processes from /proc, wrk rounds and medians. Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
# EDGE_BIN given: that binary as it is (an older build, for an A/B); else the workspace's, rebuilt when stale
EDGE_BIN_GIVEN=${EDGE_BIN:+1}
EDGE_BIN=${EDGE_BIN:-$TARGET/release/fdfs-edge}
NGINX=${NGINX:-/usr/sbin/nginx}
BENCH_QUICK=${BENCH_QUICK:-0}
# every cache gets the same RAM budget (the edge's memory_size, ATS's RAM cache, Varnish's malloc, Pingap's
# TinyUFO) and a disk cache of DISK
MEM_MIB=${MEM_MIB:-64}
DISK_MIB=${DISK_MIB:-2048}
PINGAP_VERSION=${PINGAP_VERSION:-0.13.1} # the newest that builds with rustc 1.95 (0.15+ needs 1.96)
PINGAP_DIR=${PINGAP_DIR:-$ROOT/build/pingap}
PINGAP_BIN=$PINGAP_DIR/bin/pingap
PINGAP_BUILD_TIMEOUT=${PINGAP_BUILD_TIMEOUT:-2700}
CLK_TCK=$(getconf CLK_TCK)
# nginx-tuned's descriptors: the hard limit, and an open_file_cache that leaves room for connections
NOFILE=$(ulimit -Hn)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
OPEN_FILES=$((NOFILE > 8192 ? NOFILE - 4096 : NOFILE / 2))
((OPEN_FILES > 100000)) && OPEN_FILES=100000
CONF=$ROOT/bench/contenders
declare -A CPORT CPID CDIR CSKIP CADMIN

note() { echo "note: $*" >&2; }

# Debian packages the contenders need (and a part's own, given as arguments), installed like `make deps`
# does (the bench is not part of CI). The packages' own services must not run: the bench starts its own
# instances on loopback ports.
ensure_packages() {
    install_missing wrk apache2-utils curl python3 nginx varnish trafficserver "$@"
}

# install_missing PACKAGE...: those not installed yet, as ensure_packages does.
install_missing() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "==> apt-get install ${missing[*]}" >&2
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }; then
            note "apt-get install failed: what needs ${missing[*]} is skipped"
        fi
        stop_package_services
    fi
}

stop_package_services() {
    local s
    for s in varnish varnishncsa trafficserver; do
        service "$s" status >/dev/null 2>&1 && { note "stopping the $s service the package started"; service "$s" stop >/dev/null 2>&1; }
    done
    return 0
}

ensure_edge() {
    if [[ -n $EDGE_BIN_GIVEN ]]; then
        [[ -x $EDGE_BIN ]] || { echo "EDGE_BIN=$EDGE_BIN is not an executable" >&2; return 1; }
        return 0
    fi
    echo "==> building fdfs-edge (release, nice -n 19; nothing to do when it is up to date)" >&2
    (cd "$ROOT" && nice -n 19 cargo build --release -q -p edge-proxy --bin fdfs-edge)
}

# Pingap from crates.io into build/pingap (never fails the bench: prints why it is skipped). BENCH_PINGAP=0
# skips it; in quick mode it is only used when already built.
ensure_pingap() {
    [[ -x $PINGAP_BIN ]] && return 0
    if [[ ${BENCH_PINGAP:-1} == 0 ]]; then
        CSKIP[pingap]="BENCH_PINGAP=0"
        return 1
    fi
    if [[ $BENCH_QUICK == 1 ]]; then
        CSKIP[pingap]="not built (quick mode does not build it; a full run builds it into build/pingap)"
        return 1
    fi
    # etcd-client, a dependency of Pingap, compiles .proto files at build time
    if ! command -v protoc >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler >&2 ||
            { CSKIP[pingap]="no protoc (Debian protobuf-compiler) to build it"; return 1; }
    fi
    echo "==> building pingap $PINGAP_VERSION from crates.io into $PINGAP_DIR (nice -n 19, at most ${PINGAP_BUILD_TIMEOUT}s)" >&2
    mkdir -p "$PINGAP_DIR"
    if ! timeout "$PINGAP_BUILD_TIMEOUT" nice -n 19 cargo install -q --root "$PINGAP_DIR" \
        --target-dir "$PINGAP_DIR/target" "pingap@$PINGAP_VERSION" --locked >"$PINGAP_DIR/build.log" 2>&1; then
        CSKIP[pingap]="build failed or timed out (see $PINGAP_DIR/build.log)"
        return 1
    fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_origin WORKDIR GEN_COUNT GEN_SIZE: sets ORIGIN (port) and ORIGIN_PID
start_origin() {
    ORIGIN=$(free_port)
    python3 "$ROOT/bench/origin.py" "$ORIGIN" "$2" "$3" >"$1/origin.log" 2>&1 &
    ORIGIN_PID=$! # stopped by the caller's cleanup
    export ORIGIN_PID
    local _
    for _ in $(seq 100); do
        curl -fs -o /dev/null "http://127.0.0.1:$ORIGIN/__count" && return 0
        sleep 0.1
    done
    echo "origin did not start" >&2
    cat "$1/origin.log" >&2
    return 1
}
origin_count() { curl -fs "http://127.0.0.1:$ORIGIN/__count"; }

# edge_toml DIR PORT ADMIN THREADS EXTRA: DIR/edge.toml for the parts that configure an edge of their own
# (gateway, images): one storage (the origin), no health checks, the cache in DIR/cache of MEM_MIB; EXTRA
# is appended in [cache] (more cache keys, then any other table)
edge_toml() {
    mkdir -p "$1/cache"
    cat >"$1/edge.toml" <<TOML
[server]
listen = ["127.0.0.1:$2"]
threads = $4
pid_file = "$1/pid"
upgrade_sock = "$1/sock"
[admin]
listen = "127.0.0.1:$3"
[[group]]
name = "group1"
storages = ["127.0.0.1:$ORIGIN"]
[health]
enabled = false
[cache]
dir = "$1/cache"
memory_size = "${MEM_MIB}MiB"
$5
TOML
}

# render TEMPLATE DEST NAME WORKERS: a configuration from bench/contenders/ with its placeholders filled in
render() {
    local user=""
    [[ $EUID == 0 ]] && user="user root;" # nginx workers must reach the temp dirs (mode 0700)
    sed -e "s|@DIR@|${CDIR[$3]}|g" -e "s|@PORT@|${CPORT[$3]}|g" -e "s|@ORIGIN@|$ORIGIN|g" \
        -e "s|@WORKERS@|$4|g" -e "s|@USER@|$user|g" -e "s|@MEM@|${MEM_MIB}MiB|g" -e "s|@MEM_MIB@|$MEM_MIB|g" \
        -e "s|@MEM_BYTES@|$((MEM_MIB << 20))|g" -e "s|@MEM_PAGES@|$((MEM_MIB * 256))|g" \
        -e "s|@DISK@|${DISK_MIB}m|g" -e "s|@DISK_MIB@|$DISK_MIB|g" -e "s|@ADMIN@|${CADMIN[$3]:-0}|g" \
        -e "s|@NOFILE@|$NOFILE|g" -e "s|@OPEN_FILES@|$OPEN_FILES|g" \
        "$1" >"$2"
}

# start_contender NAME WORKERS BASEDIR [PIN...]: starts one contender with its configuration in BASEDIR/NAME
# (kept if it exists: a restart finds its cache), under the PIN command (taskset) when given. Sets
# CPORT/CPID/CDIR; on a contender that cannot run here, sets CSKIP[NAME] and returns 1.
start_contender() {
    local name=$1 workers=$2 dir=$3/$1
    shift 3
    local pin=("$@")
    [[ -n ${CSKIP[$name]:-} ]] && return 1
    mkdir -p "$dir"
    CDIR[$name]=$dir
    CPORT[$name]=$(free_port)
    case $name in
    nginx-seed | nginx-tuned)
        mkdir -p "$dir/tmp" "$dir/cache"
        render "$CONF/$name.conf" "$dir/nginx.conf" "$name" "$workers"
        "${pin[@]}" "$NGINX" -p "$dir" -c "$dir/nginx.conf" >"$dir/stderr.log" 2>&1 &
        ;;
    varnish | varnish-file)
        command -v varnishd >/dev/null || { CSKIP[$name]="varnishd not installed"; return 1; }
        local storage="malloc,${MEM_MIB}m"
        [[ $name == varnish-file ]] && storage="file,$dir/storage.bin,${DISK_MIB}m"
        render "$CONF/varnish.vcl" "$dir/varnish.vcl" "$name" "$workers"
        "${pin[@]}" varnishd -F -j none -n "$dir/n" -a "127.0.0.1:${CPORT[$name]}" -T none \
            -f "$dir/varnish.vcl" -s "$storage" -p thread_pools="$workers" -p thread_pool_min=64 \
            -p workspace_backend=128k >"$dir/stderr.log" 2>&1 &
        ;;
    trafficserver)
        command -v traffic_server >/dev/null || { CSKIP[$name]="traffic_server not installed"; return 1; }
        start_trafficserver "$dir" "$workers" "${pin[@]}"
        ;;
    pingap)
        ensure_pingap || return 1
        render "$CONF/pingap.toml" "$dir/pingap.toml" "$name" "$workers"
        "${pin[@]}" "$PINGAP_BIN" -c "$dir/pingap.toml" >"$dir/stderr.log" 2>&1 &
        ;;
    edge)
        CADMIN[$name]=$(free_port)
        render "$CONF/edge.toml" "$dir/edge.toml" "$name" "$workers"
        RUST_LOG=warn "${pin[@]}" "$EDGE_BIN" -c "$dir/edge.toml" >"$dir/stderr.log" 2>&1 &
        ;;
    *)
        echo "unknown contender $name" >&2
        return 1
        ;;
    esac
    CPID[$name]=$!
    wait_up "$name"
}

# ATS with a runroot of its own: Debian's configuration files copied, ours (bench/contenders/trafficserver/)
# over them, every directory in the bench's.
start_trafficserver() {
    local dir=$1 workers=$2 f
    shift 2
    mkdir -p "$dir/etc" "$dir/run" "$dir/log" "$dir/cache"
    [[ -f $dir/etc/records.config.orig ]] || cp -r /etc/trafficserver/. "$dir/etc/"
    for f in records.config remap.config storage.config cache-status.conf; do
        render "$CONF/trafficserver/$f" "$dir/etc/$f" trafficserver "$workers"
    done
    touch "$dir/etc/records.config.orig"
    cat >"$dir/runroot.yaml" <<EOF
prefix: $dir
exec_prefix: /usr
bindir: /usr/bin
sbindir: /usr/bin
sysconfdir: $dir/etc
datadir: $dir
includedir: /usr/include
libdir: /usr/lib/trafficserver
libexecdir: /usr/lib/trafficserver/modules
localstatedir: $dir
runtimedir: $dir/run
logdir: $dir/log
cachedir: $dir/cache
EOF
    TS_RUNROOT=$dir/runroot.yaml "$@" traffic_server >"$dir/stderr.log" 2>&1 &
}

wait_up() {
    local name=$1 url="http://127.0.0.1:${CPORT[$1]}/group1/M00/00/00/obj1k" _
    for _ in $(seq 300); do
        curl -fs -o /dev/null "$url" && return 0
        kill -0 "${CPID[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    CSKIP[$name]="did not come up (last lines of ${CDIR[$name]}/stderr.log: $(tail -3 "${CDIR[$name]}/stderr.log" 2>/dev/null | tr '\n' ' '))"
    stop_contender "$name"
    return 1
}

# start_edge_on NAME BINARY CACHEDIR CACHE_LINES: an edge (threads = 1, on CPU 0) with its cache in CACHEDIR
# and CACHE_LINES added to its [cache]; returns once its index is loaded; sets CPORT[NAME], CPID[NAME]
start_edge_on() {
    CPORT[$1]=$(free_port)
    mkdir -p "$W/$1"
    edge_toml "$W/$1" "${CPORT[$1]}" "$(free_port)" 1 "$4"
    sed -i "s|^dir = .*|dir = \"$3\"|" "$W/$1/edge.toml"
    taskset -c 0 "$2" -c "$W/$1/edge.toml" >"$W/$1/stderr.log" 2>&1 &
    CPID[$1]=$!
    local _
    for _ in $(seq 600); do
        grep -q "index loaded" "$W/$1/stderr.log" && return 0
        sleep 0.1
    done
    echo "edge $2 ($1) did not load its index:" >&2
    tail -5 "$W/$1/stderr.log" >&2
    exit 1
}

# stop_contender NAME: SIGTERM to the contender's process tree, then wait for it
stop_contender() {
    local pid=${CPID[$1]:-} p _
    [[ -n $pid ]] || return 0
    for p in $(ptree "$pid"); do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "CPID[$1]"
}

ptree() { # pid -> the pid and all its descendants
    local c
    echo "$1"
    for c in $(pgrep -P "$1" || true); do ptree "$c"; done
}

# cpu_ticks PID: utime+stime of the process tree (every thread included), in clock ticks
cpu_ticks() {
    local p t=0 v
    for p in $(ptree "$1"); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
        [[ -n $v ]] && t=$((t + v))
    done
    echo "$t"
}

# rss_mib PID [FIELD FILE]: VmRSS (or FIELD of /proc/PID/FILE) summed over the process tree, in MiB
rss_mib() {
    local p kb=0 v field=${2:-VmRSS} file=${3:-status}
    for p in $(ptree "$1"); do
        v=$(awk -v f="$field:" '$1==f {print $2}' "/proc/$p/$file" 2>/dev/null || true)
        [[ -n $v ]] && kb=$((kb + v))
    done
    awk -v kb="$kb" 'BEGIN {printf "%.1f", kb / 1024}'
}

# wrk_round PID URL WRK-ARGS...: one wrk run (WRK-ARGS after the URL: options, or "-s SCRIPT -- SCRIPT-ARGS") against a contender whose root process is PID. Prints
# "req/s p99_ms req_per_cpu_s errors": errors counts non-2xx answers and socket errors. The timeout is wrk's
# 2 s raised to 30 s: 32 connections on 16 MiB objects wait longer than 2 s on a loaded machine.
wrk_round() {
    local pid=$1 url=$2 out t0 t1
    shift 2
    if [[ ${1:-} == HEAD ]]; then
        ab_round "$pid" "$url"
        return
    fi
    t0=$(cpu_ticks "$pid")
    out=$("${PIN_WRK[@]}" wrk -t"${WRK_THREADS:-1}" -c"$CONNS" -d"$DURATION" --timeout 30s --latency "$url" "$@" 2>&1)
    t1=$(cpu_ticks "$pid")
    wrk_summary $((t1 - t0)) %.0f <<<"$out" | cut -d' ' -f1-4
}

# wrk_summary TICKS EFF_FORMAT: wrk's output on stdin -> "req/s p99_ms req_per_cpu_s errors requests", the
# CPU figure from TICKS of the server's processes during the round, printed with EFF_FORMAT
wrk_summary() {
    awk -v ticks="$1" -v hz="$CLK_TCK" -v fmt="%s %.3f $2 %d %d\n" '
        /requests in/ {n = $1}
        /^Requests\/sec/ {rps = $2}
        $1 == "99%" {p99 = $2}
        /Non-2xx/ {err += $NF}
        /Socket errors/ {gsub(/,/, ""); err += $4 + $6 + $8 + $10}
        END {
            ms = p99 + 0
            if (p99 ~ /us$/) ms /= 1000; else if (p99 ~ /[0-9]s$/ && p99 !~ /ms$/) ms *= 1000
            else if (p99 ~ /m$/) ms *= 60000
            eff = (ticks > 0) ? n / (ticks / hz) : 0
            printf fmt, rps + 0, ms, eff, err + 0, n + 0
        }'
}

# ab_round PID URL: the same as wrk_round for HEAD, with ab (apache2-utils): wrk waits for a body after a
# HEAD answer's Content-Length and never completes one. ab is single-threaded like wrk -t1, keep-alive (-k);
# -n bounds its table of timings (about 40 bytes a request), -t the time.
ab_round() {
    local pid=$1 url=$2 out t0 t1 secs
    secs=$(awk -v d="$DURATION" 'BEGIN {v = int(d + 0); if (d ~ /m$/) v *= 60; if (v < 1) v = 1; print v}')
    t0=$(cpu_ticks "$pid")
    out=$("${PIN_WRK[@]}" ab -q -k -i -c "$CONNS" -t "$secs" -n $((secs * 200000)) "$url" 2>&1)
    t1=$(cpu_ticks "$pid")
    awk -v ticks=$((t1 - t0)) -v hz="$CLK_TCK" '
        /^Complete requests:/ {n = $3}
        /^Requests per second:/ {rps = $4}
        $1 == "99%" {p99 = $2}
        /^Failed requests:/ {err += $3}
        /^Non-2xx responses:/ {err += $3}
        END {
            eff = (ticks > 0) ? n / (ticks / hz) : 0
            printf "%s %.3f %.0f %d\n", rps + 0, p99 + 0, eff, err + 0
        }' <<<"$out"
}

median() { # numbers on stdin, one a line -> their median
    sort -g | awk '{a[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
med() { tr ' ' '\n' <<<"${1:-}" | grep . | median; } # "1 3 2 " (a round's figures appended) -> 2

human() { # 47612.3 -> 47.6k
    awk -v v="$1" 'BEGIN {if (v >= 100000) printf "%.0fk", v / 1000; else if (v >= 10000) printf "%.1fk", v / 1000; else printf "%.0f", v}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }

# The start of a bench part: packages, the edge binary, a work directory $W removed at exit with every
# contender and the origin, and the origin started with OBJECTS objects of SIZE bytes.
bench_setup() { # NAME OBJECTS SIZE
    ensure_packages
    ensure_edge || { echo "no fdfs-edge binary" >&2; exit 1; }
    W=$(mktemp -d "/tmp/fdfs-bench-$1.XXXXXX")
    trap bench_cleanup EXIT
    start_origin "$W" "$2" "$3" || exit 1
}

bench_cleanup() {
    local n
    for n in "${!CPID[@]}"; do stop_contender "$n"; done
    [[ -n ${ORIGIN_PID:-} ]] && kill "$ORIGIN_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$W"
}
