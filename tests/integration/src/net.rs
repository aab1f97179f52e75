//! Loopback helpers: free ports and extra 127.0.0.x addresses for the storages of a test cluster.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// The first port handed out by [`free_port`].
const FIRST_PORT: u16 = 10_000;

/// The first port the kernel picks for outgoing connections (`ip_local_port_range`, 32768 by
/// default). [`free_port`] stays below it: a port in that range can be taken as the source port of
/// any connection made between the check and the server's bind (curl, a client, a proxy's upstream
/// connection), and the server then fails with "Address already in use".
fn ephemeral_start() -> u16 {
    static START: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(32_768)
    })
}

/// A port that is free on `ip` right now, below the ephemeral range. Ports are handed out from a
/// per-process counter seeded by the process id, then checked with a bind, so tests that run in
/// parallel (threads or processes) do not clash.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let last = ephemeral_start().saturating_sub(1).max(FIRST_PORT + 1_000);
    let seed = FIRST_PORT + (std::process::id() % 100) as u16 * ((last - FIRST_PORT) / 100);
    let _ = NEXT.compare_exchange(0, seed, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = if !(FIRST_PORT..=last).contains(&port) {
            NEXT.store(FIRST_PORT + 1, Ordering::SeqCst);
            FIRST_PORT
        } else {
            port
        };
        if TcpListener::bind(SocketAddr::from((ip, port))).is_ok()
            && TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok()
        {
            return port;
        }
    }
}

/// An address of `lo` that a test needs, held while this value lives (see [`ensure_loopback_ip`]).
#[must_use = "the address may be removed as soon as its last LoopbackIp is dropped"]
#[derive(Debug)]
pub struct LoopbackIp {
    ip: Ipv4Addr,
}

/// The addresses this process holds: how many holders, the label, whether this process added it.
struct Held {
    holders: usize,
    label: String,
    added: bool,
}

fn held() -> MutexGuard<'static, HashMap<Ipv4Addr, Held>> {
    static HELD: OnceLock<Mutex<HashMap<Ipv4Addr, Held>>> = OnceLock::new();
    HELD.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Makes sure `ip` is an address of `lo` with the interface label `label` (e.g. `lo:a0`), so that code that
/// lists interface addresses (the module's local-address check, `if_alias_prefix`) sees it.
/// Linux lets a process bind any 127.0.0.0/8 address without this; it is about being *seen* as local.
/// Needs root; returns an error otherwise.
///
/// When the last [`LoopbackIp`] of an address this process added is dropped, the address is
/// removed again (one that was there before, the demo's or an operator's, stays): the tests leave
/// `lo` as they found it. Addresses left behind are not harmless: FastDFS's libfastcommon lists at
/// most 32 local addresses, and a real tracker on a host the tests had left 36 on crashed.
pub fn ensure_loopback_ip(ip: Ipv4Addr, label: &str) -> io::Result<LoopbackIp> {
    let mut held = held();
    if let Some(h) = held.get_mut(&ip) {
        if h.label != label {
            return Err(io::Error::other(format!(
                "{ip} is held with label {}, this test needs {label}",
                h.label
            )));
        }
        h.holders += 1;
        return Ok(LoopbackIp { ip });
    }
    let added = add_loopback_ip(ip, label)?;
    held.insert(
        ip,
        Held {
            holders: 1,
            label: label.to_owned(),
            added,
        },
    );
    Ok(LoopbackIp { ip })
}

impl Drop for LoopbackIp {
    fn drop(&mut self) {
        let mut held = held();
        let Some(h) = held.get_mut(&self.ip) else {
            return;
        };
        h.holders -= 1;
        if h.holders > 0 {
            return;
        }
        let added = h.added;
        held.remove(&self.ip);
        if added {
            // Best effort: a failure leaves the address, as before this was done.
            let _ = Command::new("ip")
                .args(["addr", "del", &format!("{}/32", self.ip), "dev", "lo"])
                .output();
        }
    }
}

/// Adds `ip` to `lo` with `label` unless it is there; whether this call added it.
fn add_loopback_ip(ip: Ipv4Addr, label: &str) -> io::Result<bool> {
    let shown = Command::new("ip")
        .args(["-4", "addr", "show", "dev", "lo"])
        .output()?;
    let wanted = format!("inet {ip}/32 ");
    let shown = String::from_utf8_lossy(&shown.stdout);
    if let Some(line) = shown.lines().find(|l| l.contains(&wanted)) {
        // The label is what `if_alias_prefix` matches, so a different one would make the test lie.
        return match line.split_whitespace().last() {
            Some(have) if have == label => Ok(false),
            have => Err(io::Error::other(format!(
                "{ip} is on lo with label {}, the tests need {label}: `ip addr del {ip}/32 dev lo`",
                have.unwrap_or("?")
            ))),
        };
    }
    let out = Command::new("ip")
        .args([
            "addr",
            "add",
            &format!("{ip}/32"),
            "dev",
            "lo",
            "label",
            label,
        ])
        .output()?;
    if out.status.success() {
        Ok(true)
    } else if String::from_utf8_lossy(&out.stderr).contains("File exists") {
        // Another process added it between our check and our add: it is not ours to remove.
        Ok(false)
    } else {
        Err(io::Error::other(format!(
            "ip addr add {ip}/32 dev lo label {label}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
