#!/usr/bin/env bash
# `make demo`: the whole stack on loopback, as in the README's picture.
#   fdfs-emu: a tracker on 127.0.0.10:22122, group1 on 127.0.0.11/.12, group2 on 127.0.0.13/.14 (port 23000)
#   one stock nginx + ngx_http_fastdfs_module.so per storage, on <storage ip>:8888
#   fdfs-edge on 127.0.0.1:8080 (admin 127.0.0.1:9180) in front of all of them, and its peer on
#   127.0.0.1:8081 (admin 127.0.0.1:9181), as on the two tracker nodes of a cluster
# Uploads scripts/sample.png with the `fdfs` tool, prints curl lines that work, and stays up until Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/target/release}
MODULE_SO=${MODULE_SO:-$ROOT/build/modules/ngx_http_fastdfs_module.so}
DEMO=${DEMO_DIR:-/tmp/fdfs-demo}
TRACKER=127.0.0.10:22122
HTTP_PORT=8888
EDGE=127.0.0.1:8080
ADMIN=127.0.0.1:9180
EDGE2=127.0.0.1:8081
ADMIN2=127.0.0.1:9181
STORAGE_IPS=(127.0.0.11 127.0.0.12 127.0.0.13 127.0.0.14)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
missing=()
pids=()
added_ips=() # the loopback addresses this run added, removed again when it stops

cleanup() {
    # A second Ctrl-C (or a signal sent to the whole process group) must not cut the clean-up short.
    trap '' INT TERM
    trap - EXIT
    say "stopping"
    for dir in "$DEMO"/nginx-*; do
        [ -f "$dir/nginx.pid" ] && /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -s stop 2>/dev/null
    done
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    for addr in "${added_ips[@]}"; do ip addr del "$addr/32" dev lo 2>/dev/null; done
    say "stopped; logs and data left in $DEMO"
}
trap cleanup INT TERM EXIT

rm -rf "$DEMO" && mkdir -p "$DEMO" && chmod 755 "$DEMO"

# Each storage gets its own loopback address, labelled so that if_alias_prefix tells the nodes apart.
labels=(a b c d)
for i in "${!STORAGE_IPS[@]}"; do
    ip=${STORAGE_IPS[$i]}
    # any prefix length: a test or an operator may have added it as /8 or /24 already
    if ! ip -4 addr show dev lo | grep -q "inet $ip/"; then
        if err=$(ip addr add "$ip/32" dev lo label "lo:${labels[$i]}0" 2>&1); then
            added_ips+=("$ip")
        else
            echo "note: could not add $ip to lo ($err); each node then sees only 127.0.0.1 as its own"
        fi
    fi
done

[ -x "$BIN/fdfs-emu" ] || { echo "missing $BIN/fdfs-emu: run 'make' first"; exit 1; }
say "FastDFS emulator: 2 groups x 2 storages, tracker $TRACKER"
"$BIN/fdfs-emu" --groups 2 --storages-per-group 2 --base-dir "$DEMO/store" --tracker "$TRACKER" \
    --storage-port 23000 --http-port "$HTTP_PORT" --sync-delay-ms 2000 >"$DEMO/emu.out" 2>"$DEMO/emu.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$DEMO/emu.out" && break; sleep 0.1; done
grep -q '^ready' "$DEMO/emu.out" || { echo "emulator did not start:"; cat "$DEMO/emu.log"; exit 1; }
grep '^storage' "$DEMO/emu.out" | sed 's/^/    /'

