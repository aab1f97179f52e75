//! Upload benchmark of `bench/gateway.sh`: COUNT uploads of SIZE bytes, CONCURRENCY at once, either
//! through the edge's `[upload]` (HTTP/1.1 PUTs on keep-alive connections, as an application or a
//! browser sends them) or with `fdfs_client` (what `fdfs upload` runs), into the same cluster.
//! In-process for both, so neither pays a process start per file. Prints "seconds failures", then
//! deletes what it stored (not timed: through the edge's `DELETE`, or with the client), so that
//! rounds do not fill the disk; with `BENCH_UPLOAD_IDS=<file>` it lists the ids there instead, for
//! a later `delete-edge|delete-fdfs ADDRESS <file> CONCURRENCY [TOKEN]` (a bench that measures the
//! servers' CPU around the uploads alone).
//!
//! bench_upload edge|fdfs TRACKER_OR_EDGE SIZE COUNT CONCURRENCY [TOKEN]
//! bench_upload delete-edge|delete-fdfs EDGE_OR_TRACKER IDS_FILE CONCURRENCY [TOKEN]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fdfs_client::client::{Client, ServerAddr, UploadOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Res<T> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("argument {i}: {what} expected").into())
}

/// Appends what `s` has next to `buf`; the end of the connection is an error.
async fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) -> Res<()> {
    let mut chunk = [0u8; 4096];
    let n = s.read(&mut chunk).await?;
    if n == 0 {
        return Err("connection closed".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Reads one answer on `s` into `buf`; returns its status line and header (lowercase) and where
/// its body starts.
async fn answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> Res<(String, usize)> {
    buf.clear();
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        read_more(s, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < end + len {
        read_more(s, buf).await?;
    }
    Ok((head, end))
}

/// The task's keep-alive connection to `addr`, opened when there is none; with `TCP_NODELAY`, as
/// curl and browsers: a request (its header and body) goes out at once.
async fn keep_alive<'c>(conn: &'c mut Option<TcpStream>, addr: &str) -> Option<&'c mut TcpStream> {
    if conn.is_none() {
        *conn = TcpStream::connect(addr)
            .await
            .ok()
            .filter(|s| s.set_nodelay(true).is_ok());
    }
    conn.as_mut()
}

/// One PUT on `s`; the stored file's id when it answered 201.
async fn put(s: &mut TcpStream, head: &[u8], body: &[u8], buf: &mut Vec<u8>) -> Res<String> {
    s.write_all(head).await?;
    s.write_all(body).await?;
    let (head, end) = answer(s, buf).await?;
    if !head.starts_with("http/1.1 201") {
        return Err(head.lines().next().unwrap_or("").to_string().into());
    }
    let json: serde_json::Value = serde_json::from_slice(&buf[end..])?;
    let id = json["file_id"].as_str().map(str::to_string);
    id.ok_or_else(|| format!("no file id in {json}").into())
}

/// One DELETE on `s`; true when it answered 204.
async fn delete(
    s: &mut TcpStream,
    addr: &str,
    token: &str,
    id: &str,
    buf: &mut Vec<u8>,
) -> Res<bool> {
    let req =
        format!("DELETE /{id} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let (head, _) = answer(s, buf).await?;
    Ok(head.starts_with("http/1.1 204"))
}

/// Deletes what a run stored (not timed), so that rounds do not fill the disk: through the edge
/// (`DELETE`) or with the client, CONCURRENCY at once; says how many failed.
async fn delete_stored(
    ids: Vec<String>,
    client: Option<Client>,
    addr: String,
    token: String,
    conc: usize,
) {
    let stored = ids.len();
    let ids = Arc::new(Mutex::new(ids));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (ids, failed, client) = (ids.clone(), failed.clone(), client.clone());
        let (addr, token) = (addr.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<TcpStream> = None;
            let mut buf = Vec::new();
            loop {
                let Some(id) = ids.lock().ok().and_then(|mut v| v.pop()) else {
                    return;
                };
                let ok = match &client {
                    Some(c) => c.delete(&id).await.is_ok(),
                    None => match keep_alive(&mut conn, &addr).await {
                        Some(s) => delete(s, &addr, &token, &id, &mut buf)
                            .await
                            .unwrap_or(false),
                        None => false,
                    },
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                    conn = None;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let not_deleted = failed.load(Ordering::Relaxed);
    if not_deleted > 0 {
        eprintln!("bench_upload: {not_deleted} of the {stored} files stored were not deleted");
    }
}

fn fdfs_client(tracker: &str) -> Res<Client> {
    let (host, port) = tracker.rsplit_once(':').ok_or("tracker ip:port")?;
    Ok(Client::builder()
        .tracker(ServerAddr::new(host, port.parse()?))
        .build()?)
}

/// `delete-edge|delete-fdfs ADDRESS IDS_FILE CONCURRENCY [TOKEN]`: deletes the files a run listed.
async fn delete_listed(args: &[String], through_edge: bool) -> Res<()> {
    let addr: String = arg(args, 2, "address")?;
    let file: String = arg(args, 3, "file of ids")?;
    let conc: usize = arg(args, 4, "concurrency")?;
    let token = args.get(5).cloned().unwrap_or_default();
    let ids = std::fs::read_to_string(&file)?;
    let ids = ids.lines().filter(|l| !l.is_empty()).map(str::to_string);
    let client = if through_edge {
        None
    } else {
        Some(fdfs_client(&addr)?)
    };
    delete_stored(ids.collect(), client, addr, token, conc).await;
    Ok(())
}

async fn run(args: Vec<String>) -> Res<()> {
    let way: String = arg(&args, 1, "edge or fdfs")?;
    match way.as_str() {
        "delete-edge" => return delete_listed(&args, true).await,
        "delete-fdfs" => return delete_listed(&args, false).await,
        _ => {}
    }
    let addr: String = arg(&args, 2, "address")?;
    let size: usize = arg(&args, 3, "size")?;
    let count: usize = arg(&args, 4, "count")?;
    let conc: usize = arg(&args, 5, "concurrency")?;
    let token: String = args.get(6).cloned().unwrap_or_default();
    let body: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i * 7 + i / 251) as u8).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let client = match way.as_str() {
        "fdfs" => Some(fdfs_client(&addr)?),
        _ => None,
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (body, next, failed, client) =
            (body.clone(), next.clone(), failed.clone(), client.clone());
        let head = format!(
            "PUT /group1/x.bin HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {size}\r\n\r\n"
        );
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<TcpStream> = None;
            let mut buf = Vec::new();
            let mut stored = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let id = match &client {
                    Some(c) => c.upload(&body, &UploadOptions::new().ext("bin")).await.ok(),
                    None => match keep_alive(&mut conn, &addr).await {
                        Some(s) => put(s, head.as_bytes(), &body, &mut buf).await.ok(),
                        None => None,
                    },
                };
                match id {
                    Some(id) => stored.push(id),
                    None => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        conn = None;
                    }
                }
            }
            stored
        }));
    }
    let mut stored = Vec::new();
    for t in tasks {
        stored.extend(t.await?);
    }
    println!(
        "{:.4} {}",
        start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );
    match std::env::var_os("BENCH_UPLOAD_IDS") {
        Some(path) => std::fs::write(path, stored.join("\n"))?,
        None => delete_stored(stored, client, addr, token, conc).await,
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(std::env::args().collect()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_upload: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
