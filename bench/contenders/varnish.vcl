vcl 4.1;
# Varnish as a caching reverse proxy in front of the storages. Started by bench/lib.sh as
#   varnishd -F -j none -a 127.0.0.1:@PORT@ -f varnish.vcl -n DIR -s malloc,@MEM@ (or -s file,DIR/storage.bin,@DISK@)
#     -p thread_pools=@WORKERS@     one pool per worker (the pools' threads serve the connections)
#     -p thread_pool_min=64         threads for wrk's connections exist before the round: no spawning during it
#     -p workspace_backend=128k     room for the storage's headers
# Placeholders (@NAME@) are filled in by bench/lib.sh.

import std;

backend storage {
    .host = "127.0.0.1";
    .port = "@ORIGIN@";
    .connect_timeout = 90s;
    .first_byte_timeout = 90s;
    .between_bytes_timeout = 90s;
}

sub vcl_recv {
    # FastDFS files are public and immutable: no cookie or Authorization makes them private
    unset req.http.Cookie;
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # the key is the URL alone, as the other proxies' (no Host in the hash: one cache for every name)
    return (hash);
}

sub vcl_hash {
    hash_data(req.url);
    return (lookup);
}

sub vcl_backend_response {
    # cache 200s for 12 h whatever the storage says, as proxy_cache_valid 200 12h does
    if (beresp.status == 200) {
        set beresp.ttl = 12h;
        set beresp.grace = 1h;
        unset beresp.http.Set-Cookie;
    }
    # stream large objects to the first client while they are stored
    set beresp.do_stream = true;
    return (deliver);
}

sub vcl_deliver {
    # the same status header as the other proxies, for the bench's hit check and for operators
    if (obj.hits > 0) {
        set resp.http.X-Cache-Status = "HIT";
    } else {
        set resp.http.X-Cache-Status = "MISS";
    }
    unset resp.http.Via;
    unset resp.http.X-Varnish;
    return (deliver);
}