# One nginx per storage, each with its own mod_fastdfs.conf naming its own store path.
if [ -f "$MODULE_SO" ]; then
    i=0
    while read -r _ group ip _ _ _ store; do
        group=${group#group=}; ip=${ip#ip=}; store=${store#store_path=}
        dir="$DEMO/nginx-$ip"; mkdir -p "$dir/logs" "$dir/conf"
        cat >"$dir/conf/http.conf" <<EOF
http.default_content_type = application/octet-stream
http.mime_types_filename = /etc/nginx/mime.types
http.anti_steal.check_token = false
EOF
        cat >"$dir/conf/mod_fastdfs.conf" <<EOF
connect_timeout = 2
network_timeout = 30
base_path = $store
load_fdfs_parameters_from_tracker = false
tracker_server = $TRACKER
storage_server_port = 23000
group_name = $group
url_have_group_name = true
store_path_count = 1
store_path0 = $store
response_mode = proxy
if_alias_prefix = lo:${labels[$i]}
storage_sync_file_max_delay = 86400
storage_peers = $(IFS=,; echo "${STORAGE_IPS[*]/%/:$HTTP_PORT}" | sed 's/,/, /g')
#include http.conf
EOF
        cat >"$dir/nginx.conf" <<EOF
load_module $MODULE_SO;
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/tmp_body; proxy_temp_path $dir/tmp_proxy;
    fastcgi_temp_path $dir/tmp_fcgi; uwsgi_temp_path $dir/tmp_uwsgi; scgi_temp_path $dir/tmp_scgi;
    sendfile on;
    server {
        listen $ip:$HTTP_PORT;
        location ~ /group[0-9]+/M[0-9A-F][0-9A-F]/ {
            fastdfs_config $dir/conf/mod_fastdfs.conf;
            ngx_fastdfs_module;
        }
        location = /healthz { access_log off; return 200 "ok\n"; }
    }
}
EOF
        if /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" 2>"$dir/logs/start.err"; then
            echo "    nginx + module for $group on $ip:$HTTP_PORT"
        else
            echo "    nginx for $ip failed to start:"; sed 's/^/      /' "$dir/logs/start.err"
        fi
        i=$((i + 1))
    done < <(grep '^storage' "$DEMO/emu.out")
else
    missing+=("the nginx module ($MODULE_SO): run 'make module'")
fi

# The edge pair of the tracker nodes, both discovering groups and storages from the tracker, each
# sending the purges it accepts to the other ([peers]).
edge_toml() { # name listen admin peer
    cat <<EOF
[server]
listen = ["$2"]
threads = 2
# in the demo's directory, not /run/fdfs-edge (which the fdfs-edge package owns)
pid_file = "$DEMO/$1.pid"
upgrade_sock = "$DEMO/$1.sock"

[admin]
listen = "$3"

[trackers]
servers = ["$TRACKER"]
http_port = $HTTP_PORT

[cache]
dir = "$DEMO/$1-cache"
max_size = "256MiB"
valid = "12h"
inactive = "30d"

[response]
expires = "30d"

[purge]
allow = ["127.0.0.1/32"]

[peers]
edges = ["$4"]
secret_file = "$DEMO/peer-secret"
queue_dir = "$DEMO/$1-peer-purges"
retry = "1s"

[access]
default = "public"
[[access.key]]
id = "demo"
secret_file = "$DEMO/edge-key"
[[access.rule]]
group = "group2"
policy = "signed"

[upload]
[[upload.bearer]]
id = "demo"
token_file = "$DEMO/upload-token"

[images]
suffix_sizes = ["48x48"]
[images.presets]
thumb = { width = 48, height = 48, fit = "cover" }
EOF
}
if [ -x "$BIN/fdfs-edge" ]; then
    # the signing key of [access] (group2 needs signed URLs in the demo) and the pair's secret
    head -c 32 /dev/urandom | base64 >"$DEMO/edge-key" && chmod 600 "$DEMO/edge-key"
    head -c 32 /dev/urandom | base64 >"$DEMO/peer-secret" && chmod 600 "$DEMO/peer-secret"
    # the bearer token of [upload]
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$DEMO/upload-token" && chmod 600 "$DEMO/upload-token"
    edge_toml edge "$EDGE" "$ADMIN" "$EDGE2" >"$DEMO/edge.toml"
    edge_toml edge2 "$EDGE2" "$ADMIN2" "$EDGE" >"$DEMO/edge2.toml"
    for name in edge edge2; do
        mkdir -p "$DEMO/$name-cache"
        "$BIN/fdfs-edge" -c "$DEMO/$name.toml" >"$DEMO/$name.log" 2>&1 &
        pids+=($!)
    done
    for pair in "$EDGE $ADMIN edge" "$EDGE2 $ADMIN2 edge2"; do
        set -- $pair
        for _ in $(seq 100); do curl -fs "http://$2/readyz" >/dev/null && break; sleep 0.1; done
        curl -fs "http://$2/readyz" >/dev/null && echo "    fdfs-edge on $1 (admin $2)" ||
            { echo "    fdfs-edge $1 is not ready:"; tail -20 "$DEMO/$3.log" | sed 's/^/      /'; }
    done
