#!/usr/bin/env bash
# Image variants (issue 13): fdfs-edge's [images] against nginx's image_filter (Debian
# libnginx-mod-http-image-filter), the same originals, the same output: fit inside 500x500, JPEG quality 80.
#
# 1. Generations, nothing served from a cache: every request makes a variant. nginx's image_filter has no
#    cache. For the edge, every request names another original: wrk asks for photoN-K.jpg with K counting
#    up (bench/images-fresh.lua), and both nginx (the origin and image_filter) rewrite photoN-K.jpg to
#    photoN.jpg, so the bytes and the output are the same, the cache key never. The edge's [cache]
#    max_object_size (256 KiB) is above the variants and below the originals: each original is fetched from
#    the origin (a plain nginx serving the files, on CPU 1 with wrk), never stored; each variant is stored
#    once and never asked for again. (A max_object_size below the variants' size cannot be used: the image
#    service answers without Content-Length, so Pingora aborts such a variant mid-transfer and the client
#    gets a 500.) The check prints the edge's fdfs_edge_image_variants_total{outcome="made"} and the
#    origin's requests against the answers wrk counted. One worker each (nginx worker_processes 1;
#    the edge threads = 1, [images] workers = 1), servers on CPU 0, wrk on CPU 1 (wrk -t1 -c$CONNS).
#    Originals made at bench time with Pillow (Debian python3-pil): photo-like (gradients, soft shapes, a
#    fractal's detail, grain), 2000x1333 and 4000x3000, JPEG quality 90. The edge also makes WebP
#    (fmt=webp), against nginx's JPEG. Targets: edge JPEG >= 2x image_filter; edge WebP no slower than
#    image_filter's JPEG.
# 2. With the cache on, a variant served again is a cache hit: the same variant URL repeated against a plain
#    10 KiB object and a plain object of the variant's size, on one edge (wrk -t1 -c$HIT_CONNS).
# 3. The edge's render stages in one thread (image-variants/examples/render_stages.rs), for where the time
#    goes.
# ROUNDS rounds (default 3), the contenders alternating; medians of req/s, p99 and req/CPU-s.
#
#   bench/images.sh                     # rounds of 10 s (about 7 min)
#   BENCH_QUICK=1 bench/images.sh       # rounds of 3 s (about 2 min)
#   ROUNDS=5 CONNS=8 bench/images.sh
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
if [[ $BENCH_QUICK == 1 ]]; then DURATION=${DURATION:-3s}; else DURATION=${DURATION:-10s}; fi
CONNS=${CONNS:-4}
HIT_CONNS=${HIT_CONNS:-32}
PIN_SRV=(taskset -c 0)
PIN_WRK=(taskset -c 1)
PY_PIL=${PY_PIL:-/usr/bin/python3} # Debian's python3, where python3-pil goes (not a pyenv's)
FILTER_SO=${FILTER_SO:-/usr/lib/nginx/modules/ngx_http_image_filter_module.so}
QUERY='w=500&h=500&fit=inside&q=80'
STAGES=$TARGET/release/examples/render_stages
DIR=/group1/M00/00/00

ensure_packages python3-pil libnginx-mod-http-image-filter
ensure_edge || { echo "no fdfs-edge binary" >&2; exit 1; }
[[ -f $FILTER_SO ]] || { echo "no image_filter module at $FILTER_SO" >&2; exit 1; }
"$PY_PIL" -c 'import PIL' || { echo "$PY_PIL has no Pillow (python3-pil)" >&2; exit 1; }
(cd "$ROOT" && nice -n 19 cargo build --release -q -p image-variants --example render_stages) || exit 1
W=$(mktemp -d /tmp/fdfs-bench-images.XXXXXX)
trap bench_cleanup EXIT
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# the originals, and two plain objects for the hits
mkdir -p "$W/www$DIR"
cat >"$W/photo.py" <<'PY'
import sys
from PIL import Image, ImageFilter

