//! Client benchmark (`bench/client.sh`): the async client (`fdfs_client::client::Client`) against a
//! baseline measured in the same run — a minimal blocking `std::net` client that speaks the raw
//! frames of `fdfs_client::proto` with one thread per connection, i.e. the floor cost of the
//! protocol plus the cluster.
//!
//! Both do the same transfers:
//! - small: `BENCH_SMALL_OPS` (3200) uploads of 10 KiB at `BENCH_CONCURRENCY` (32) concurrent, then
//!   downloads of the same files (each op asks the tracker first, as FastDFS clients do): ops/s;
//! - large: one upload of `BENCH_LARGE_MIB` (256) MiB streamed from a generated pattern, then its
//!   download streamed into a checker: MB/s (10^6 bytes per second).
//!
//! Each phase runs `BENCH_ROUNDS` (5) times, baseline and client alternating which goes first, and
//! the best round of each counts (the machine is shared). Every phase runs in a fresh child process (this binary with `--worker`), so its peak memory
//! (VmHWM of /proc/self/status) is that transfer's alone; the cluster runs in the parent: the
//! emulator (one group, one storage, no replication) unless `FDFS_TEST_CLUSTER` names a real
//! cluster (tests/README.md). Downloads are checked byte for byte; files are deleted afterwards.
//! Prints the figures and the client/baseline ratios (ops/s and MB/s: higher is better for the
//! client; memory: lower is).
//!
//! With `BENCH_C_CLIENT` naming a build of `bench/c-client/cbench.c` (FastDFS's own C client
//! library; `bench/client.sh` builds it when the library is installed), the small phase also runs
//! it in every round, against the same cluster through a `client.conf` written here, and prints
//! the client/C ratios.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use fdfs_client::client::{Client, ServerAddr, UploadOptions};
use fdfs_client::proto::{
    DeleteFile, DownloadRequest, Header, QueryFetchOne, QueryStoreWithoutGroupOne, QueryUpdate,
    Reply, Request, StreamPrefix, UploadReply, UploadRequest, HEADER_LEN,
};
use fdfs_emu::ClusterConfig;
use fdfs_integration::cluster::{TestCluster, ENV_REAL_CLUSTER};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const SMALL_SIZE: usize = 10 * 1024;
/// The content pattern repeats with this (prime) period, so misplaced chunks are caught.
const PERIOD: usize = 65_521;
/// Largest chunk checked or generated at once.
const CHUNK: usize = 256 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// `PERIOD + CHUNK` bytes: byte `k` is `f(k % PERIOD)`, so any chunk of up to `CHUNK` bytes at
/// offset `o` is `pattern[o % PERIOD..][..len]`.
fn pattern() -> Vec<u8> {
    (0..PERIOD + CHUNK)
        .map(|k| {
            let i = (k % PERIOD) as u32;
            (i.wrapping_mul(2_654_435_761) >> 13) as u8
        })
        .collect()
}

fn pattern_at(pat: &[u8], offset: u64, len: usize) -> &[u8] {
    let start = (offset % PERIOD as u64) as usize;
    &pat[start..start + len]
}

