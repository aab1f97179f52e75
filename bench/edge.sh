#!/usr/bin/env bash
# Cache-hit throughput and p99 latency: fdfs-edge vs Debian nginx proxy_cache (configured like the
# seed tracker config), same number of workers, objects of 10 KiB and 1 MiB. Prints req/s, p99 and
# the edge/nginx ratios.
#
#   bench/edge.sh                       # builds target/release/fdfs-edge if needed
#   EDGE_BIN=/path/fdfs-edge WORKERS=2 DURATION=15s CONNS=64 bench/edge.sh
#
# Needs: wrk, nginx (+ libnginx-mod-http-cache-purge is not required), python3, curl.
# Numbers on a shared 2-core machine are noisy: run it several times; with WORKERS=1 the script
# pins the servers to CPU 0 and wrk to CPU 1 when taskset is available.
set -euo pipefail

WORKERS=${WORKERS:-1}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
EDGE_BIN=${EDGE_BIN:-$TARGET/release/fdfs-edge}
NGINX=${NGINX:-/usr/sbin/nginx}

for t in wrk python3 curl "$NGINX"; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done
if [[ ! -x "$EDGE_BIN" ]]; then
    echo "building fdfs-edge (release)..." >&2
    (cd "$ROOT" && cargo build --release -p edge-proxy --bin fdfs-edge)
fi

W=$(mktemp -d /tmp/fdfs-edge-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    kill "$(cat "$W/nginx/nginx.pid" 2>/dev/null)" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ORIGIN=$(port); NGX=$(port); EDGE=$(port); ADMIN=$(port)

# origin: the storage's HTTP server stand-in
mkdir -p "$W/www/group1/M00/00/00"
head -c 10240 /dev/urandom >"$W/www/group1/M00/00/00/obj10k"
head -c 1048576 /dev/urandom >"$W/www/group1/M00/00/00/obj1m"
(cd "$W/www" && exec python3 -m http.server "$ORIGIN" --bind 127.0.0.1 >/dev/null 2>&1) &
PIDS+=($!)

# nginx proxy_cache, as on the tracker nodes
mkdir -p "$W/nginx/logs" "$W/nginx/tmp" "$W/nginx/cache"
NGX_USER=""
[[ $EUID == 0 ]] && NGX_USER="user root;"   # workers must reach the temp dir (mode 0700)
cat >"$W/nginx/nginx.conf" <<NGX
$NGX_USER
worker_processes $WORKERS;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $W/nginx/tmp/body;
    proxy_temp_path $W/nginx/tmp/proxy;
    fastcgi_temp_path $W/nginx/tmp/fcgi;
    uwsgi_temp_path $W/nginx/tmp/uwsgi;
    scgi_temp_path $W/nginx/tmp/scgi;
    proxy_cache_path $W/nginx/cache levels=1:2 keys_zone=edge:200m max_size=1g inactive=30d;
    upstream storage {
        server 127.0.0.1:$ORIGIN weight=1 max_fails=3 fail_timeout=30s;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$NGX;
        client_max_body_size 300m;
        location / {
            proxy_cache edge;
            proxy_cache_key \$uri\$is_args\$args;
            proxy_cache_valid 200 304 12h;
            proxy_next_upstream http_502 http_504 error timeout invalid_header;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_connect_timeout 90s;
            proxy_read_timeout 90s;
            proxy_pass http://storage;
            expires 30d;
            add_header X-Cache-Status \$upstream_cache_status;
        }
    }
}
NGX
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" &
PIDS+=($!)

cat >"$W/edge.toml" <<TOML
[server]
listen = ["127.0.0.1:$EDGE"]
threads = $WORKERS
pid_file = "$W/edge.pid"
upgrade_sock = "$W/edge.sock"

[admin]
listen = "127.0.0.1:$ADMIN"

[[group]]
name = "group1"
storages = ["127.0.0.1:$ORIGIN"]

[cache]
dir = "$W/edge-cache"
max_size = "1GiB"
valid = "12h"
inactive = "30d"

[response]
expires = "30d"
TOML
RUST_LOG=warn "$EDGE_BIN" -c "$W/edge.toml" 2>"$W/edge.log" &
PIDS+=($!)
EDGE_PID=$!

up=0
for _ in $(seq 100); do
    if curl -fs -o /dev/null "http://127.0.0.1:$EDGE/group1/M00/00/00/obj10k" \
        && curl -fs -o /dev/null "http://127.0.0.1:$NGX/group1/M00/00/00/obj10k"; then
        up=1
        break
    fi
    sleep 0.1
done
if [[ $up != 1 ]]; then
    echo "edge or nginx did not come up" >&2
    cat "$W/edge.log" "$W/nginx/logs/error.log" >&2 || true
    exit 1
fi

PIN_SRV=() PIN_WRK=()
if [[ $WORKERS == 1 ]] && command -v taskset >/dev/null; then
    taskset -a -p 0x1 "$EDGE_PID" >/dev/null
    for p in $(pgrep -f "nginx: worker process" || true); do
        [[ -r /proc/$p/cmdline ]] && grep -q "$W" "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/cmdline" 2>/dev/null \
            && taskset -p 0x1 "$p" >/dev/null
    done
    PIN_WRK=(taskset -c 1)
fi

run() { # url -> "req/s p99"
    local out rps p99
    out=$("${PIN_WRK[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$1")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    echo "$rps $p99"
}

printf '%-8s %-7s %12s %10s\n' object server req/s p99
for obj in obj10k obj1m; do
    for s in edge nginx; do
        [[ $s == edge ]] && p=$EDGE || p=$NGX
        url="http://127.0.0.1:$p/group1/M00/00/00/$obj"
        for _ in 1 2; do curl -fs -o /dev/null "$url"; done
        st=$(curl -fsI "$url" | awk -F': ' 'tolower($1)=="x-cache-status" {print $2}' | tr -d '\r')
        [[ $st == HIT ]] || { echo "$s: $obj is not a cache hit ($st)" >&2; exit 1; }
        read -r rps p99 < <(run "$url")
        printf '%-8s %-7s %12s %10s\n' "$obj" "$s" "$rps" "$p99"
        eval "R_${s}_${obj}=$rps"
    done
    e=R_edge_$obj n=R_nginx_$obj
    python3 -c "print('%-8s edge/nginx req/s ratio: %.2f' % ('$obj', ${!e}/${!n}))"
done
