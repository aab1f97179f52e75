"""The storages' HTTP stand-in for bench/contenders.sh and bench/scale.sh (no disk, no FastDFS).

  python3 origin.py PORT GEN_COUNT GEN_SIZE [PROCESSES]

Serves /group1/M00/00/00/obj{1k,10k,100k,1m,16m} (fixed random bodies), and GEN_COUNT generated objects of
GEN_SIZE bytes at /group1/M00/XX/YY/wNNNNNNN (any XX/YY; the body starts with the 8-digit number, so
every object is distinct). Every response has Content-Length, Last-Modified, Accept-Ranges and
Cache-Control: max-age=43200 (12 h), so every contender may cache it for the whole run. GET /__count
answers the number of object requests served so far (/healthz, the edge's health checks, is not one): the bench reads it around each round to prove that
the round was served from the proxies' caches (the count must not move). PROCESSES (default 4) processes
share the port (SO_REUSEPORT) and the count: one Python process fills caches at a few hundred objects/s.
"""
import ctypes
import http.server
import multiprocessing
import os
import re
import socket
import sys

PORT, GEN_COUNT, GEN_SIZE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
PROCESSES = int(sys.argv[4]) if len(sys.argv) > 4 else 4
SIZES = {"obj1k": 1 << 10, "obj10k": 10 << 10, "obj100k": 100 << 10, "obj1m": 1 << 20, "obj16m": 16 << 20}
POOL = os.urandom(16 << 20)
FIXED = {"/group1/M00/00/00/" + name: POOL[:size] for name, size in SIZES.items()}
GEN = re.compile(r"^/group1/M00/[0-9A-F]{2}/[0-9A-F]{2}/w(\d{7})$")
GEN_BASE = os.urandom(GEN_SIZE)
served = multiprocessing.Value(ctypes.c_longlong, 0)  # shared by the forked processes


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with the proxies' upstream pools
    # headers and body are two writes: without TCP_NODELAY the body waits for the delayed ACK (~40 ms)
    disable_nagle_algorithm = True

    def body_for(self, path):
        if path in FIXED:
            return FIXED[path]
        m = GEN.match(path)
        if m and int(m.group(1)) < GEN_COUNT:
            return (b"%08d" % int(m.group(1)) + GEN_BASE)[:GEN_SIZE]
        return None

    def answer(self, with_body):
        path = self.path.split("?", 1)[0]
        if path == "/__count":
            text = b"%d\n" % served.value
            self.send_response(200)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        if path == "/healthz":  # the edge's active health checks: not object requests
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with served.get_lock():
            served.value += 1
        body = self.body_for(path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", self.date_time_string(1700000000))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "max-age=43200")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass  # a client (wrk at the end of a round) closing its connection mid-answer is normal here

    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


servers = [Server(("127.0.0.1", PORT), Handler) for _ in range(PROCESSES)]  # all bound before any answers
for server in servers[1:]:
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM: the bench stops the first process only
        server.serve_forever()
servers[0].serve_forever()