def photo(w, h, seed):
    """Smooth light (gradients), soft shapes (coarse noise scaled up), fine detail (a fractal), grain
    (noise at every pixel): JPEG has as much to do as with a photo, unlike a flat test card."""
    def layer(im):
        return im.convert("L").resize((w, h), Image.BICUBIC)
    lin = layer(Image.linear_gradient("L").rotate(25 * seed))
    rad = layer(Image.radial_gradient("L"))
    blobs = [layer(Image.effect_noise((max(2, w // 160), max(2, h // 160)), 60 + 10 * k)) for k in range(3)]
    detail = Image.effect_mandelbrot((w, h), (-2.2 + 0.1 * seed, -1.2, 0.8, 1.2), 48)
    detail = detail.filter(ImageFilter.GaussianBlur(1))
    grain = Image.effect_noise((w, h), 40)
    channels = []
    for k, (a, b) in enumerate([(lin, rad), (rad, lin), (lin, detail)]):
        c = Image.blend(a, blobs[k], 0.55)
        c = Image.blend(c, b, 0.3)
        c = Image.blend(c, detail, 0.15)
        channels.append(Image.blend(c, grain, 0.2))
    return Image.merge("RGB", channels)

w, h, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
photo(w, h, seed).save(out, "JPEG", quality=90)
PY
IMAGES=(photo2000 photo4000)
declare -A GEOM=([photo2000]="2000 1333 1" [photo4000]="4000 3000 2") DIMS FILE
for img in "${IMAGES[@]}"; do
    read -r w h seed <<<"${GEOM[$img]}"
    DIMS[$img]=${w}x$h FILE[$img]=$W/www$DIR/$img.jpg
    "$PY_PIL" "$W/photo.py" "$w" "$h" "$seed" "${FILE[$img]}" || exit 1
done
head -c 10240 /dev/urandom >"$W/www$DIR/obj10k"

# nginx_conf NAME BODY: an nginx.conf in $W/NAME (one worker, everything in $W/NAME)
nginx_conf() {
    local d=$W/$1 user=""
    [[ $EUID == 0 ]] && user="user root;"
    mkdir -p "$d/tmp"
    cat >"$d/nginx.conf" <<NGX
load_module $FILTER_SO;
$user
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    default_type application/octet-stream;
    $2
}
NGX
}

# up NAME URL: waits for an answer (any status) from a server just started
up() {
    local _
    for _ in $(seq 100); do
        curl -s -o /dev/null "$2" && return 0
        kill -0 "${CPID[$1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "$1 did not start:" >&2
    tail -5 "$W/$1/"*.log >&2
    exit 1
}

# start_nginx NAME PIN BODY
start_nginx() {
    local name=$1 pin=$2
    CPORT[$name]=$(free_port)
    nginx_conf "$name" "${3//@PORT@/${CPORT[$name]}}"
    taskset -c "$pin" "$NGINX" -p "$W/$name" -c "$W/$name/nginx.conf" >"$W/$name/stderr.log" 2>&1 &
    CPID[$name]=$!
    up "$name" "http://127.0.0.1:${CPORT[$name]}/"
}

# the storage's stand-in: the files, with the headers that let a cache keep them; a line per request
start_nginx origin 1 "log_format n \"\$request_uri\";
    server {
        listen 127.0.0.1:@PORT@;
        root $W/www;
        access_log $W/origin/access.log n;
        expires 12h;
        rewrite \"^(/.+)-[0-9]+\\.jpg\$\" \$1.jpg break;
    }"
ORIGIN=${CPORT[origin]}
origin_count() { wc -l <"$W/origin/access.log"; }
start_nginx filter 0 "access_log off;
    server {
        listen 127.0.0.1:@PORT@;
        root $W/www;
        location ~ \\.jpg\$ {
            rewrite \"^(/.+)-[0-9]+\\.jpg\$\" \$1.jpg break;
            image_filter resize 500 500;
            image_filter_jpeg_quality 80;
            image_filter_buffer 64M;
        }
    }"

# start_edge NAME CACHE-EXTRA: an edge on CPU 0 with [images]; sets CPORT/CPID/CADMIN
start_edge() {
    local d=$W/$1
    CPORT[$1]=$(free_port)
    CADMIN[$1]=$(free_port)
    edge_toml "$d" "${CPORT[$1]}" "${CADMIN[$1]}" 1 "$2
[images]
unsigned_sizes = true
workers = 1"
    RUST_LOG=warn "${PIN_SRV[@]}" "$EDGE_BIN" -c "$d/edge.toml" >"$d/stderr.log" 2>&1 &
    CPID[$1]=$!
    up "$1" "http://127.0.0.1:${CPORT[$1]}/"
}
made() {
    curl -fs "http://127.0.0.1:${CADMIN[$1]}/metrics" |
        awk '$1 == "fdfs_edge_image_variants_total{outcome=\"made\"}" {print $2 + 0}'
}

# settle PID: waits (at most 15 s) until the server's processes stop using CPU: what a round left in
# flight when wrk stopped is finished before the next round starts
settle() {
    local a b _
    b=$(cpu_ticks "$1")
    for _ in $(seq 50); do
        sleep 0.3
        a=$b
        b=$(cpu_ticks "$1")
        ((b - a <= 1)) && return 0
    done
}

# gen_round PID WAY IMAGE SEQ: a round of requests for fresh names (photoN-K.jpg, K from SEQ's range of a
# million); prints wrk_round's "req/s p99_ms req_per_cpu_s errors", then the answers wrk counted
gen_round() {
    local out t0 t1
    t0=$(cpu_ticks "$1")
    out=$("${PIN_WRK[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" --timeout 30s --latency -s "$ROOT/bench/images-fresh.lua" \
        "$(url "$2" "$3" 0)" -- "$DIR/$3" $(($4 * 1000000)) "$(query "$2")" 2>&1)
    t1=$(cpu_ticks "$1")
    wrk_summary $((t1 - t0)) %.1f <<<"$out"
}

start_edge nocache 'max_object_size = "256KiB" # above the variants, below the originals'

# the three ways, the same request line
WAYS=(edge-jpeg edge-webp nginx-jpeg)
declare -A OWNER=([edge-jpeg]=nocache [edge-webp]=nocache [nginx-jpeg]=filter)
declare -A LABEL=([edge-jpeg]="fdfs-edge, JPEG" [edge-webp]="fdfs-edge, WebP" [nginx-jpeg]="nginx image_filter, JPEG")
query() { # WAY
    local fmt=jpeg
    [[ $1 == edge-webp ]] && fmt=webp
    echo "$QUERY&fmt=$fmt"
}
url() { # WAY IMAGE K: the request for photoN-K.jpg
    echo "http://127.0.0.1:${CPORT[${OWNER[$1]}]}$DIR/$2-$3.jpg?$(query "$1")"
}

echo
echo "## The outputs (one request each)"
echo
echo "| original | bytes | contender | answer | output | bytes |"
echo "|---|---|---|---|---|---|"
for img in "${IMAGES[@]}"; do
    for way in "${WAYS[@]}"; do
        curl -fs -D "$W/h" -o "$W/out" "$(url "$way" "$img" 0)" || { echo "$way: $img failed" >&2; exit 1; }
        ct=$(awk -F': ' 'tolower($1) == "content-type" {print $2}' "$W/h" | tr -d '\r')
        cs=$(awk -F': ' 'tolower($1) == "x-cache-status" {print $2}' "$W/h" | tr -d '\r')
        dims=$("$PY_PIL" -c 'import sys; from PIL import Image; i = Image.open(sys.argv[1]); print("%s %dx%d" % (i.format, *i.size))' "$W/out")
        echo "| $img.jpg ${DIMS[$img]} | $(stat -c %s "${FILE[$img]}") | ${LABEL[$way]} | $ct${cs:+, X-Cache-Status $cs} | $dims | $(stat -c %s "$W/out") |"
    done
done
settle "${CPID[nocache]}"

echo
echo "## Generations, nothing cached: wrk -t1 -c$CONNS, $ROUNDS rounds of $DURATION alternating, medians"
echo
declare -A RPS P99 EFF
made0=$(made nocache) origin0=$(origin_count) answered=0 edge_rounds=0 seq=0
for img in "${IMAGES[@]}"; do
    for r in $(seq "$ROUNDS"); do
        order=("${WAYS[@]}")
        ((r % 2 == 0)) && order=(nginx-jpeg edge-webp edge-jpeg)
        for way in "${order[@]}"; do
            pid=${CPID[${OWNER[$way]}]}
            seq=$((seq + 1))
            read -r rps p99 eff err n < <(gen_round "$pid" "$way" "$img" "$seq")
            settle "$pid"
            ((err > 0)) && note "$way, $img, round $r: $err errors"
            [[ $way == edge-* ]] && answered=$((answered + n)) edge_rounds=$((edge_rounds + 1))
            RPS[$way $img]+="$rps " P99[$way $img]+="$p99 " EFF[$way $img]+="$eff "
        done
    done
done
made1=$(made nocache) origin1=$(origin_count)
echo "| original | contender | variants/s | p99 (ms) | variants/CPU-s | variants/s / nginx | p99 / nginx |"
echo "|---|---|---|---|---|---|---|"
declare -A M
for img in "${IMAGES[@]}"; do
    for way in "${WAYS[@]}"; do
        M[rps $way $img]=$(med "${RPS[$way $img]}")
        M[p99 $way $img]=$(med "${P99[$way $img]}")
        M[eff $way $img]=$(med "${EFF[$way $img]}")
    done
    for way in nginx-jpeg edge-jpeg edge-webp; do
        rel="" relp=""
        if [[ $way != nginx-jpeg ]]; then
            rel="**$(ratio "${M[rps $way $img]}" "${M[rps nginx-jpeg $img]}")**"
            relp=$(ratio "${M[p99 $way $img]}" "${M[p99 nginx-jpeg $img]}")
        fi
        printf '| %s.jpg %s | %s | %.1f | %.0f | %.1f | %s | %s |\n' "$img" "${DIMS[$img]}" "${LABEL[$way]}" \
            "${M[rps $way $img]}" "${M[p99 $way $img]}" "${M[eff $way $img]}" "$rel" "$relp"
    done
done
echo
for img in "${IMAGES[@]}"; do
    j=$(ratio "${M[rps edge-jpeg $img]}" "${M[rps nginx-jpeg $img]}")
    wp=$(ratio "${M[rps edge-webp $img]}" "${M[rps nginx-jpeg $img]}")
    echo "$img: edge JPEG / image_filter $j (target >= 2: $(awk -v a="$j" 'BEGIN {print (a >= 2) ? "met" : "not met"}')); edge WebP / image_filter JPEG $wp (target >= 1: $(awk -v a="$wp" 'BEGIN {print (a >= 1) ? "met" : "not met"}'))"
done
made_n=$((made1 - made0)) fetched=$((origin1 - origin0))
echo "check: the edge made $made_n variants and fetched $fetched originals from the origin for $answered answers wrk counted in $edge_rounds rounds (at most $CONNS a round were still in flight when wrk stopped: $answered to $((answered + CONNS * edge_rounds)) expected): $(
    awk -v m="$made_n" -v f="$fetched" -v a="$answered" -v x=$((answered + CONNS * edge_rounds)) \
        'BEGIN {print (m >= a && m <= x && f == m) ? "every answer was a generation" : "NOT every answer was a generation"}')"
stop_contender filter
stop_contender nocache

echo
echo "## With the cache on: a variant again is a cache hit (wrk -t1 -c$HIT_CONNS, $ROUNDS rounds of $DURATION alternating, medians)"
echo
start_edge cached ""
variant_url="http://127.0.0.1:${CPORT[cached]}$DIR/photo2000.jpg?$QUERY&fmt=jpeg"
size=$(curl -fs "$variant_url" | wc -c)
head -c "$size" /dev/urandom >"$W/www$DIR/objvariant"
HITS=(variant obj10k objvariant)
declare -A HURL=([variant]=$variant_url [obj10k]="http://127.0.0.1:${CPORT[cached]}$DIR/obj10k"
    [objvariant]="http://127.0.0.1:${CPORT[cached]}$DIR/objvariant")
declare -A HLABEL=([variant]="the variant of photo2000.jpg (JPEG)" [obj10k]="a plain object of 10 KiB"
    [objvariant]="a plain object of the variant's size")
declare -A HBYTES=([variant]=$size [obj10k]=10240 [objvariant]=$size)
for h in "${HITS[@]}"; do
    for _ in 1 2 3; do curl -fs -o /dev/null "${HURL[$h]}" || { echo "warming $h failed" >&2; exit 1; }; done
    st=$(curl -fs -D - -o /dev/null "${HURL[$h]}" | awk -F': ' 'tolower($1) == "x-cache-status" {print $2}' | tr -d '\r')
    [[ $st == HIT ]] || { echo "$h is not a cache hit ($st)" >&2; exit 1; }
done
CONNS=$HIT_CONNS
hmade0=$(made cached) horigin0=$(origin_count)
declare -A HRPS HP99 HEFF
for r in $(seq "$ROUNDS"); do
    order=("${HITS[@]}")
    ((r % 2 == 0)) && order=(objvariant obj10k variant)
    for h in "${order[@]}"; do
        read -r rps p99 eff err < <(wrk_round "${CPID[cached]}" "${HURL[$h]}")
        ((err > 0)) && note "$h, round $r: $err errors"
        HRPS[$h]+="$rps " HP99[$h]+="$p99 " HEFF[$h]+="$eff "
    done
done
echo "| request | bytes | req/s | p99 (ms) | req/CPU-s | req/s / 10 KiB hit | req/s / same-size hit |"
echo "|---|---|---|---|---|---|---|"
for h in "${HITS[@]}"; do
    M[HRPS $h]=$(med "${HRPS[$h]}") M[HP99 $h]=$(med "${HP99[$h]}") M[HEFF $h]=$(med "${HEFF[$h]}")
done
for h in "${HITS[@]}"; do
    printf '| %s | %s | %s | %.2f | %s | %s | %s |\n' "${HLABEL[$h]}" "${HBYTES[$h]}" "$(human "${M[HRPS $h]}")" "${M[HP99 $h]}" \
        "$(human "${M[HEFF $h]}")" "$(ratio "${M[HRPS $h]}" "${M[HRPS obj10k]}")" "$(ratio "${M[HRPS $h]}" "${M[HRPS objvariant]}")"
done
echo
echo "check: variants made during the hit rounds $(($(made cached) - hmade0)), origin requests $(($(origin_count) - horigin0)) (both 0: every answer a hit)"
stop_contender cached
stop_contender origin

echo
echo "## The edge's render stages, one thread on CPU 0 (ms, median of 9; image-variants/examples/render_stages.rs)"
echo
files=()
for img in "${IMAGES[@]}"; do files+=("${FILE[$img]}"); done
"${PIN_SRV[@]}" "$STAGES" --runs 9 'w=500&h=500&fit=inside&g=center&q=80' "${files[@]}"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