/// Peak resident set of this process (VmHWM), KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// ------------------------------------------------------------------------------------------------
// driver

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = if args.get(1).map(String::as_str) == Some("--worker") {
        worker(args.get(2..).unwrap_or(&[]))
    } else {
        driver()
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_client: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Phase {
    figures: BTreeMap<String, f64>,
}

impl Phase {
    fn get(&self, k: &str) -> f64 {
        self.figures.get(k).copied().unwrap_or(f64::NAN)
    }

    /// Keeps the higher rate of each figure and the lower peak memory.
    fn keep_best(&mut self, other: &Phase) {
        for (k, v) in &other.figures {
            let e = self.figures.entry(k.clone()).or_insert(*v);
            *e = if k == "hwm_kib" { e.min(*v) } else { e.max(*v) };
        }
    }
}

fn run_worker(imp: &str, phase: &str, trackers: &str) -> Res<Phase> {
    let exe = std::env::current_exe()?;
    let stdout = child_stdout(
        Command::new(exe).args(["--worker", imp, phase, trackers]),
        &format!("worker {imp} {phase}"),
    )?;
    let line = stdout
        .lines()
        .find(|l| l.starts_with("result "))
        .ok_or_else(|| format!("worker {imp} {phase}: no result line in {stdout:?}"))?;
    let figures = line
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect();
    Ok(Phase { figures })
}

/// Runs `cmd` to its end: its standard output, or an error naming `what` with both outputs.
fn child_stdout(cmd: &mut Command, what: &str) -> Res<String> {
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(stdout)
}

fn driver() -> Res<()> {
    let small_ops = env_num("BENCH_SMALL_OPS", 3200);
    let conc = env_num("BENCH_CONCURRENCY", 32);
    let large_mib = env_num("BENCH_LARGE_MIB", 256);
    let rounds = env_num("BENCH_ROUNDS", 5);
    let cluster = TestCluster::try_start_with(
        ClusterConfig::builder()
            .groups(1)
            .storages_per_group(1)
            .build(),
    )
    .map_err(|e| format!("cluster: {e}"))?;
    let trackers: Vec<String> = cluster.trackers().iter().map(|t| t.to_string()).collect();
    let trackers = trackers.join(",");
    let c_client = CClient::from_env(&trackers)?;
    let what = if cluster.is_emulated() {
        "emulator (1 group x 1 storage, in the parent process)".to_owned()
    } else {
        format!("real cluster from {ENV_REAL_CLUSTER}")
    };
    println!("bench client: {what}; trackers {trackers}");
    println!(
        "  small: {small_ops} x 10 KiB upload then download at {conc} concurrent; large: 1 x {large_mib} MiB upload then download"
    );
    println!("  each phase in a fresh process, best of {rounds} rounds; baseline = blocking std::net + fdfs_client::proto frames, one thread per connection; client = multi-thread tokio runtime");

    // Each phase `rounds` times, baseline and client alternating which goes first; the best
    // round of each counts (the machine is shared: the best is the least disturbed).
    let mut best: BTreeMap<(&'static str, &'static str), Phase> = BTreeMap::new();
    for round in 0..rounds {
        for phase in ["small", "large"] {
            let order = if round % 2 == 0 {
                ["baseline", "client"]
            } else {
                ["client", "baseline"]
            };
            for imp in order {
                let p = run_worker(imp, phase, &trackers)?;
                best.entry((imp, phase))
                    .and_modify(|b| b.keep_best(&p))
                    .or_insert(p);
            }
            if let (Some(c), "small") = (&c_client, phase) {
                let p = c.small(small_ops, conc)?;
                best.entry(("c", phase))
                    .and_modify(|b| b.keep_best(&p))
                    .or_insert(p);
            }
        }
    }
    let mut take = |imp: &'static str, phase: &'static str| -> Res<Phase> {
        best.remove(&(imp, phase))
            .ok_or_else(|| format!("no {imp} {phase} figures").into())
    };
    let (bs, cs) = (take("baseline", "small")?, take("client", "small")?);
    let (bl, cl) = (take("baseline", "large")?, take("client", "large")?);

    println!();
    println!(
        "{:<34} {:>12} {:>12} {:>16}",
        "", "baseline", "client", "client/baseline"
    );
    let large_up = format!("large upload {large_mib} MiB (MB/s)");
    let large_down = format!("large download {large_mib} MiB (MB/s)");
    // Each row: its label, the phase it comes from (baseline, client), the figure, and what the
    // figure is divided by for display (peak RSS is kept in KiB and shown in MiB).
    for (label, (b, c), key, per) in [
        ("small upload (ops/s)", (&bs, &cs), "up_ops_s", 1.0),
        ("small download (ops/s)", (&bs, &cs), "down_ops_s", 1.0),
        ("small phase peak RSS (MiB)", (&bs, &cs), "hwm_kib", 1024.0),
        (large_up.as_str(), (&bl, &cl), "up_mb_s", 1.0),
        (large_down.as_str(), (&bl, &cl), "down_mb_s", 1.0),
        ("large phase peak RSS (MiB)", (&bl, &cl), "hwm_kib", 1024.0),
    ] {
        let (b, c) = (b.get(key) / per, c.get(key) / per);
        println!("{label:<34} {b:>12.1} {c:>12.1} {:>16.2}", c / b);
    }
    if let Some(c) = &c_client {
        let cc = take("c", "small")?;
        println!();
        println!(
            "{:<34} {:>12} {:>12} {:>16}",
            "", "C client", "client", "client/C"
        );
        for (label, key) in [
            ("small upload (ops/s)", "up_ops_s"),
            ("small download (ops/s)", "down_ops_s"),
        ] {
            let (b, c) = (cc.get(key), cs.get(key));
            println!("{label:<34} {b:>12.1} {c:>12.1} {:>16.2}", c / b);
        }
        println!("  C client: {}", c.exe);
    }
    println!();
    println!(
        "parent (cluster) peak RSS: {:.1} MiB",
        vm_hwm_kib() as f64 / 1024.0
    );
    drop(cluster);
    Ok(())
}

/// FastDFS's C client (`bench/c-client/cbench.c`), run as a child process per transfer.
struct CClient {
    exe: String,
    /// Holds the `client.conf` (and the C library's `base_path`).
    dir: tempfile::TempDir,
}

impl CClient {
    /// From `BENCH_C_CLIENT`; `None` when it is not set.
    fn from_env(trackers: &str) -> Res<Option<CClient>> {
        let Some(exe) = std::env::var("BENCH_C_CLIENT")
            .ok()
            .filter(|v| !v.is_empty())
        else {
            return Ok(None);
        };
        let dir = tempfile::tempdir()?;
        let mut conf = format!(
            "connect_timeout = 5\nnetwork_timeout = 60\nbase_path = {}\n\
             use_connection_pool = true\nlog_level = error\n",
            dir.path().display()
        );
        for t in trackers.split(',') {
            conf.push_str(&format!("tracker_server = {t}\n"));
        }
        std::fs::write(dir.path().join("client.conf"), conf)?;
        Ok(Some(CClient { exe, dir }))
    }

    /// The small phase: `ops` uploads, then `ops` downloads (each run uploads its own files
    /// first, untimed, and deletes what it uploaded).
    fn small(&self, ops: usize, conc: usize) -> Res<Phase> {
        let mut figures = BTreeMap::new();
        for (op, key) in [("upload", "up_ops_s"), ("download", "down_ops_s")] {
            figures.insert(key.to_owned(), self.run(op, ops, conc)?);
        }
        Ok(Phase { figures })
    }

    /// One `cbench` run: its ops/s (the last field of its one line of output).
    fn run(&self, op: &str, ops: usize, conc: usize) -> Res<f64> {
        let conf = self.dir.path().join("client.conf");
        let stdout = child_stdout(
            Command::new(&self.exe).arg(&conf).args([
                op,
                &SMALL_SIZE.to_string(),
                &ops.to_string(),
                &conc.to_string(),
            ]),
            &format!("{} {op}", self.exe),
        )?;
        stdout
            .split_whitespace()
            .last()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{} {op}: no ops/s in {stdout:?}", self.exe).into())
    }
}

// ------------------------------------------------------------------------------------------------
// workers

fn worker(args: &[String]) -> Res<()> {
    let [imp, phase, trackers] = args else {
        return Err(
            "usage: bench_client --worker baseline|client small|large ip:port[,ip:port]".into(),
        );
    };
    let trackers: Vec<String> = trackers.split(',').map(str::to_owned).collect();
    let conc = env_num("BENCH_CONCURRENCY", 32);
    let small_ops = env_num("BENCH_SMALL_OPS", 3200);
    let large = env_num("BENCH_LARGE_MIB", 256) as u64 * 1024 * 1024;
    let pat = Arc::new(pattern());
    let figures = match (imp.as_str(), phase.as_str()) {
        ("baseline", "small") => base::small(&trackers[0], &pat, small_ops, conc)?,
        ("baseline", "large") => base::large(&trackers[0], &pat, large)?,
        ("client", "small") => cli::small(&trackers, &pat, small_ops, conc)?,
        ("client", "large") => cli::large(&trackers, &pat, large)?,
        _ => return Err(format!("unknown worker {imp} {phase}").into()),
    };
    let mut line = String::from("result");
    for (k, v) in figures {
        line.push_str(&format!(" {k}={v}"));
    }
    line.push_str(&format!(" hwm_kib={}", vm_hwm_kib()));
    println!("{line}");
    Ok(())
}

fn ops_per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn mb_per_sec(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn split_id(id: &str) -> Res<(&str, &str)> {
    id.split_once('/')
        .ok_or_else(|| format!("bad file id {id:?}").into())
}

/// The baseline: blocking sockets, raw frames.
mod base {
    use super::*;

    /// A tracker connection and a storage connection, kept across operations.
    pub struct Conn {
        tracker_addr: String,
        tracker: Option<TcpStream>,
        storage: Option<(String, TcpStream)>,
    }

    fn connect(addr: &str) -> io::Result<TcpStream> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(s)
    }

    fn proto_err(e: impl std::fmt::Display) -> io::Error {
        io::Error::other(e.to_string())
    }

    /// Reads a reply header and checks it (RESP, status 0, at most `max`).
    fn read_header(s: &mut TcpStream, max: u64) -> io::Result<Header> {
        let mut hb = [0u8; HEADER_LEN];
        s.read_exact(&mut hb)?;
        let h = Header::decode(&hb);
        h.expect_reply(max).map_err(proto_err)?;
        Ok(h)
    }

    fn read_reply<R: Reply>(s: &mut TcpStream) -> io::Result<R> {
        let h = read_header(s, R::MAX_BODY)?;
        // Bounded by R::MAX_BODY (small) just above.
        let mut body = vec![0u8; h.body_len as usize];
        s.read_exact(&mut body)?;
        R::decode_reply(&h, &body).map_err(proto_err)
    }

    fn call<R: Request>(s: &mut TcpStream, req: &R) -> io::Result<R::Reply> {
        s.write_all(&req.to_frame())?;
        read_reply::<R::Reply>(s)
    }

    impl Conn {
        pub fn new(tracker: &str) -> Conn {
            Conn {
                tracker_addr: tracker.to_owned(),
                tracker: None,
                storage: None,
            }
        }

        fn tracker_call<R: Request>(&mut self, req: &R) -> io::Result<R::Reply> {
            if self.tracker.is_none() {
                self.tracker = Some(connect(&self.tracker_addr)?);
            }
            let Some(t) = self.tracker.as_mut() else {
                return Err(io::Error::other("no tracker connection"));
            };
            call(t, req)
        }

        fn storage(&mut self, addr: String) -> io::Result<&mut TcpStream> {
            if self.storage.as_ref().map(|(a, _)| a) != Some(&addr) {
                let s = connect(&addr)?;
                self.storage = Some((addr, s));
            }
            match self.storage.as_mut() {
                Some((_, s)) => Ok(s),
                None => Err(io::Error::other("no storage connection")),
            }
        }

        /// QUERY_STORE then UPLOAD_FILE with `len` bytes from `fill(offset, chunk)`.
        pub fn upload(
            &mut self,
            len: u64,
            mut fill: impl FnMut(u64, usize) -> Vec<u8>,
        ) -> io::Result<String> {
            let st = self.tracker_call(&QueryStoreWithoutGroupOne)?;
            let req = UploadRequest {
                store_path_index: st.store_path_index,
                file_size: len,
                ext: "bin".into(),
                appender: false,
            };
            let s = self.storage(format!("{}:{}", st.ip, st.port))?;
            let mut off = 0u64;
            let prefix = req.frame_prefix();
            if len <= CHUNK as u64 {
                // One write for header, prefix and content, as a small-file client would do.
                let mut frame = prefix;
                frame.extend_from_slice(&fill(0, len as usize));
                s.write_all(&frame)?;
            } else {
                s.write_all(&prefix)?;
                while off < len {
                    let n = (len - off).min(CHUNK as u64) as usize;
                    s.write_all(&fill(off, n))?;
                    off += n as u64;
                }
            }
            let r: UploadReply = read_reply(s)?;
            Ok(r.file_id())
        }

        /// QUERY_FETCH then DOWNLOAD_FILE; `sink(offset, chunk)` sees the content.
        pub fn download(
            &mut self,
            id: &str,
            buf: &mut [u8],
            mut sink: impl FnMut(u64, &[u8]) -> io::Result<()>,
        ) -> io::Result<u64> {
            let (group, filename) = split_id(id).map_err(proto_err)?;
            let fs = self.tracker_call(&QueryFetchOne::new(group, filename))?;
            let req = DownloadRequest {
                offset: 0,
                bytes: 0,
                group: group.into(),
                filename: filename.into(),
            };
            let s = self.storage(format!("{}:{}", fs.ip, fs.port))?;
            s.write_all(&req.to_frame())?;
            let h = read_header(s, req.max_reply_body())?;
            let mut off = 0u64;
            while off < h.body_len {
                let want = (h.body_len - off).min(buf.len() as u64) as usize;
                let n = s.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                sink(off, &buf[..n])?;
                off += n as u64;
            }
            Ok(off)
        }

        pub fn delete(&mut self, id: &str) -> io::Result<()> {
            let (group, filename) = split_id(id).map_err(proto_err)?;
            let fs = self.tracker_call(&QueryUpdate::new(group, filename))?;
            let s = self.storage(format!("{}:{}", fs.ip, fs.port))?;
            call(s, &DeleteFile::new(group, filename)).map(|_| ())
        }
    }

    fn check(pat: &[u8], off: u64, got: &[u8]) -> io::Result<()> {
        if got == pattern_at(pat, off, got.len()) {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "content mismatch near offset {off}"
            )))
        }
    }

    /// Runs `op(conn, index)` for `0..n` on `conc` threads, each with its own connections.
    fn parallel<T: Send + 'static>(
        tracker: &str,
        n: usize,
        conc: usize,
        op: impl Fn(&mut Conn, usize) -> io::Result<T> + Send + Sync + 'static,
    ) -> Res<(Duration, Vec<T>)> {
        let next = Arc::new(AtomicUsize::new(0));
        let out = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let op = Arc::new(op);
        let start = Arc::new(Barrier::new(conc + 1));
        let mut handles = Vec::new();
        for _ in 0..conc {
            let (next, out, op, start) = (next.clone(), out.clone(), op.clone(), start.clone());
            let tracker = tracker.to_owned();
            handles.push(std::thread::spawn(move || -> io::Result<()> {
                let mut c = Conn::new(&tracker);
                start.wait();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    let v = op(&mut c, i)?;
                    if let Ok(mut o) = out.lock() {
                        o.push(v);
                    }
                }
            }));
        }
        start.wait();
        let t0 = Instant::now();
        for h in handles {
            h.join().map_err(|_| "baseline thread panicked")??;
        }
        let d = t0.elapsed();
        let v = std::mem::take(&mut *out.lock().map_err(|_| "poisoned")?);
        Ok((d, v))
    }

    pub fn small(
        tracker: &str,
        pat: &Arc<Vec<u8>>,
        n: usize,
        conc: usize,
    ) -> Res<Vec<(&'static str, f64)>> {
        let p = pat.clone();
        let (up, ids) = parallel(tracker, n, conc, move |c, _| {
            c.upload(SMALL_SIZE as u64, |off, len| {
                pattern_at(&p, off, len).to_vec()
            })
        })?;
        let ids = Arc::new(ids);
        let (p, ids2) = (pat.clone(), ids.clone());
        let (down, _) = parallel(tracker, ids.len(), conc, move |c, i| {
            let mut buf = vec![0u8; SMALL_SIZE];
            let got = c.download(&ids2[i], &mut buf, |off, chunk| check(&p, off, chunk))?;
            if got == SMALL_SIZE as u64 {
                Ok(())
            } else {
                Err(io::Error::other(format!("downloaded {got} bytes")))
            }
        })?;
        let ids3 = ids.clone();
        parallel(tracker, ids.len(), conc, move |c, i| c.delete(&ids3[i]))?;
        Ok(vec![
            ("up_ops_s", ops_per_sec(n, up)),
            ("down_ops_s", ops_per_sec(n, down)),
        ])
    }

    pub fn large(tracker: &str, pat: &[u8], len: u64) -> Res<Vec<(&'static str, f64)>> {
        let mut c = Conn::new(tracker);
        let t0 = Instant::now();
        let id = c.upload(len, |off, n| pattern_at(pat, off, n).to_vec())?;
        let up = t0.elapsed();
        let mut buf = vec![0u8; CHUNK];
        let t0 = Instant::now();
        let got = c.download(&id, &mut buf, |off, chunk| check(pat, off, chunk))?;
        let down = t0.elapsed();
        c.delete(&id)?;
        if got != len {
            return Err(format!("downloaded {got} of {len} bytes").into());
        }
        Ok(vec![
            ("up_mb_s", mb_per_sec(len, up)),
            ("down_mb_s", mb_per_sec(len, down)),
        ])
    }
}

