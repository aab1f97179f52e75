#!/usr/bin/env bash
# Benchmark of the nginx module (ngx-fastdfs-rs) against nginx's own machinery, one worker, wrk:
#   - a 10 KiB file, a 1 MiB file: module vs stock static serving (`root`) of the same bytes;
#   - a 10 KiB trunk file (module; the static figure of the 10 KiB file is the reference);
#   - two ranges of the 10 KiB file in one request (multipart/byteranges), module vs static;
#   - the proxy path (file not local, module proxies to its source) vs a plain `proxy_pass`.
# Each case runs ROUNDS rounds (3), the module and its baseline alternating, so that a change of
# load on a shared machine hits both; the medians and their ratio are printed. With two CPUs or
# more, nginx runs on CPU 0 and wrk on CPU 1 (issue 14's one-worker setup).
# Needs: /usr/sbin/nginx, wrk, python3 (to write the file ids), the module (`make module`, or
# NGX_FASTDFS_MODULE=<.so>); for the instruction counts, valgrind and ab (apache2-utils).
# Tunables: DURATION (5s), CONNECTIONS (20), ROUNDS (3), INSTR_REQUESTS (2000; 0 skips the counts).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh" # med, ratio
SO=${NGX_FASTDFS_MODULE:-$ROOT/build/modules/ngx_http_fastdfs_module.so}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-20}
ROUNDS=${ROUNDS:-3}
# two ranges of a 10 KiB file: a multipart/byteranges answer
RANGES="bytes=0-99,5000-5099"
SERVER_CPU=(); CLIENT_CPU=()
if [ "$(nproc)" -ge 2 ]; then SERVER_CPU=(taskset -c 0); CLIENT_CPU=(taskset -c 1); fi
[ -f "$SO" ] || { echo "module not found: $SO (make module)"; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed"; exit 1; }

W=$(mktemp -d /tmp/fdfs-bench.XXXXXX)
NGINX_PID=""
cleanup() {
    if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT

PORT=${PORT:-$(( 40000 + RANDOM % 10000 ))}
mkdir -p "$W"/{conf,logs,tmp,store/data/00/00,static,peer/data/00/00}

# Files and their ids: source 127.0.0.1 (local), and one whose source is the peer 127.0.0.2.
python3 - "$W" <<'EOF'
import base64, os, struct, sys, time
w = sys.argv[1]
ts = int(time.time()) - 60
def b64(b):
    return base64.b64encode(b, altchars=b"-_").decode().rstrip("=")
def name(ip, size, ext, crc, trunk=None):
    flags = (1 << 59) if trunk else 0
    raw = bytes(map(int, ip.split("."))) + struct.pack(">iQI", ts, flags | size, crc)
    n = "M00/00/00/" + b64(raw)
    if trunk:
        n += b64(struct.pack(">III", *trunk))
    return n + "123." + ext if ext else n
def put(root, logic, data):
    p = os.path.join(w, root, "data", logic[4:])
    open(p, "wb").write(data)
    s = os.path.join(w, "static", "group1", logic)
    os.makedirs(os.path.dirname(s), exist_ok=True)
    open(s, "wb").write(data)
small = os.urandom(10240); big = os.urandom(1 << 20)
ids = {}
ids["small"] = name("127.0.0.1", len(small), "jpg", 1); put("store", ids["small"], small)
ids["big"] = name("127.0.0.1", len(big), "bin", 2); put("store", ids["big"], big)
ids["proxy"] = name("127.0.0.2", len(small), "jpg", 3); put("peer", ids["proxy"], small)
# Trunk: slot at offset 0 of container 000001: 24-byte header then the data.
alloc = 10240 + 24
t = name("127.0.0.1", len(small), "txt", 4, trunk=(1, 0, alloc))
hdr = b"F" + struct.pack(">IIII", alloc, len(small), 4, ts) + t[-7:].encode()
open(os.path.join(w, "store/data/00/00/000001"), "wb").write(hdr + small)
ids["trunk"] = t
for k, v in ids.items():
    open(os.path.join(w, k + ".id"), "w").write("/group1/" + v)
EOF

chmod -R a+rX "$W"
for n in store peer; do
    ip=127.0.0.1; alias=lo; [ $n = peer ] && { ip=127.0.0.2; alias=none; }
    cat > "$W/conf/$n.conf" <<EOF
base_path=$W/$n
group_name=group1
url_have_group_name=true
store_path0=$W/$n
response_mode=proxy
if_alias_prefix=$alias
storage_sync_file_max_delay=86400
storage_peers=127.0.0.1:$PORT, 127.0.0.2:$PORT
http.mime_types_filename=/etc/nginx/mime.types
http.default_content_type=application/octet-stream
EOF
done

cat > "$W/conf/nginx.conf" <<EOF
load_module $SO;
worker_processes 1;
daemon off;
pid $W/logs/nginx.pid;
error_log $W/logs/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    open_file_cache max=1000 inactive=60s;
    client_body_temp_path $W/tmp/body; proxy_temp_path $W/tmp/proxy; fastcgi_temp_path $W/tmp/f;
    uwsgi_temp_path $W/tmp/u; scgi_temp_path $W/tmp/s;
    upstream peer { server 127.0.0.2:$PORT; keepalive 32; }
    server {
        listen 127.0.0.1:$PORT;
        location /group1/M00/ { fastdfs_config $W/conf/store.conf; ngx_fastdfs_module; }
        location /static/ { alias $W/static/; }
        location /plain/ { proxy_pass http://127.0.0.2:$PORT/; }
    }
    server {
        listen 127.0.0.2:$PORT;
        location /group1/M00/ { fastdfs_config $W/conf/peer.conf; ngx_fastdfs_module; }
    }
}
EOF

"${SERVER_CPU[@]}" /usr/sbin/nginx -p "$W" -c "$W/conf/nginx.conf" -e "$W/logs/error.log" &
NGINX_PID=$!
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT$(cat "$W/small.id")" && break
    sleep 0.1
done

WORKER_PID=$(pgrep -P "$NGINX_PID" | head -1)
# CPU time (utime + stime, clock ticks) of the one worker.
worker_ticks() { awk '{print $14 + $15}' "/proc/$WORKER_PID/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# "<requests/s> <worker CPU us per request>" of GET `url` (with the extra curl/wrk header `hdr`, if
# any) after checking its status. The CPU per request compares on a noisy machine when req/s do not.
rps() {
    local url=$1 want=$2 hdr=${3:-} code t0 t1 out
    local -a h=()
    [ -n "$hdr" ] && h=(-H "$hdr")
    code=$(curl -s -o /dev/null -w '%{http_code}' "${h[@]}" "$url")
    [ "$code" = "$want" ] || { echo "GET $url ${hdr:+($hdr) }-> $code, not $want" >&2; cat "$W/logs/error.log" >&2; exit 1; }
    t0=$(worker_ticks)
    out=$("${CLIENT_CPU[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "${h[@]}" "$url")
    t1=$(worker_ticks)
    awk -v t="$((t1 - t0))" -v us="$TICK_US" '/^Requests\/sec/ {print $2} /^ *[0-9]+ requests in/ {n = $1}
        END {printf " %.2f\n", n ? t * us / n : 0}' <<<"$out" | paste -sd' '
}

B="http://127.0.0.1:$PORT"
SMALL=$(cat "$W/small.id"); BIG=$(cat "$W/big.id"); TRUNK=$(cat "$W/trunk.id"); PROXY=$(cat "$W/proxy.id")

# case name | module URL | baseline URL | status | header | target
CASES=(
    "10 KiB file|$B$SMALL|$B/static$SMALL|200||1.00"
    "1 MiB file|$B$BIG|$B/static$BIG|200||1.00"
    "10 KiB trunk (vs static)|$B$TRUNK|$B/static$SMALL|200||0.97"
    "2 ranges of 10 KiB|$B$SMALL|$B/static$SMALL|206|Range: $RANGES|0.97"
    "proxy path vs proxy_pass|$B$PROXY|$B/plain$PROXY|200||0.95"
)
printf '\n%-28s %12s %12s %8s %8s %10s %10s %8s\n' "case (1 worker, c=$CONNECTIONS)" "module r/s" "nginx r/s" \
    "ratio" "target" "module us" "nginx us" "ratio"
for c in "${CASES[@]}"; do
    IFS='|' read -r name murl burl want hdr target <<< "$c"
    m=""; b=""; mu=""; bu=""
    for _ in $(seq "$ROUNDS"); do
        read -r r u <<<"$(rps "$murl" "$want" "$hdr")"; m="$m $r"; mu="$mu $u"
        read -r r u <<<"$(rps "$burl" "$want" "$hdr")"; b="$b $r"; bu="$bu $u"
    done
    mm=$(med "$m"); bm=$(med "$b"); mum=$(med "$mu"); bum=$(med "$bu")
    # The CPU ratio is nginx's CPU per request over the module's: above 1, the module costs less.
    printf '%-28s %12.0f %12.0f %8s %8s %10s %10s %8s\n' "$name" "$mm" "$bm" "$(ratio "$mm" "$bm")" "$target" \
        "$mum" "$bum" "$(ratio "$bum" "$mum")"
done
echo "us: the worker's CPU (utime + stime from /proc) per request; its ratio is nginx's over the module's"
echo "medians of $ROUNDS rounds of $DURATION, module and baseline alternating; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q "exited on signal" "$W/logs/error.log"; then echo "a worker crashed:"; cat "$W/logs/error.log"; exit 1; fi

# Instructions per request, counted by callgrind: a figure a shared machine does not move, so a change
# of a few per cent shows where req/s and CPU time are lost in the noise. The same configuration in one
# process (master_process off) under callgrind; per URL, 500 requests to warm up, the counters zeroed,
# INSTR_REQUESTS more (ab, keep-alive, 8 at once), a dump. User-space instructions of nginx and the
# module: the kernel's work, the same for both sides, is not in them. INSTR_REQUESTS=0 skips it.
INSTR_REQUESTS=${INSTR_REQUESTS:-2000}
((INSTR_REQUESTS > 0)) && install_missing valgrind apache2-utils
if ((INSTR_REQUESTS > 0)) && ! { command -v callgrind_control && command -v ab; } >/dev/null; then
    echo "instructions per request: skipped (valgrind and apache2-utils could not be installed)"
    INSTR_REQUESTS=0
fi
((INSTR_REQUESTS > 0)) || exit 0
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true
valgrind -q --tool=callgrind --callgrind-out-file="$W/cg.out" /usr/sbin/nginx -g 'master_process off;' \
    -p "$W" -c "$W/conf/nginx.conf" -e "$W/logs/error.log" &
NGINX_PID=$!
for _ in $(seq 300); do
    curl -sf -o /dev/null "$B$SMALL" && break
    sleep 0.2
done

# instructions URL HEADER: user-space instructions per request of GET URL (empty if ab failed)
instructions() {
    local url=$1 hdr=$2 f
    local -a h=()
    [ -n "$hdr" ] && h=(-H "$hdr")
    ab -q -k -n 500 -c 8 "${h[@]}" "$url" >/dev/null 2>&1 || return 0
    callgrind_control -z "$NGINX_PID" >/dev/null 2>&1
    ab -q -k -n "$INSTR_REQUESTS" -c 8 "${h[@]}" "$url" >"$W/ab.txt" 2>&1
    rm -f "$W"/cg.out.*
    callgrind_control -d "$NGINX_PID" >/dev/null 2>&1
    for _ in $(seq 50); do
        f=$(ls "$W"/cg.out.* 2>/dev/null | head -1 || true)
        [ -n "$f" ] && break
        sleep 0.1
    done
    grep -q "^Complete requests: *$INSTR_REQUESTS$" "$W/ab.txt" && grep -q "^Failed requests: *0$" "$W/ab.txt" &&
        [ -n "$f" ] || { echo "ab or callgrind failed for $url:" >&2; cat "$W/ab.txt" >&2; return 0; }
    awk -v n="$INSTR_REQUESTS" '/^(summary|totals):/ {printf "%.0f\n", $2 / n; exit}' "$f"
}

printf '\n%-28s %14s %14s %10s %8s\n' "case (callgrind)" "module instr" "nginx instr" "extra" "ratio"
for c in "${CASES[@]}"; do
    IFS='|' read -r name murl burl want hdr target <<< "$c"
    mi=$(instructions "$murl" "$hdr"); bi=$(instructions "$burl" "$hdr")
    if [ -z "$mi" ] || [ -z "$bi" ]; then printf '%-28s %14s\n' "$name" "failed"; continue; fi
    printf '%-28s %14s %14s %10s %8s\n' "$name" "$mi" "$bi" "$((mi - bi))" "$(ratio "$bi" "$mi")"
done
echo "user-space instructions per request (nginx and the module, one process under callgrind), after 500 to"
echo "warm up, $INSTR_REQUESTS counted per URL (ab -k -c 8); the ratio is nginx's over the module's"