else
    missing+=("the edge ($BIN/fdfs-edge)")
fi

if [ ! -x "$BIN/fdfs" ]; then
    missing+=("the fdfs tool ($BIN/fdfs)")
    echo "not built yet: ${missing[*]}"; echo "Ctrl-C to stop"; wait; exit 0
fi
say "uploading scripts/sample.png with: fdfs --tracker $TRACKER upload scripts/sample.png"
FILE_ID=$("$BIN/fdfs" --tracker "$TRACKER" upload "$ROOT/scripts/sample.png") || { echo "upload failed"; exit 1; }
echo "    file id: $FILE_ID"
group=${FILE_ID%%/*}
SOURCE_IP=$("$BIN/fdfs" --tracker "$TRACKER" info "$FILE_ID" --json 2>/dev/null |
    sed -n 's/.*"source_ip" *: *"\([^"]*\)".*/\1/p')
SOURCE_IP=${SOURCE_IP:-127.0.0.11}

PRIVATE_ID=""
if [ -x "$BIN/fdfs-edge" ]; then
    say "a signed download: group2 needs a signed URL ([access] in $DEMO/edge.toml)"
    PRIVATE_ID=$("$BIN/fdfs" --tracker "$TRACKER" upload --group group2 "$ROOT/scripts/sample.png") ||
        echo "    upload into group2 failed"
    if [ -n "$PRIVATE_ID" ]; then
        echo "    file id: $PRIVATE_ID"
        signed=$("$BIN/fdfs-edge" -c "$DEMO/edge.toml" sign --expires 10m "/$PRIVATE_ID")
        echo "    without a signature: $(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE/$PRIVATE_ID")"
        echo "    signed for 10 minutes: $(curl -s -o /dev/null -w '%{http_code}' "http://$EDGE$signed")  ($signed)"
    fi
fi

if [ -x "$BIN/fdfs-edge" ]; then
    say "an upload over HTTP with curl, through the edge ([upload] in $DEMO/edge.toml)"
    echo "    curl -T scripts/sample.png -H \"Authorization: Bearer \$(cat $DEMO/upload-token)\" http://$EDGE/auto/sample.png"
    echo "    $(curl -s -T "$ROOT/scripts/sample.png" -H "Authorization: Bearer $(cat "$DEMO/upload-token")" "http://$EDGE/auto/sample.png")"
fi

if [ -x "$BIN/fdfs-edge" ]; then
    say "a thumbnail made by the edge ([images] in $DEMO/edge.toml), cached like any object"
    thumb() { curl -s -o /dev/null -w '%{http_code} %{content_type} %{size_download} bytes %header{x-cache-status}' "$@"; }
    echo "    curl http://$EDGE/$FILE_ID?preset=thumb: $(thumb "http://$EDGE/$FILE_ID?preset=thumb")"
    echo "    again: $(thumb "http://$EDGE/$FILE_ID?preset=thumb")"
    free=$("$BIN/fdfs-edge" -c "$DEMO/edge.toml" sign --expires 10m "/$FILE_ID?w=64&fmt=auto")
    echo "    a signed free size, WebP for a browser that takes it: $(thumb -H 'Accept: image/webp' "http://$EDGE$free")"
    echo "    the same size unsigned: $(thumb "http://$EDGE/$FILE_ID?w=64&fmt=auto")"
