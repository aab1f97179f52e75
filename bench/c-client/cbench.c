/*
 * cbench: the C side of bench/client.sh. The same 10 KiB transfers as
 * tests/integration/examples/bench_client.rs, made with FastDFS's own C client
 * library (libfdfsclient, libfastcommon, libserverframe: not part of this
 * repository; bench/client.sh builds this file only when they are installed).
 *
 * usage: cbench <client.conf> <upload|download> <file_size_bytes> <count> <threads>
 *
 * Each of <threads> pthreads does its share (count/threads, the remainder spread
 * over the first threads) of operations.  Every operation asks the tracker first
 * and then talks to the storage, as fdfs_test / fdfs_upload_file do:
 *   upload:   tracker_query_storage_store + storage_upload_by_filebuff1
 *   download: tracker_query_storage_fetch1 + storage_download_file_to_buff1
 *             (the files are uploaded first, untimed; size and content checked)
 * All files uploaded are deleted at the end (untimed).
 *
 * Connections (env CBENCH_CONN):
 *   held (default): each thread takes one tracker connection and one storage
 *       connection from the library (tracker_make_connection(): from the
 *       library's connection pool when client.conf has use_connection_pool = true,
 *       a private connect otherwise) before the timed part and passes them,
 *       already connected, to every call; they are given back at the end.
 *       No lock and no connect in the timed loop.
 *   pool: every operation checks its tracker and storage connections out of the
 *       library's pool and gives them back (tracker_make_connection /
 *       tracker_close_connection_ex), the way code that just calls the API per
 *       request does; needs use_connection_pool = true.
 *
 * Prints one line on stdout: <op> <size> <count> <threads> <seconds> <ops_per_s>
 * Exits non-zero with a message on stderr on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include "fdfs_client.h"
#include "fastcommon/logger.h"
#include "fastcommon/sockopt.h"
#include "fastcommon/shared_func.h"

#define FILE_ID_SIZE 128
#define FILE_EXT "bin"

enum { MODE_HELD, MODE_POOL };
enum { OP_UPLOAD, OP_DOWNLOAD, OP_DELETE };

static int g_mode = MODE_HELD;
static int64_t g_size;
static int g_count;
static int g_threads;
static char *g_base;            /* random content; file i = g_base with i stamped in */
static char (*g_ids)[FILE_ID_SIZE];
static volatile int g_failed = 0;
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_err_msg[512];
static pthread_barrier_t g_barrier;

static void fail(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&g_err_lock);
    if (!g_failed) {
        va_start(ap, fmt);
        vsnprintf(g_err_msg, sizeof(g_err_msg), fmt, ap);
        va_end(ap);
        __sync_synchronize();
        g_failed = 1;
    }
    pthread_mutex_unlock(&g_err_lock);
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stamp(char *buf, int64_t index)
{
    uint64_t v = (uint64_t)index * 0x9E3779B97F4A7C15ULL + 1;
    int64_t n = g_size < (int64_t)sizeof(v) ? g_size : (int64_t)sizeof(v);
    memcpy(buf, &v, n);
}

typedef struct {
    int index;
    int start, end;             /* file indices [start, end) */
    int op;
    int timed;
    ConnectionInfo tracker_tmpl;  /* thread-owned address (and socket without pool) */
    ConnectionInfo storage_tmpl;
    ConnectionInfo *tracker;
    ConnectionInfo *storage;
    char *buf;                  /* this thread's copy of the content */
} Worker;

static void release(ConnectionInfo **conn, bool force)
{
    if (*conn != NULL) {
        tracker_close_connection_ex(*conn, force);
        *conn = NULL;
    }
}

static int get_tracker(Worker *w)
{
    int result = 0;
    if (w->tracker == NULL) {
        w->tracker = tracker_make_connection(&w->tracker_tmpl, &result);
        if (w->tracker == NULL) {
            fail("thread %d: connect to tracker %s:%u fail, errno %d: %s", w->index,
                 w->tracker_tmpl.ip_addr, w->tracker_tmpl.port, result, STRERROR(result));
            return result != 0 ? result : ECONNREFUSED;
        }
    }
    return 0;
}

/* make w->storage a connection to `server` (ip and port from a tracker query) */
static int get_storage(Worker *w, const ConnectionInfo *server)
{
    int result = 0;
    if (w->storage != NULL) {
        if (w->storage->port == server->port &&
            strcmp(w->storage->ip_addr, server->ip_addr) == 0) {
            return 0;
        }
        release(&w->storage, false);
    }
    w->storage_tmpl = *server;
    w->storage_tmpl.sock = -1;
    w->storage = tracker_make_connection(&w->storage_tmpl, &result);
    if (w->storage == NULL) {
        fail("thread %d: connect to storage %s:%u fail, errno %d: %s", w->index,
             server->ip_addr, server->port, result, STRERROR(result));
        return result != 0 ? result : ECONNREFUSED;
    }
    return 0;
}

/* tracker query for file i (store for upload, fetch for download, update for
 * delete), then a storage connection to the storage it names */