/// The async client.
mod cli {
    use super::*;

    fn client(trackers: &[String]) -> Res<Client> {
        let mut b = Client::builder();
        for t in trackers {
            let (host, port) = t
                .rsplit_once(':')
                .ok_or_else(|| format!("bad tracker {t:?}"))?;
            b = b.tracker(ServerAddr::new(host, port.parse()?));
        }
        Ok(b.build()?)
    }

    /// The default multi-thread runtime (one worker per core).
    fn runtime() -> Res<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?)
    }

    /// Produces `left` bytes of the pattern.
    struct PatternReader {
        pat: Arc<Vec<u8>>,
        off: u64,
        left: u64,
    }

    impl AsyncRead for PatternReader {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = (buf.remaining() as u64).min(self.left).min(CHUNK as u64) as usize;
            let chunk = pattern_at(&self.pat, self.off, n);
            buf.put_slice(chunk);
            self.off += n as u64;
            self.left -= n as u64;
            Poll::Ready(Ok(()))
        }
    }

    /// Checks what is written against the pattern.
    struct CheckWriter {
        pat: Arc<Vec<u8>>,
        off: u64,
    }

    impl AsyncWrite for CheckWriter {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(CHUNK);
            if buf[..n] != *pattern_at(&self.pat, self.off, n) {
                let off = self.off;
                return Poll::Ready(Err(io::Error::other(format!(
                    "content mismatch near offset {off}"
                ))));
            }
            self.off += n as u64;
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Runs `op(client, i)` for `0..n` on `conc` tasks.
    async fn parallel<T, F, Fut>(
        client: &Client,
        n: usize,
        conc: usize,
        op: F,
    ) -> Res<(Duration, Vec<T>)>
    where
        T: Send + 'static,
        F: Fn(Client, usize) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = Res<T>> + Send,
    {
        let next = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..conc {
            let (next, client, op) = (next.clone(), client.clone(), op.clone());
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, BoxError>(out);
                    }
                    out.push(op(client.clone(), i).await?);
                }
            }));
        }
        let mut all = Vec::with_capacity(n);
        for t in tasks {
            all.extend(t.await??);
        }
        Ok((t0.elapsed(), all))
    }

    pub fn small(
        trackers: &[String],
        pat: &Arc<Vec<u8>>,
        n: usize,
        conc: usize,
    ) -> Res<Vec<(&'static str, f64)>> {
        let rt = runtime()?;
        let client = client(trackers)?;
        let data: Arc<Vec<u8>> = Arc::new(pattern_at(pat, 0, SMALL_SIZE).to_vec());
        rt.block_on(async {
            let d = data.clone();
            let (up, ids) = parallel(&client, n, conc, move |c, _| {
                let d = d.clone();
                async move { Ok(c.upload(&d, &UploadOptions::new().ext("bin")).await?) }
            })
            .await?;
            let ids = Arc::new(ids);
            let (ids2, d) = (ids.clone(), data.clone());
            let (down, _) = parallel(&client, ids.len(), conc, move |c, i| {
                let (ids, d) = (ids2.clone(), d.clone());
                async move {
                    let got = c.download(&ids[i]).await?;
                    if got == *d {
                        Ok(())
                    } else {
                        Err(BoxError::from(format!("content mismatch in {}", ids[i])))
                    }
                }
            })
            .await?;
            let ids3 = ids.clone();
            parallel(&client, ids.len(), conc, move |c, i| {
                let ids = ids3.clone();
                async move { Ok(c.delete(&ids[i]).await?) }
            })
            .await?;
            Ok(vec![
                ("up_ops_s", ops_per_sec(n, up)),
                ("down_ops_s", ops_per_sec(n, down)),
            ])
        })
    }

    pub fn large(
        trackers: &[String],
        pat: &Arc<Vec<u8>>,
        len: u64,
    ) -> Res<Vec<(&'static str, f64)>> {
        let rt = runtime()?;
        let client = client(trackers)?;
        rt.block_on(async {
            let mut src = PatternReader {
                pat: pat.clone(),
                off: 0,
                left: len,
            };
            let t0 = Instant::now();
            let id = client
                .upload_reader(&mut src, len, &UploadOptions::new().ext("bin"))
                .await?;
            let up = t0.elapsed();
            let mut sink = CheckWriter {
                pat: pat.clone(),
                off: 0,
            };
            let t0 = Instant::now();
            let got = client.download_to(&id, 0, None, &mut sink).await?;
            let down = t0.elapsed();
            client.delete(&id).await?;
            if got != len {
                return Err(format!("downloaded {got} of {len} bytes").into());
            }
            Ok(vec![
                ("up_mb_s", mb_per_sec(len, up)),
                ("down_mb_s", mb_per_sec(len, down)),
            ])
        })
    }
}
