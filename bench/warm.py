"""Warm a proxy's cache for bench/scale.sh: GET every path of a list file once, in the file's order split
over several processes (each with keep-alive connections), checking each body's length and its first 8
bytes (the object's number). Prints the X-Cache-Status counts, e.g. "HIT=9990 MISS=10".

  python3 warm.py PORT PATHS_FILE SIZE [PROCESSES] [CONNECTIONS_PER_PROCESS]
"""
import http.client
import multiprocessing
import sys
import threading


def fetch_all(args):
    port, paths, size, conns = args
    counts, errors = {}, []
    lock = threading.Lock()

    def worker(part):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        seen = {}
        try:
            for path in part:
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                if r.status != 200 or len(body) != size or body[:8] != path[-7:].encode().rjust(8, b"0"):
                    raise RuntimeError("%s: status %d, %d bytes" % (path, r.status, len(body)))
                st = r.getheader("X-Cache-Status", "-")
                seen[st] = seen.get(st, 0) + 1
        except Exception as e:  # reported, and the warm fails
            errors.append(str(e))
        with lock:
            for k, v in seen.items():
                counts[k] = counts.get(k, 0) + v

    ts = [threading.Thread(target=worker, args=(paths[k::conns],)) for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return counts, errors


def main():
    port, paths_file, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    procs = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    conns = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    with open(paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    with multiprocessing.Pool(procs) as pool:
        results = pool.map(fetch_all, [(port, paths[k::procs], size, conns) for k in range(procs)])
    counts, errors = {}, []
    for c, e in results:
        errors += e
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
    if errors:
        sys.exit("warm: " + "; ".join(errors[:3]))
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())))


if __name__ == "__main__":
    main()