static int query_and_connect(Worker *w, int i, char *group_name, int *store_path_index)
{
    ConnectionInfo server;
    int result;

    if ((result = get_tracker(w)) != 0) {
        return result;
    }
    memset(&server, 0, sizeof(server));
    server.sock = -1;
    switch (w->op) {
    case OP_UPLOAD:
        *group_name = '\0';
        result = tracker_query_storage_store(w->tracker, &server, group_name, store_path_index);
        break;
    case OP_DOWNLOAD:
        result = tracker_query_storage_fetch1(w->tracker, &server, g_ids[i]);
        break;
    default:
        result = tracker_query_storage_update1(w->tracker, &server, g_ids[i]);
        break;
    }
    if (result != 0) {
        release(&w->tracker, true);
        fail("thread %d: tracker query (%s) fail, errno %d: %s", w->index,
             w->op == OP_UPLOAD ? "store" : w->op == OP_DOWNLOAD ? "fetch" : "update",
             result, STRERROR(result));
        return result;
    }
    return get_storage(w, &server);
}

static int do_one(Worker *w, int i)
{
    char group_name[FDFS_GROUP_NAME_MAX_LEN + 1];
    int store_path_index = 0;
    int result;
    char *file_buff;
    int64_t file_size;

    if ((result = query_and_connect(w, i, group_name, &store_path_index)) != 0) {
        return result;
    }
    switch (w->op) {
    case OP_UPLOAD:
        stamp(w->buf, i);
        result = storage_upload_by_filebuff1(w->tracker, w->storage, store_path_index,
                w->buf, g_size, FILE_EXT, NULL, 0, group_name, g_ids[i]);
        if (result != 0) {
            fail("thread %d: storage_upload_by_filebuff1 fail, errno %d: %s",
                 w->index, result, STRERROR(result));
        }
        break;
    case OP_DOWNLOAD:
        file_buff = NULL;
        file_size = 0;
        result = storage_download_file_to_buff1(w->tracker, w->storage, g_ids[i],
                &file_buff, &file_size);
        if (result != 0) {
            fail("thread %d: storage_download_file_to_buff1 %s fail, errno %d: %s",
                 w->index, g_ids[i], result, STRERROR(result));
        } else if (file_size != g_size) {
            fail("thread %d: %s: downloaded %"PRId64" bytes, expected %"PRId64,
                 w->index, g_ids[i], file_size, g_size);
            result = EIO;
        } else {
            stamp(w->buf, i);
            if (memcmp(file_buff, w->buf, g_size) != 0) {
                fail("thread %d: %s: content differs from what was uploaded",
                     w->index, g_ids[i]);
                result = EIO;
            }
        }
        free(file_buff);
        break;
    default:
        result = storage_delete_file1(w->tracker, w->storage, g_ids[i]);
        if (result != 0) {
            fail("thread %d: storage_delete_file1 %s fail, errno %d: %s",
                 w->index, g_ids[i], result, STRERROR(result));
        } else {
            g_ids[i][0] = '\0';
        }
        break;
    }
    if (result != 0) {      /* the connection's state is unknown: close it */
        release(&w->storage, true);
    } else if (g_mode == MODE_POOL) {
        release(&w->storage, false);
        release(&w->tracker, false);
    }
    return result;
}

static void *worker_main(void *arg)
{
    Worker *w = (Worker *)arg;
    int i;
    char group_name[FDFS_GROUP_NAME_MAX_LEN + 1];
    int spi;

    /* held mode: connect before the clock starts (the first tracker query
     * tells which storage; each operation still asks the tracker) */
    if (g_mode == MODE_HELD && w->start < w->end && !g_failed &&
        (w->op == OP_UPLOAD || g_ids[w->start][0] != '\0')) {
        query_and_connect(w, w->start, group_name, &spi);
    }
    if (w->timed) {
        pthread_barrier_wait(&g_barrier);
    }
    for (i = w->start; i < w->end && (!g_failed || w->op == OP_DELETE); i++) {
        if (w->op == OP_DELETE && g_ids[i][0] == '\0') {
            continue;       /* never uploaded */
        }
        if (do_one(w, i) != 0 && w->op != OP_DELETE) {
            break;
        }
    }
    if (w->timed) {
        pthread_barrier_wait(&g_barrier);
    }
    release(&w->storage, g_failed);
    release(&w->tracker, g_failed);
    return NULL;
}

/* runs `op` over all files with g_threads threads; returns seconds (timed:
 * from all threads ready to all done) or -1 if a thread failed */