fi

if [ -x "$BIN/fdfs-edge" ]; then
    say "one cache across the pair: a purge on $EDGE reaches $EDGE2"
    status() { curl -s -o /dev/null -w '%{http_code} %header{x-cache-status}' "$@"; }
    for e in "$EDGE" "$EDGE2"; do
        status "http://$e/$FILE_ID" >/dev/null
        echo "    GET via $e, twice: $(status "http://$e/$FILE_ID")"
    done
    echo "    PURGE via $EDGE: $(curl -s -X PURGE "http://$EDGE/$FILE_ID" | tr '\n' ' ')"
    for _ in $(seq 50); do
        curl -s "http://$ADMIN/metrics" | grep -q "^fdfs_edge_peer_purges_pending{.*} 0" && break
        sleep 0.1
    done
    echo "    GET via $EDGE2 after it: $(status "http://$EDGE2/$FILE_ID")"
fi

say "try these"
cat <<EOF
  # through the edge (the first is a MISS, then HIT; see X-Cache-Status)
  curl -sD- -o /tmp/sample.png http://$EDGE/$FILE_ID
  # straight from the storage's nginx + module
  curl -sD- -o /dev/null http://$SOURCE_IP:$HTTP_PORT/$FILE_ID
  # a range: the first 100 bytes
  curl -s -H 'Range: bytes=0-99' http://$EDGE/$FILE_ID | wc -c
  # purge it from the edge's cache (allowed from 127.0.0.1); the peer edge purges it too
  curl -s -X PURGE http://$EDGE/$FILE_ID
  curl -sD- -o /dev/null http://$EDGE2/$FILE_ID
  # upload with curl (PUT, or a form with -F file=@...), delete with its id
  curl -T scripts/sample.png -H "Authorization: Bearer \$(cat $DEMO/upload-token)" http://$EDGE/auto/sample.png
  curl -F file=@scripts/sample.png -F author=me -H "Authorization: Bearer \$(cat $DEMO/upload-token)" http://$EDGE/group1/
  curl -X DELETE -H "Authorization: Bearer \$(cat $DEMO/upload-token)" http://$EDGE/<file id>
  # a thumbnail (a preset, or the suffix form), and a signed free size made by fdfs-edge sign
  curl -sD- -o /tmp/thumb.png "http://$EDGE/$FILE_ID?preset=thumb"
  curl -sD- -o /tmp/thumb.png "http://$EDGE/${FILE_ID%.*}_48x48.${FILE_ID##*.}"
  curl -sD- -o /tmp/small.webp "http://$EDGE\$($BIN/fdfs-edge -c $DEMO/edge.toml sign '/$FILE_ID?w=64&h=32&fit=cover&fmt=webp')"
  # group2 is signed: 403 without a signature, 200 with one made by fdfs-edge sign
  curl -s -o /dev/null -w '%{http_code}\n' http://$EDGE/${PRIVATE_ID:-group2/...}
  curl -s -o /dev/null -w '%{http_code}\n' "http://$EDGE\$($BIN/fdfs-edge -c $DEMO/edge.toml sign --expires 10m /${PRIVATE_ID:-group2/...})"
  # the cluster as the tracker sees it
  $BIN/fdfs --tracker $TRACKER monitor
  # edge metrics (the purges the peer has not acknowledged: fdfs_edge_peer_purges_pending)
  curl -s http://$ADMIN/metrics | grep -E '^fdfs_edge_(requests|peer_purges|access_denied|image_variants)' 
EOF
[ ${#missing[@]} -gt 0 ] && echo "not built yet: ${missing[*]}"
say "running; logs in $DEMO; Ctrl-C stops everything"
wait
