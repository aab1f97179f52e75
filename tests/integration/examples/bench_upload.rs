//! Upload benchmark of `bench/gateway.sh`: COUNT uploads of SIZE bytes, CONCURRENCY at once, either
//! through the edge's `[upload]` (HTTP/1.1 PUTs on keep-alive connections, as an application or a
//! browser sends them) or with `fdfs_client` (what `fdfs upload` runs), into the same cluster.
//! In-process for both, so neither pays a process start per file. Prints "seconds failures".
//!
//! bench_upload edge|fdfs TRACKER_OR_EDGE SIZE COUNT CONCURRENCY [TOKEN]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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

/// One PUT on `s`; true when it answered 201.
async fn put(s: &mut TcpStream, head: &[u8], body: &[u8], buf: &mut Vec<u8>) -> Res<bool> {
    s.write_all(head).await?;
    s.write_all(body).await?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < end + len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(head.starts_with("http/1.1 201"))
}

async fn run(args: Vec<String>) -> Res<()> {
    let way: String = arg(&args, 1, "edge or fdfs")?;
    let addr: String = arg(&args, 2, "address")?;
    let size: usize = arg(&args, 3, "size")?;
    let count: usize = arg(&args, 4, "count")?;
    let conc: usize = arg(&args, 5, "concurrency")?;
    let token: String = args.get(6).cloned().unwrap_or_default();
    let body: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i * 7 + i / 251) as u8).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let client = match way.as_str() {
        "fdfs" => {
            let (host, port) = addr.rsplit_once(':').ok_or("tracker ip:port")?;
            Some(
                Client::builder()
                    .tracker(ServerAddr::new(host, port.parse()?))
                    .build()?,
            )
        }
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
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let ok = match &client {
                    Some(c) => c
                        .upload(&body, &UploadOptions::new().ext("bin"))
                        .await
                        .is_ok(),
                    None => {
                        if conn.is_none() {
                            // as curl and browsers do: the header and the body go out at once
                            conn = TcpStream::connect(&addr)
                                .await
                                .ok()
                                .filter(|s| s.set_nodelay(true).is_ok());
                        }
                        match conn.as_mut() {
                            Some(s) => put(s, head.as_bytes(), &body, &mut buf)
                                .await
                                .unwrap_or(false),
                            None => false,
                        }
                    }
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                    conn = None;
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    println!(
        "{:.4} {}",
        start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );
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