static double run(int op, int timed, Worker *workers)
{
    pthread_t *tids = calloc(g_threads, sizeof(pthread_t));
    int per = g_count / g_threads, extra = g_count % g_threads;
    int t, start = 0, result;
    double t0 = 0, t1 = 0;

    if (tids == NULL) {
        fail("calloc fail");
        return -1;
    }
    if (timed && pthread_barrier_init(&g_barrier, NULL, g_threads + 1) != 0) {
        fail("pthread_barrier_init fail");
        return -1;
    }
    for (t = 0; t < g_threads; t++) {
        Worker *w = workers + t;
        TrackerServerInfo *ts = g_tracker_group.servers + t % g_tracker_group.server_count;
        w->index = t;
        w->op = op;
        w->timed = timed;
        w->start = start;
        w->end = start + per + (t < extra ? 1 : 0);
        start = w->end;
        w->tracker_tmpl = ts->connections[ts->index];
        w->tracker_tmpl.sock = -1;
        w->tracker = NULL;
        w->storage = NULL;
        if ((result = pthread_create(tids + t, NULL, worker_main, w)) != 0) {
            fprintf(stderr, "pthread_create fail: %s\n", STRERROR(result));
            exit(2);
        }
    }
    if (timed) {
        pthread_barrier_wait(&g_barrier);
        t0 = now_sec();
        pthread_barrier_wait(&g_barrier);
        t1 = now_sec();
    }
    for (t = 0; t < g_threads; t++) {
        pthread_join(tids[t], NULL);
    }
    if (timed) {
        pthread_barrier_destroy(&g_barrier);
    }
    free(tids);
    return g_failed ? -1 : t1 - t0;
}

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s <client.conf> <upload|download> <file_size_bytes> <count> <threads>\n"
            "  env CBENCH_CONN=held (default) | pool\n", prog);
}

int main(int argc, char *argv[])
{
    const char *conf, *opname, *mode;
    int op, t, result, rc = 0;
    double secs;
    Worker *workers;

    if (argc != 6) {
        usage(argv[0]);
        return 2;
    }
    conf = argv[1];
    opname = argv[2];
    g_size = strtoll(argv[3], NULL, 10);
    g_count = atoi(argv[4]);
    g_threads = atoi(argv[5]);
    if (strcmp(opname, "upload") == 0) {
        op = OP_UPLOAD;
    } else if (strcmp(opname, "download") == 0) {
        op = OP_DOWNLOAD;
    } else {
        usage(argv[0]);
        return 2;
    }
    if (g_size <= 0 || g_count <= 0 || g_threads <= 0) {
        usage(argv[0]);
        return 2;
    }
    if (g_threads > g_count) {
        g_threads = g_count;
    }
    mode = getenv("CBENCH_CONN");
    if (mode == NULL || *mode == '\0' || strcmp(mode, "held") == 0) {
        g_mode = MODE_HELD;
    } else if (strcmp(mode, "pool") == 0) {
        g_mode = MODE_POOL;
    } else {
        fprintf(stderr, "CBENCH_CONN must be held or pool, not %s\n", mode);
        return 2;
    }

    log_init();
    g_log_context.log_level = LOG_ERR;
    ignore_signal_pipe();
    if ((result = fdfs_client_init(conf)) != 0) {
        fprintf(stderr, "fdfs_client_init(%s) fail, errno %d: %s\n", conf, result, STRERROR(result));
        return 1;
    }
    if (g_mode == MODE_POOL && !g_use_connection_pool) {
        fprintf(stderr, "CBENCH_CONN=pool needs use_connection_pool = true in %s\n", conf);
        return 1;
    }
    fprintf(stderr, "cbench: conn=%s, use_connection_pool=%d, trackers=%d\n",
            g_mode == MODE_HELD ? "held" : "pool", g_use_connection_pool,
            g_tracker_group.server_count);

    g_base = malloc(g_size);
    g_ids = calloc(g_count, FILE_ID_SIZE);
    workers = calloc(g_threads, sizeof(Worker));
    if (g_base == NULL || g_ids == NULL || workers == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    {
        uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x2545F4914F6CDD1DULL;
        int64_t k;
        for (k = 0; k < g_size; k++) {      /* xorshift64 */
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            g_base[k] = (char)(x >> 24);
        }
    }
    for (t = 0; t < g_threads; t++) {
        workers[t].buf = malloc(g_size);
        if (workers[t].buf == NULL) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        memcpy(workers[t].buf, g_base, g_size);
    }

    if (op == OP_UPLOAD) {
        secs = run(OP_UPLOAD, 1, workers);
    } else {
        secs = run(OP_UPLOAD, 0, workers);           /* untimed preparation */
        if (secs >= 0) {
            secs = run(OP_DOWNLOAD, 1, workers);
        }
    }
    if (secs < 0) {
        fprintf(stderr, "cbench: %s\n", g_err_msg);
        rc = 1;
    } else {
        printf("%s %"PRId64" %d %d %.3f %.1f\n", opname, g_size, g_count, g_threads,
               secs, secs > 0 ? g_count / secs : 0.0);
        fflush(stdout);
    }

    /* cleanup: delete every file that was uploaded (untimed) */
    g_failed = 0;
    *g_err_msg = '\0';
    run(OP_DELETE, 0, workers);
    if (g_failed) {
        fprintf(stderr, "cbench: delete: %s\n", g_err_msg);
        rc = 1;
    }
    for (t = 0; t < g_threads; t++) {
        free(workers[t].buf);
    }
    free(workers);
    free(g_ids);
    free(g_base);
    fdfs_client_destroy();
    return rc;
}
