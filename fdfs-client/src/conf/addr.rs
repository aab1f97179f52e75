//! Server addresses as config lines write them: `tracker_server`, `storage_peers`, storage_ids.conf
//! hosts. An [`AddrSpec`] may list several hosts and leave the port out; a caller picks the first
//! host and a default port to get the [`crate::addr::ServerAddr`] it connects to.

use std::fmt;

/// `host[:port]`, where host may be a dual-address list `a,b` or an IPv6 literal in brackets
/// (`[::1]:22122`, `[fe80::1,fe80::2]:23000`). An unbracketed host with several `:` is an IPv6
/// address without port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddrSpec {
    /// One or more addresses (FastDFS uses the first; 6.x allows an inner/outer pair).
    pub hosts: Vec<String>,
    /// The port, if written.
    pub port: Option<u16>,
}

impl AddrSpec {
    /// The first host.
    pub fn host(&self) -> &str {
        self.hosts.first().map_or("", String::as_str)
    }

    /// The port or `default`.
    pub fn port_or(&self, default: u16) -> u16 {
        self.port.unwrap_or(default)
    }

    /// Parse one address.
    pub fn parse(v: &str) -> Result<AddrSpec, String> {
        let err = |why: &str| {
            format!("expected \"host[:port]\" (host may be \"ip1,ip2\" or \"[ipv6]\"), got {v:?}: {why}")
        };
        let t = v.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        let (host_part, port_part) = if let Some(rest) = t.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| err("missing ']'"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| err("expected ':' after ']'"))?,
                ),
            };
            (inside, port)
        } else if t.matches(':').count() > 1 {
            (t, None)
        } else {
            match t.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (t, None),
            }
        };
        let port = match port_part {
            None => None,
            Some(p) => match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(err("bad port")),
            },
        };
        let hosts: Vec<String> = host_part.split(',').map(|h| h.trim().to_owned()).collect();
        if hosts
            .iter()
            .any(|h| h.is_empty() || h.contains(char::is_whitespace))
        {
            return Err(err("empty host or host with spaces"));
        }
        Ok(AddrSpec { hosts, port })
    }

    /// Parse a comma-separated list of single-host addresses (`storage_peers = a:8080, b, [::1]:80`).
    pub fn parse_list(v: &str) -> Result<Vec<AddrSpec>, String> {
        let mut out = Vec::new();
        let mut rest = v.trim();
        while !rest.is_empty() {
            // A bracketed item may contain ',' only inside the brackets.
            let end = if rest.starts_with('[') {
                match rest.find(']') {
                    Some(close) => rest
                        .get(close..)
                        .and_then(|s| s.find(','))
                        .map_or(rest.len(), |i| close + i),
                    None => rest.len(),
                }
            } else {
                rest.find(',').unwrap_or(rest.len())
            };
            let item = rest.get(..end).unwrap_or(rest).trim();
            if item.is_empty() {
                return Err(format!(
                    "expected a list \"ip[:port], ip[:port], ...\", got {v:?}: empty item"
                ));
            }
            out.push(AddrSpec::parse(item)?);
            rest = rest.get(end + 1..).unwrap_or("").trim_start();
        }
        Ok(out)
    }
}

impl fmt::Display for AddrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts = self.hosts.join(",");
        let bracket = self.hosts.iter().any(|h| h.contains(':'));
        match (bracket, self.port) {
            (true, Some(p)) => write!(f, "[{hosts}]:{p}"),
            (true, None) => write!(f, "[{hosts}]"),
            (false, Some(p)) => write!(f, "{hosts}:{p}"),
            (false, None) => f.write_str(&hosts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = AddrSpec::parse("127.0.0.10:22122").unwrap();
        assert_eq!((a.host(), a.port), ("127.0.0.10", Some(22122)));
        let a = AddrSpec::parse("10.0.0.1,192.168.0.1:22122").unwrap();
        assert_eq!(a.hosts, ["10.0.0.1", "192.168.0.1"]);
        let a = AddrSpec::parse("[::1]:22122").unwrap();
        assert_eq!((a.host(), a.port), ("::1", Some(22122)));
        assert_eq!(a.to_string(), "[::1]:22122");
        let a = AddrSpec::parse("fe80::1").unwrap();
        assert_eq!((a.host(), a.port), ("fe80::1", None));
        let a = AddrSpec::parse("host").unwrap();
        assert_eq!(a.port_or(80), 80);
        assert!(AddrSpec::parse("h:0").is_err());
        assert!(AddrSpec::parse("h:x").is_err());
        assert!(AddrSpec::parse("[::1").is_err());
        assert!(AddrSpec::parse("").is_err());
    }

    #[test]
    fn lists() {
        let l = AddrSpec::parse_list("10.0.0.1:8080, 10.0.0.2 ,[::1]:80,[fe80::1]").unwrap();
        let s: Vec<String> = l.iter().map(ToString::to_string).collect();
        assert_eq!(s, ["10.0.0.1:8080", "10.0.0.2", "[::1]:80", "[fe80::1]"]);
        assert!(AddrSpec::parse_list("a,,b").is_err());
        assert_eq!(AddrSpec::parse_list("  ").unwrap(), vec![]);
    }
}
