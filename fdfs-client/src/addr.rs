//! [`ServerAddr`]: a tracker or storage address, IPv4, IPv6 or host name, with its port — the one
//! address type of the crate: the client connects to it, the protocol's query replies carry it
//! ([`crate::proto::StoreServers`], [`crate::proto::FetchServers`]), and a config line's
//! [`crate::conf::AddrSpec`] resolves to it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The tracker port when a `tracker_server` line has none.
pub const DEFAULT_TRACKER_PORT: u16 = 22122;

/// A server address: host (IPv4, IPv6 or name) and port.
///
/// Parsed from `host:port`, `[v6]:port` or FastDFS's bare `v6:port` (the port is after the last colon).
/// Displayed as `ip:port`, with brackets around an IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerAddr {
    // Crate-visible so the protocol decoder can keep a wire address exactly as sent (no bracket
    // stripping), which its encoder must reproduce byte for byte.
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl ServerAddr {
    /// An address from its parts. A bracketed IPv6 host is unbracketed.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let host = host.into();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .map(str::to_owned)
            .unwrap_or(host);
        ServerAddr { host, port }
    }

    /// The host, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a string is not a `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server address {0:?} (want host:port)")]
pub struct AddrParseError(pub String);

impl FromStr for ServerAddr {
    type Err = AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = || AddrParseError(s.to_owned());
        let (host, port) = t.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.trim();
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        let addr = ServerAddr::new(host, port);
        if addr.host.is_empty() || addr.host.contains(['[', ']', ' ', '/']) {
            return Err(bad());
        }
        if addr.host.contains(':') && addr.host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        Ok(addr)
    }
}

impl From<std::net::SocketAddr> for ServerAddr {
    fn from(a: std::net::SocketAddr) -> Self {
        ServerAddr::new(a.ip().to_string(), a.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let a: ServerAddr = "127.0.0.10:22122".parse().unwrap();
        assert_eq!((a.host(), a.port()), ("127.0.0.10", 22122));
        assert_eq!(a.to_string(), "127.0.0.10:22122");
        let b: ServerAddr = "[::1]:22122".parse().unwrap();
        assert_eq!(b.host(), "::1");
        assert_eq!(b.to_string(), "[::1]:22122");
        let c: ServerAddr = "fe80::1:23000".parse().unwrap();
        assert_eq!((c.host(), c.port()), ("fe80::1", 23000));
        let d: ServerAddr = "tracker.example:22122".parse().unwrap();
        assert_eq!(d.host(), "tracker.example");
        for bad in [
            "", "x", "host:", ":22", "h:0", "h:99999", "[::1:22", "a b:1", "zz::qq:1",
        ] {
            assert!(bad.parse::<ServerAddr>().is_err(), "{bad}");
        }
    }
}
