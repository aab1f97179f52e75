//! The suites' HTTP client: one request per fresh connection (`Connection: close`), one [`Response`],
//! one request writer and one head parser, over a blocking socket ([`request`], for the synchronous
//! suites) or a tokio one ([`http`], [`http_streamed`]: framing, chunked bodies, a chosen local
//! address for the purge ACL tests).
//!
//! Deliberately raw (no HTTP library): the suites check exactly what nginx and the edge put on the
//! wire, including bytes a library would hide (a body after a 304, a duplicate header).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines in order (name, value).
    pub headers: Vec<(String, String)>,
    /// The body: for [`request`], every byte after the header block (so a body sent after a 304 shows
    /// up); for [`http`], the framed body (Content-Length or de-chunked; none for HEAD, 204, 304).
    pub body: Vec<u8>,
}

impl Response {
    /// First header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// `X-Cache-Status` (set by the edge), or "".
    pub fn cache_status(&self) -> &str {
        self.header("x-cache-status").unwrap_or("")
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The request text: request line, `Host: addr` (unless `extra` has a Host line), `Connection: close`,
/// then `extra` header lines (`Name: value`) in order.
fn request_text(addr: SocketAddr, method: &str, target: &str, extra: &[String]) -> String {
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !extra
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    req.push_str("Connection: close\r\n");
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req
}

/// Where `n` starts in `h`.
pub(crate) fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// The status (`None` if the status line is not one) and the headers of a response head (the bytes
/// before the blank line).
fn parse_head(head: &[u8]) -> (Option<u16>, Vec<(String, String)>) {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// Send `method target` with extra header lines and `Connection: close` over a blocking socket; read
/// everything until the server closes.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let extra: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    s.write_all(request_text(addr, method, target, &extra).as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse_response(&buf)
}

/// Parse a raw response (everything after the head is the body).
pub fn parse_response(buf: &[u8]) -> io::Result<Response> {
    let end = find(buf, b"\r\n\r\n").ok_or_else(|| {
        io::Error::other(format!(
            "no header end in {:?}",
            String::from_utf8_lossy(buf)
        ))
    })?;
    let (status, headers) = parse_head(&buf[..end]);
    let status = status.ok_or_else(|| {
        let line = String::from_utf8_lossy(&buf[..end]);
        io::Error::other(format!(
            "bad status line {:?}",
            line.split("\r\n").next().unwrap_or("")
        ))
    })?;
    Ok(Response {
        status,
        headers,
        body: buf[end + 4..].to_vec(),
    })
}

/// One request over a fresh tokio connection (`Connection: close`), optionally from `bind` as local
/// address. `extra` headers are raw `Name: value` lines. Bodies are read until EOF (or Content-Length).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[&str],
    bind: Option<IpAddr>,
) -> io::Result<Response> {
    let (status, headers, body, _) = http_inner(addr, method, path, extra, bind, true).await?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Like [`http`] but does not keep the body: returns status, headers, body length and a FNV-1a hash.
pub async fn http_streamed(
    addr: SocketAddr,
    path: &str,
) -> io::Result<(u16, Vec<(String, String)>, u64, u64)> {
    let (status, headers, _, (len, hash)) = http_inner(addr, "GET", path, &[], None, false).await?;
    Ok((status, headers, len, hash))
}

type Parsed = (u16, Vec<(String, String)>, Vec<u8>, (u64, u64));

async fn http_inner(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[&str],
    bind: Option<IpAddr>,
    keep: bool,
) -> io::Result<Parsed> {
    let sock = TcpSocket::new_v4()?;
    if let Some(ip) = bind {
        sock.bind(SocketAddr::new(ip, 0))?;
    }
    let mut s = sock.connect(addr).await?;
    let extra: Vec<String> = extra.iter().map(|h| h.to_string()).collect();
    s.write_all(request_text(addr, method, path, &extra).as_bytes())
        .await?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "connection closed before the response header ({} bytes)",
                buf.len()
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (status, headers) = parse_head(&buf[..head_end]);
    let status = status.unwrap_or(0);
    let clen: Option<u64> = header(&headers, "content-length").and_then(|v| v.parse().ok());
    let chunked =
        header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let no_body = method == "HEAD" || status == 304 || status == 204;
    let mut body = Vec::new();
    let mut len = 0u64;
    let mut hash = FNV_OFFSET;
    let mut raw = buf[head_end + 4..].to_vec();
    if !no_body {
        // Read everything (Connection: close), then de-chunk if needed.
        if chunked {
            loop {
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&chunk[..n]);
            }
            raw = dechunk(&raw);
            hash = fnv_update(hash, &raw);
            len = raw.len() as u64;
            if keep {
                body = raw;
            }
        } else {
            let mut feed = |data: &[u8], body: &mut Vec<u8>, len: &mut u64| {
                hash = fnv_update(hash, data);
                *len += data.len() as u64;
                if keep {
                    body.extend_from_slice(data);
                }
            };
            feed(&raw, &mut body, &mut len);
            loop {
                if clen.is_some_and(|c| len >= c) {
                    break;
                }
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                feed(&chunk[..n], &mut body, &mut len);
            }
        }
    }
    Ok((status, headers, body, (len, hash)))
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = find(raw, b"\r\n") {
        let size_str = String::from_utf8_lossy(&raw[..p]).to_string();
        let size =
            usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        raw = &raw[p + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[(size + 2).min(raw.len())..];
    }
    out
}

const FNV_OFFSET: u64 = 0xcbf29ce484222325;

fn fnv_update(mut hash: u64, data: &[u8]) -> u64 {
    for b in data {
        hash = (hash ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    hash
}

/// FNV-1a of a byte slice, the same hash [`http_streamed`] computes.
pub fn fnv(data: &[u8]) -> u64 {
    fnv_update(FNV_OFFSET, data)
}
