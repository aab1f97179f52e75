//! From a tracker node's nginx configuration (nginx + `proxy_cache` + `ngx_cache_purge`) to an
//! `edge.toml` that does the same. Every directive of the proxied location's scopes (http, server,
//! location, and the top level) ends up either in a setting or in a `# not mapped` comment saying why.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::nginx_conf::{Directive, Parsed};

/// What the migration knows beyond the nginx file.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// The trackers (from `--tracker` or client.conf), for `[trackers]` discovery.
    pub trackers: Vec<SocketAddr>,
    /// Groups and their storages' IPs as the trackers list them, when they were asked.
    pub tracker_groups: Option<Vec<(String, Vec<IpAddr>)>>,
}

/// The result: the file, and one line per directive it could not map.
#[derive(Debug)]
pub struct Migration {
    pub toml: String,
    pub not_mapped: Vec<String>,
    /// Other things the operator must know (the groups' source, repaired syntax).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("no `http` block in the nginx configuration")]
    NoHttp,
    #[error(
        "no location proxies to an upstream (`proxy_pass http://<upstream>`): nothing to migrate"
    )]
    NoProxyLocation,
    #[error("{at}: {msg}")]
    Bad { at: String, msg: String },
}

/// One `server` line of the upstream.
#[derive(Debug, Clone)]
struct Member {
    addr: SocketAddr,
    weight: u32,
    max_fails: Option<String>,
    fail_timeout: Option<String>,
    at: String,
}

/// The settings being built, and what was consumed.
struct Out {
    server: Vec<String>,
    upstream: Vec<String>,
    cache: Vec<String>,
    response: Vec<String>,
    purge_allow: Vec<String>,
    not_mapped: Vec<String>,
    notes: Vec<String>,
    /// `at` of every directive accounted for (mapped, or equivalent to what the edge always does).
    done: HashSet<String>,
}

impl Out {
    /// Writes `key = value` into `section`; a later (inner) directive replaces an earlier one, as
    /// an inner scope overrides an outer one in nginx.
    fn set(&mut self, d: &Directive, section: Section, line: String) {
        self.done.insert(d.at.clone());
        let v = self.lines(section);
        let key = format!("{} =", line.split(" =").next().unwrap_or(""));
        let entry = format!("{line:<44} # {}: {}", d.at, text(d));
        match v.iter_mut().find(|l| l.starts_with(&key)) {
            Some(old) => *old = entry,
            None => v.push(entry),
        }
    }

    fn lines(&mut self, section: Section) -> &mut Vec<String> {
        match section {
            Section::Server => &mut self.server,
            Section::Upstream => &mut self.upstream,
            Section::Cache => &mut self.cache,
            Section::Response => &mut self.response,
        }
    }

    fn same(&mut self, d: &Directive) {
        self.done.insert(d.at.clone());
    }

    /// Accounts for `d`, which the edge does anyway, with a comment in `section` saying so.
    fn same_noted(&mut self, d: &Directive, section: Section, why: &str) {
        self.same(d);
        let line = format!("# {}: `{}`: {why}", d.at, text(d));
        self.lines(section).push(line);
    }

    fn skip(&mut self, d: &Directive, why: &str) {
        self.done.insert(d.at.clone());
        self.not_mapped
            .push(format!("{}: `{}`: {why}", d.at, text(d)));
    }
}

#[derive(Clone, Copy)]
enum Section {
    Server,
    Upstream,
    Cache,
    Response,
}

fn text(d: &Directive) -> String {
    let mut s = d.name.clone();
    for a in &d.args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Converts `parsed` (the tracker node's nginx.conf and its includes).
pub fn convert(parsed: &Parsed, opts: &Options) -> Result<Migration, MigrateError> {
    let top = &parsed.directives;
    let http = top
        .iter()
        .find(|d| d.name == "http")
        .ok_or(MigrateError::NoHttp)?;
    let http_block = http.block.as_deref().unwrap_or(&[]);
    let upstreams = upstreams(http_block)?;
    let (server, location, pool) = proxy_location(http_block, &upstreams)?;
    let members = upstreams
        .iter()
        .find(|(n, _)| *n == pool)
        .map(|(_, m)| m.clone())
        .unwrap_or_default();

    let mut out = Out {
        server: Vec::new(),
        upstream: Vec::new(),
        cache: Vec::new(),
        response: Vec::new(),
        purge_allow: Vec::new(),
        not_mapped: Vec::new(),
        notes: parsed.warnings.clone(),
        done: HashSet::new(),
    };
    out.same(server);
    out.same(location);
    map_top(top, &mut out);
    let zones = cache_zones(http_block);
    // Innermost wins, as in nginx: read http, then server, then location.
    for scope in [
        http_block,
        server.block.as_deref().unwrap_or(&[]),
        location.block.as_deref().unwrap_or(&[]),
    ] {
        for d in scope {
            map_directive(d, &zones, &mut out);
        }
    }
    map_purge(server, &mut out);
    for other in server.children("location") {
        if other.at != location.at && !out.done.contains(&other.at) {
            out.skip(
                other,
                "the edge proxies only the FastDFS location; this one is not migrated",
            );
        }
    }
    for other in http_block.iter().filter(|d| d.name == "server") {
        if other.at != server.at {
            out.skip(other, "another server block: not migrated");
        }
    }
    map_members(&members, &mut out);
    let groups = group_section(&members, opts, &mut out);

    // Whatever in these scopes is still unaccounted for.
    for d in http_block
        .iter()
        .chain(server.block.iter().flatten())
        .chain(location.block.iter().flatten())
        .chain(top.iter())
    {
        if !out.done.contains(&d.at) && d.name != "http" {
            out.skip(d, "no equivalent in fdfs-edge");
        }
    }
    for (name, _) in &upstreams {
        if *name != pool {
            out.notes.push(format!(
                "upstream `{name}` is not used by the proxied location and was not migrated"
            ));
        }
    }
    Ok(Migration {
        toml: render(&out, &groups, &location.at),
        not_mapped: out.not_mapped,
        notes: out.notes,
    })
}

/// `upstream name { server ...; }` blocks of the http level.
fn upstreams(http: &[Directive]) -> Result<Vec<(String, Vec<Member>)>, MigrateError> {
    let mut out = Vec::new();
    for up in http.iter().filter(|d| d.name == "upstream") {
        let name = up.args.first().cloned().unwrap_or_default();
        let mut members = Vec::new();
        for s in up.children("server") {
            let Some(addr) = s.args.first() else { continue };
            let Ok(addr) = addr.parse::<SocketAddr>() else {
                return Err(MigrateError::Bad {
                    at: s.at.clone(),
                    msg: format!(
                        "upstream server `{addr}`: fdfs-edge takes storages as ip:port (a host name or a port-less address has to be written out)"
                    ),
                });
            };
            let mut m = Member {
                addr,
                weight: 1,
                max_fails: None,
                fail_timeout: None,
                at: s.at.clone(),
            };
            for p in &s.args[1..] {
                match p.split_once('=') {
                    Some(("weight", w)) => m.weight = w.parse().unwrap_or(1),
                    Some(("max_fails", v)) => m.max_fails = Some(v.to_owned()),
                    Some(("fail_timeout", v)) => m.fail_timeout = Some(v.to_owned()),
                    _ => {}
                }
            }
            members.push(m);
        }
        out.push((name, members));
    }
    Ok(out)
}

/// The server and location that proxy to an upstream (the FastDFS one first), and the upstream's name.
fn proxy_location<'a>(
    http: &'a [Directive],
    upstreams: &[(String, Vec<Member>)],
) -> Result<(&'a Directive, &'a Directive, String), MigrateError> {
    let mut found = Vec::new();
    for server in http.iter().filter(|d| d.name == "server") {
        for loc in server.children("location") {
            let pass = loc
                .children("proxy_pass")
                .find_map(|p| p.args.first())
                .and_then(|u| u.strip_prefix("http://"))
                .map(|u| u.trim_end_matches('/'));
            if let Some(pool) = pass.filter(|p| upstreams.iter().any(|(n, _)| n == p)) {
                let fastdfs = loc.args.iter().any(|a| a.contains("group"));
                found.push((fastdfs, server, loc, pool.to_owned()));
            }
        }
    }
    found.sort_by_key(|(fastdfs, ..)| !*fastdfs);
    found
        .into_iter()
        .next()
        .map(|(_, s, l, p)| (s, l, p))
        .ok_or(MigrateError::NoProxyLocation)
}

/// `keys_zone` name → the `proxy_cache_path` directive.
fn cache_zones(http: &[Directive]) -> Vec<(String, Directive)> {
    http.iter()
        .filter(|d| d.name == "proxy_cache_path")
        .filter_map(|d| {
            let zone = d
                .args
                .iter()
                .find_map(|a| a.strip_prefix("keys_zone="))?
                .split(':')
                .next()?
                .to_owned();
            Some((zone, d.clone()))
        })
        .collect()
}

/// Directives outside `http`: workers and connections.
fn map_top(top: &[Directive], out: &mut Out) {
    let workers = top
        .iter()
        .find(|d| d.name == "worker_processes")
        .and_then(|d| d.args.first())
        .and_then(|w| w.parse::<usize>().ok());
    for d in top {
        match d.name.as_str() {
            "worker_processes" => match workers {
                Some(n) => out.set(d, Section::Server, format!("threads = {n}")),
                None => out.skip(d, "`auto`: set [server] threads to the number of cores"),
            },
            "events" => {
                out.same(d);
                for e in d.block.iter().flatten() {
                    match (e.name.as_str(), e.args.first()) {
                        ("worker_connections", Some(n)) => {
                            let per = n.parse::<usize>().unwrap_or(1024);
                            let total = per.saturating_mul(workers.unwrap_or(1));
                            out.set(e, Section::Server, format!("max_connections = {total}"));
                        }
                        _ => out.skip(e, "event-loop tuning of nginx; the edge has no such setting"),
                    }
                }
            }
            "worker_rlimit_nofile" => out.skip(
                d,
                "set LimitNOFILE= in the systemd unit (the package's fdfs-edge.service has 65536)",
            ),
            "user" => out.skip(d, "the package's systemd unit runs the edge as user fdfs-edge"),
            "pid" | "error_log" => out.skip(
                d,
                "the edge's own pid file and error log are under /run/fdfs-edge and /var/log/fdfs-edge",
            ),
            "worker_cpu_affinity" => out.skip(d, "the edge does not pin its threads to cores"),
            _ => {}
        }
    }
}

/// One directive of the http, server or location scope. Each family below says whether `d` is
/// one of its own; the names are disjoint, so the order only saves work. A directive no family
/// knows is left out of `done` for the caller's check.
fn map_directive(d: &Directive, zones: &[(String, Directive)], out: &mut Out) {
    let _known = map_server_directive(d, out)
        || map_upstream_directive(d, out)
        || map_cache_directive(d, zones, out)
        || map_response_directive(d, out)
        || map_unneeded_directive(d, out);
}

/// Argument `i` of `d`, `""` when absent.
fn arg(d: &Directive, i: usize) -> &str {
    d.args.get(i).map(String::as_str).unwrap_or("")
}

/// `[server]`: listeners, request limits and client timeouts.
fn map_server_directive(d: &Directive, out: &mut Out) -> bool {
    match d.name.as_str() {
        "client_max_body_size" => match size(arg(d, 0)) {
            Some(s) => out.set(d, Section::Server, format!("client_max_body_size = {}", quote(&s))),
            None => out.skip(d, "not a size"),
        },
        "keepalive_timeout" | "client_header_timeout" | "client_body_timeout" => {
            match duration(arg(d, 0)) {
                Some(t) => out.set(d, Section::Server, format!("{} = {}", d.name, quote(&t))),
                None => out.skip(d, "not a duration"),
            }
        }
        "large_client_header_buffers" => match (arg(d, 0).parse::<u64>(), size_bytes(arg(d, 1))) {
            (Ok(n), Some(b)) => out.set(
                d,
                Section::Server,
                format!("max_header_size = {}", quote(&format!("{}KiB", n * b / 1024))),
            ),
            _ => out.skip(d, "not `number size`"),
        },
        "client_header_buffer_size" => out.skip(
            d,
            "the edge has one limit for the whole request header ([server] max_header_size, from large_client_header_buffers)",
        ),
        "listen" => map_listen(d, out),
        "server_tokens" => {
            out.same_noted(
                d,
                Section::Server,
                "the edge never passes the storages' Server header on",
            );
        }
        _ => return false,
    }
    true
}

fn map_listen(d: &Directive, out: &mut Out) {
    match listen_addr(arg(d, 0)) {
        Some(addr) => {
            out.set(d, Section::Server, format!("listen = [{}]", quote(&addr)));
            if d.args.len() > 1 {
                out.not_mapped.push(format!(
                    "{}: `{}`: listen parameters after the address are not mapped",
                    d.at,
                    text(d)
                ));
            }
        }
        None => out.skip(d, "not an address or port (unix sockets are not supported)"),
    }
}

/// `[upstream]`: timeouts towards the storages and retries.
fn map_upstream_directive(d: &Directive, out: &mut Out) -> bool {
    match d.name.as_str() {
        "proxy_connect_timeout" | "proxy_read_timeout" | "proxy_send_timeout" => {
            let key = match d.name.as_str() {
                "proxy_connect_timeout" => "connect_timeout",
                "proxy_read_timeout" => "read_timeout",
                _ => "write_timeout",
            };
            match duration(arg(d, 0)) {
                Some(t) => out.set(d, Section::Upstream, format!("{key} = {}", quote(&t))),
                None => out.skip(d, "not a duration"),
            }
        }
        "proxy_next_upstream" => {
            let always = ["error", "timeout", "invalid_header", "http_502", "http_504"];
            let extra: Vec<&String> = d
                .args
                .iter()
                .filter(|x| !always.contains(&x.as_str()))
                .collect();
            if extra.is_empty() {
                out.same_noted(
                    d,
                    Section::Upstream,
                    "the edge always retries the next storage of the group on these",
                );
            } else {
                out.skip(
                    d,
                    "the edge retries on error, timeout, invalid_header, 502 and 504 only",
                );
            }
        }
        _ => return false,
    }
    true
}

/// `[cache]`: the zone (through [`map_cache`]), what is cached for how long, and the cache lock.
fn map_cache_directive(d: &Directive, zones: &[(String, Directive)], out: &mut Out) -> bool {
    match d.name.as_str() {
        "proxy_pass" | "proxy_cache" | "proxy_cache_path" => map_cache(d, zones, out),
        "proxy_cache_valid" => {
            let (codes, time): (Vec<&String>, Option<&String>) = match d.args.split_last() {
                Some((t, codes)) => (codes.iter().collect(), Some(t)),
                None => (Vec::new(), None),
            };
            let ok_codes = codes
                .iter()
                .all(|c| ["200", "301", "302", "304"].contains(&c.as_str()));
            match (ok_codes, time.and_then(|t| duration(t))) {
                (true, Some(t)) => out.set(d, Section::Cache, format!("valid = {}", quote(&t))),
                _ => out.skip(d, "the edge caches 200 (and answers 304 from it) for one `valid` time; other codes are not cached"),
            }
        }
        "proxy_cache_key" => {
            if arg(d, 0) == "$uri$is_args$args" || arg(d, 0) == "$scheme$proxy_host$request_uri" {
                out.same_noted(
                    d,
                    Section::Cache,
                    "the edge's cache key is the same (path and query)",
                );
            } else {
                out.skip(
                    d,
                    "the edge's cache key is always the path and query ($uri$is_args$args)",
                );
            }
        }
        "proxy_cache_lock_timeout" => match duration(arg(d, 0)) {
            Some(t) => out.set(d, Section::Cache, format!("lock_timeout = {}", quote(&t))),
            None => out.skip(d, "not a duration"),
        },
        "proxy_cache_lock" => {
            out.same_noted(
                d,
                Section::Cache,
                "the edge always fetches a cold object once for concurrent requests",
            );
        }
        _ => return false,
    }
    true
}

/// `[response]`: Expires and gzip.
fn map_response_directive(d: &Directive, out: &mut Out) -> bool {
    match d.name.as_str() {
        "expires" => match arg(d, 0) {
            "off" | "epoch" | "max" => out.skip(d, "the edge sets Expires only from a duration"),
            t => match duration(t) {
                Some(t) => out.set(d, Section::Response, format!("expires = {}", quote(&t))),
                None => out.skip(d, "not a duration"),
            },
        },
        "gzip" => out.set(d, Section::Response, format!("gzip = {}", arg(d, 0) == "on")),
        "gzip_types" => {
            let types: Vec<String> = d.args.iter().filter(|t| *t != "*").map(|t| quote(t)).collect();
            out.set(d, Section::Response, format!("gzip_types = [{}]", types.join(", ")));
        }
        "gzip_comp_level" => out.set(d, Section::Response, format!("gzip_level = {}", arg(d, 0))),
        "gzip_min_length" => match size(arg(d, 0)) {
            Some(s) => out.set(d, Section::Response, format!("gzip_min_length = {}", quote(&s))),
            None => out.skip(d, "not a size"),
        },
        "gzip_disable" | "gzip_buffers" | "gzip_proxied" | "gzip_vary" | "gzip_http_version" => {
            out.skip(d, "the edge compresses for every client that accepts gzip and always sends Vary: Accept-Encoding")
        }
        _ => return false,
    }
    true
}

/// What the edge does anyway (accounted for, nothing to write) and nginx tuning it has no use for
/// (a `# not mapped` line saying why).
fn map_unneeded_directive(d: &Directive, out: &mut Out) -> bool {
    match d.name.as_str() {
        "proxy_set_header" if matches!(arg(d, 0), "Host" | "X-Real-IP" | "X-Forwarded-For") => out.same(d),
        "proxy_redirect" if arg(d, 0) == "off" => out.same(d),
        "add_header" if arg(d, 0).eq_ignore_ascii_case("X-Cache-Status") => out.same(d),
        "upstream" => out.same(d),
        "include" | "default_type" => out.skip(d, "the edge passes the storage's Content-Type on"),
        "sendfile" | "tcp_nopush" | "tcp_nodelay" => {
            out.skip(d, "socket tuning of nginx; the edge has no such switch")
        }
        "proxy_buffer_size" | "proxy_buffers" | "proxy_busy_buffers_size"
        | "proxy_temp_file_write_size" | "proxy_temp_path" | "client_body_buffer_size"
        | "proxy_max_temp_file_size" => {
            out.skip(d, "buffer tuning of nginx; the edge streams bodies without such settings")
        }
        "server_name" | "server_names_hash_bucket_size" => {
            out.skip(d, "the edge answers every Host name on its listeners")
        }
        "access_log" | "log_format" => out.skip(
            d,
            "the edge writes /var/log/fdfs-edge/access.log ([server] access_log; `access_log_format = \"combined\"` is nginx's combined format)",
        ),
        "charset" | "root" | "index" | "error_page" => {
            out.skip(d, "the edge only proxies; static files and error pages are not migrated")
        }
        _ => return false,
    }
    true
}

/// `proxy_cache <zone>` selects the `proxy_cache_path` whose size and lifetime the edge takes.
fn map_cache(d: &Directive, zones: &[(String, Directive)], out: &mut Out) {
    match d.name.as_str() {
        "proxy_pass" => out.same(d),
        "proxy_cache_path" => {} // mapped through the `proxy_cache` that uses it
        _ => {
            let zone = d.args.first().map(String::as_str).unwrap_or("");
            let Some((_, path)) = zones.iter().find(|(z, _)| z == zone) else {
                if zone != "off" {
                    out.skip(d, "no proxy_cache_path with this keys_zone");
                }
                return;
            };
            out.same(d);
            out.done.insert(path.at.clone());
            out.cache.push(format!(
                "dir = \"/var/cache/fdfs-edge\"                 # {}: nginx's cache directory {} is not reused: its format differs (the edge starts cold)",
                path.at,
                path.args.first().map(String::as_str).unwrap_or("")
            ));
            for p in &path.args[1..] {
                match p.split_once('=') {
                    Some(("max_size", v)) => {
                        if let Some(s) = size(v) {
                            out.cache.push(format!(
                                "{:<44} # {}: {p}",
                                format!("max_size = {}", quote(&s)),
                                path.at
                            ));
                        }
                    }
                    Some(("inactive", v)) => {
                        if let Some(t) = duration(v) {
                            out.cache.push(format!(
                                "{:<44} # {}: {p}",
                                format!("inactive = {}", quote(&t)),
                                path.at
                            ));
                        }
                    }
                    _ => out.not_mapped.push(format!(
                        "{}: proxy_cache_path `{p}`: the edge lays out its cache directory and index itself",
                        path.at
                    )),
                }
            }
        }
    }
}

/// `ngx_cache_purge`: a location with `proxy_cache_purge` (its allow list), or the same-location form
/// `proxy_cache_purge PURGE from <addresses>`.
fn map_purge(server: &Directive, out: &mut Out) {
    let locations = server.children("location");
    for loc in locations {
        let Some(purge) = loc.children("proxy_cache_purge").next() else {
            continue;
        };
        out.done.insert(loc.at.clone());
        out.same(purge);
        if let Some(from) = purge.args.iter().position(|a| a == "from") {
            for a in &purge.args[from + 1..] {
                push_allow(a, out);
            }
        }
        for d in loc.block.iter().flatten() {
            match d.name.as_str() {
                "allow" => {
                    out.same(d);
                    push_allow(d.args.first().map(String::as_str).unwrap_or(""), out);
                }
                "deny" if d.args.first().is_some_and(|a| a == "all") => out.same(d),
                _ if d.at == purge.at => {}
                _ => out.skip(
                    d,
                    "inside the purge location; the edge's PURGE takes only [purge] allow",
                ),
            }
        }
    }
}

fn push_allow(a: &str, out: &mut Out) {
    let cidr = match a {
        "all" => "0.0.0.0/0".to_owned(),
        a if a.contains('/') => a.to_owned(),
        a if a.parse::<std::net::Ipv6Addr>().is_ok() => format!("{a}/128"),
        a => format!("{a}/32"),
    };
    out.purge_allow.push(cidr);
}

/// `max_fails` and `fail_timeout` of the upstream's servers: one value each in the edge.
fn map_members(members: &[Member], out: &mut Out) {
    let first = members.first();
    let same = |f: fn(&Member) -> Option<&String>| {
        let v = first.and_then(f);
        members.iter().all(|m| f(m) == v).then_some(v).flatten()
    };
    if let Some(v) = same(|m| m.max_fails.as_ref()) {
        out.upstream.push(format!(
            "{:<44} # from the upstream's servers",
            format!("max_fails = {v}")
        ));
    } else if members.iter().any(|m| m.max_fails.is_some()) {
        out.notes.push(
            "the upstream's servers differ in max_fails: the edge has one value ([upstream] max_fails)"
                .into(),
        );
    }
    if let Some(t) = same(|m| m.fail_timeout.as_ref()).and_then(|v| duration(v)) {
        out.upstream.push(format!(
            "{:<44} # from the upstream's servers",
            format!("fail_timeout = {}", quote(&t))
        ));
    }
}

/// `[[group]]` tables from the trackers' answer, or `[trackers]` discovery when they were not asked.
fn group_section(members: &[Member], opts: &Options, out: &mut Out) -> String {
    let mut s = String::new();
    let port = members.first().map_or(8888, |m| m.addr.port());
    match &opts.tracker_groups {
        Some(groups) => {
            let _ = writeln!(
                s,
                "# The nginx upstream mixed every group's storages in one pool; split by group as the trackers list them."
            );
            for (group, ips) in groups {
                let mine: Vec<&Member> = members
                    .iter()
                    .filter(|m| ips.contains(&m.addr.ip()))
                    .collect();
                if mine.is_empty() {
                    out.notes.push(format!(
                        "the trackers list {group}, but no storage of it is in the nginx upstream: the edge answers 404 for {group} until one is added"
                    ));
                    continue;
                }
                let _ = writeln!(s, "[[group]]\nname = {}\nstorages = [", quote(group));
                for m in mine {
                    let entry = if m.weight == 1 {
                        quote(&m.addr.to_string())
                    } else {
                        format!(
                            "{{ addr = {}, weight = {} }}",
                            quote(&m.addr.to_string()),
                            m.weight
                        )
                    };
                    let _ = writeln!(s, "    {entry},{:<10} # {}", "", m.at);
                }
                let _ = writeln!(s, "]\n");
            }
            for m in members {
                if !groups.iter().any(|(_, ips)| ips.contains(&m.addr.ip())) {
                    out.not_mapped.push(format!(
                        "{}: upstream server {}: the trackers do not list this storage in any group",
                        m.at, m.addr
                    ));
                }
            }
            if !opts.trackers.is_empty() {
                let _ = writeln!(
                    s,
                    "# Storages added to the cluster later are learnt from the trackers too.\n{}",
                    trackers_table(&opts.trackers, port)
                );
            }
        }
        None => {
            let _ = writeln!(
                s,
                "# The nginx upstream mixes every group's storages in one pool, and the trackers were not asked\n\
                 # (`fdfs-edge migrate --tracker ip:port`), so which storage holds which group is learnt from the\n\
                 # trackers at run time: [trackers] discovery."
            );
            if opts.trackers.is_empty() {
                let _ = writeln!(
                    s,
                    "# No tracker address was given or found in client.conf: write them here; `fdfs-edge -t`\n\
                     # refuses this file until then.\n[trackers]\nservers = [\"TRACKER_IP:22122\"]\nhttp_port = {port}\n"
                );
                out.notes
                    .push("no tracker address known: fill in [trackers] servers".into());
            } else {
                let _ = writeln!(s, "{}", trackers_table(&opts.trackers, port));
            }
            out.notes.push(
                "the groups come from [trackers] discovery at run time (run with --tracker to write them out)"
                    .into(),
            );
        }
    }
    s
}

fn trackers_table(trackers: &[SocketAddr], http_port: u16) -> String {
    let list: Vec<String> = trackers.iter().map(|t| quote(&t.to_string())).collect();
    format!(
        "[trackers]\nservers = [{}]\nrefresh = \"30s\"\nhttp_port = {http_port}                              # the storages' HTTP port (the nginx upstream's)\n",
        list.join(", ")
    )
}

fn render(out: &Out, groups: &str, location_at: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# fdfs-edge configuration written by `fdfs-edge migrate` from the nginx location at {location_at}.\n\
         # Each setting names the nginx directive it comes from; what could not be mapped is listed at the end.\n\
         # Check with: fdfs-edge -t -c <this file>\n"
    );
    let section = |s: &mut String, name: &str, lines: &[String], extra: &[&str]| {
        let _ = writeln!(s, "[{name}]");
        for l in extra {
            let _ = writeln!(s, "{l}");
        }
        for l in lines {
            let _ = writeln!(s, "{l}");
        }
        let _ = writeln!(s);
    };
    let has =
        |lines: &[String], key: &str| lines.iter().any(|l| l.starts_with(&format!("{key} =")));
    let mut server_extra = vec![
        "pid_file = \"/run/fdfs-edge/fdfs-edge.pid\"",
        "upgrade_sock = \"/run/fdfs-edge/upgrade.sock\"",
        "access_log = \"/var/log/fdfs-edge/access.log\"",
        "error_log = \"/var/log/fdfs-edge/error.log\"",
        "grace_period = \"120s\"",
    ];
    if !has(&out.server, "listen") {
        server_extra.insert(
            0,
            "listen = [\"0.0.0.0:80\"]                      # nginx's default",
        );
    }
    section(&mut s, "server", &out.server, &server_extra);
    section(&mut s, "admin", &[], &["listen = \"127.0.0.1:9180\"                  # /healthz /readyz /metrics; `fdfs-edge check` asks it"]);
    section(&mut s, "upstream", &out.upstream, &[]);
    section(
        &mut s,
        "health",
        &[],
        &[
            "enabled = true",
            "interval = \"5s\"",
            "timeout = \"2s\"",
            "path = \"/healthz\"                            # the storages' nginx should answer it (location = /healthz { return 200; }),",
            "                                             # else each check is a 404 and an error line in their logs",
        ],
    );
    s.push_str(groups);
    let mut cache = out.cache.clone();
    if !cache.iter().any(|l| l.starts_with("dir =")) {
        cache.insert(0, "dir = \"/var/cache/fdfs-edge\"".into());
    }
    section(&mut s, "cache", &cache, &[]);
    section(&mut s, "response", &out.response, &[]);
    let allow: Vec<String> = out.purge_allow.iter().map(|a| quote(a)).collect();
    let purge_line = if allow.is_empty() {
        "allow = [\"127.0.0.1/32\"]                       # no purge location in nginx: PURGE from this host only".to_owned()
    } else {
        format!(
            "allow = [{}]                               # ngx_cache_purge's allow list",
            allow.join(", ")
        )
    };
    section(&mut s, "purge", &[purge_line], &[]);
    if !out.not_mapped.is_empty() {
        let _ = writeln!(s, "# Not mapped:");
        for n in &out.not_mapped {
            let _ = writeln!(s, "#   {n}");
        }
    }
    s
}

/// An nginx size (`300m`, `8k`, `1g`, bytes) as the edge writes it.
fn size(v: &str) -> Option<String> {
    let b = size_bytes(v)?;
    Some(match b {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b}"),
    })
}

fn size_bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mult) = match v.chars().last()? {
        'k' | 'K' => (&v[..v.len() - 1], 1u64 << 10),
        'm' | 'M' => (&v[..v.len() - 1], 1 << 20),
        'g' | 'G' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// An nginx time (`90` = seconds, `30d`, `1h30m`, `500ms`, `1M`, `1y`) as the edge writes it.
fn duration(v: &str) -> Option<String> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(format!("{n}s"));
    }
    if let Some(ms) = v.strip_suffix("ms").and_then(|n| n.parse::<u64>().ok()) {
        return Some(format!("{ms}ms"));
    }
    // One or more `<number><unit>` parts; kept as written when there is one part the edge reads.
    let mut total: u64 = 0;
    let mut parts = 0;
    let mut num = String::new();
    for c in v.chars().filter(|c| !c.is_whitespace()) {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            'M' => 30 * 86_400,
            'y' => 365 * 86_400,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
        parts += 1;
    }
    if !num.is_empty() || parts == 0 {
        return None;
    }
    let single = parts == 1 && v.ends_with(['s', 'm', 'h', 'd', 'w']);
    Some(if single {
        v.to_owned()
    } else {
        format!("{total}s")
    })
}

/// `80`, `1.2.3.4:80`, `[::]:80`, `*:80` as `ip:port`.
fn listen_addr(v: &str) -> Option<String> {
    if let Ok(port) = v.parse::<u16>() {
        return Some(format!("0.0.0.0:{port}"));
    }
    if let Some(port) = v.strip_prefix("*:") {
        return port.parse::<u16>().ok().map(|p| format!("0.0.0.0:{p}"));
    }
    v.parse::<SocketAddr>().ok().map(|a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::migrate::nginx_conf;
    use std::path::{Path, PathBuf};

    /// The tracker node's nginx.conf of the deployment this project replaces (`shared/seed-deployment/`,
    /// beside the repository as CI lays it out).
    fn seed_tracker_conf() -> PathBuf {
        let start = Path::new(env!("CARGO_MANIFEST_DIR"));
        start
            .ancestors()
            .map(|a| a.join("shared/seed-deployment/tracker-node-nginx.conf"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no shared/seed-deployment/ above {}", start.display()))
    }

    fn seed_groups() -> Vec<(String, Vec<IpAddr>)> {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        vec![
            (
                "group1".into(),
                vec![ip("192.168.165.38"), ip("192.168.165.39")],
            ),
            (
                "group2".into(),
                vec![ip("192.168.165.40"), ip("192.168.165.41")],
            ),
        ]
    }

    #[test]
    fn the_seed_tracker_config_becomes_an_edge_config_split_by_group() {
        let parsed = nginx_conf::parse_file(&seed_tracker_conf()).expect("the seed file reads");
        let tracker: SocketAddr = "192.168.165.36:22122".parse().expect("addr");
        let m = convert(
            &parsed,
            &Options {
                trackers: vec![tracker],
                tracker_groups: Some(seed_groups()),
            },
        )
        .expect("converts");
        let cfg = Config::parse(&m.toml, "migrated.toml")
            .unwrap_or_else(|e| panic!("the migrated file is refused: {e}\n{}", m.toml));
        let groups: Vec<(String, Vec<String>)> = cfg
            .groups
            .iter()
            .map(|g| {
                let s = g.storages.iter().map(|s| s.addr().to_string()).collect();
                (g.name.clone(), s)
            })
            .collect();
        assert_eq!(
            groups,
            [
                (
                    "group1".to_owned(),
                    vec![
                        "192.168.165.38:8888".to_owned(),
                        "192.168.165.39:8888".to_owned()
                    ]
                ),
                (
                    "group2".to_owned(),
                    vec![
                        "192.168.165.40:8888".to_owned(),
                        "192.168.165.41:8888".to_owned()
                    ]
                ),
            ]
        );
        assert_eq!(cfg.server.listen[0].0.to_string(), "0.0.0.0:80");
        assert_eq!(cfg.server.threads, 4);
        assert_eq!(cfg.server.client_max_body_size.0, 300 << 20);
        assert_eq!(cfg.server.keepalive_timeout.0.as_secs(), 65);
        assert_eq!(cfg.server.max_header_size.0, 32 << 10);
        assert_eq!(cfg.upstream.connect_timeout.0.as_secs(), 90);
        assert_eq!(cfg.upstream.read_timeout.0.as_secs(), 90);
        assert_eq!(cfg.upstream.write_timeout.0.as_secs(), 90);
        assert_eq!(cfg.upstream.max_fails, 3);
        assert_eq!(cfg.upstream.fail_timeout.0.as_secs(), 30);
        assert_eq!(cfg.cache.max_size.0, 1 << 30);
        assert_eq!(cfg.cache.valid.0.as_secs(), 12 * 3600);
        assert_eq!(cfg.cache.inactive.0.as_secs(), 30 * 86_400);
        assert_eq!(
            cfg.response.expires.0.map(|d| d.as_secs()),
            Some(30 * 86_400)
        );
        assert!(cfg.response.gzip);
        assert_eq!(cfg.response.gzip_level, 3);
        assert_eq!(cfg.response.gzip_min_length.0, 1100);
        assert!(cfg
            .response
            .gzip_types
            .iter()
            .any(|t| t == "application/json"));
        let trackers = cfg.trackers.expect("[trackers] for storages added later");
        assert_eq!(trackers.servers[0].0, tracker);
        assert_eq!(trackers.http_port, 8888);
        // Each directive the edge cannot take is named with its line and a reason.
        for (line, name) in [
            (4, "worker_cpu_affinity"),
            (5, "worker_rlimit_nofile"),
            (38, "gzip_disable"),
            (61, "proxy_buffers"),
        ] {
            assert!(
                m.not_mapped
                    .iter()
                    .any(|n| n.contains(&format!(":{line}: `{name}")) && n.contains(": ")),
                "no note for {name} on line {line}: {:#?}",
                m.not_mapped
            );
            assert!(
                m.toml.contains(&format!(":{line}: `{name}")),
                "the file does not say why {name} is not mapped"
            );
        }
        assert!(
            m.notes.iter().any(|n| n.contains("closing")),
            "the missing `}}` is reported: {:?}",
            m.notes
        );
    }

    #[test]
    fn without_the_trackers_groups_come_from_discovery_and_the_file_says_so() {
        let parsed = nginx_conf::parse_file(&seed_tracker_conf()).expect("reads");
        let tracker: SocketAddr = "192.168.165.36:22122".parse().expect("addr");
        let m = convert(
            &parsed,
            &Options {
                trackers: vec![tracker],
                tracker_groups: None,
            },
        )
        .expect("converts");
        let cfg =
            Config::parse(&m.toml, "migrated.toml").unwrap_or_else(|e| panic!("{e}\n{}", m.toml));
        assert!(cfg.groups.is_empty());
        assert_eq!(cfg.trackers.expect("[trackers]").servers[0].0, tracker);
        assert!(m.toml.contains("trackers were not asked"));
        // No tracker known at all: a placeholder that -t refuses, and a note.
        let m = convert(&parsed, &Options::default()).expect("converts");
        assert!(Config::parse(&m.toml, "migrated.toml").is_err());
        assert!(m.notes.iter().any(|n| n.contains("no tracker address")));
    }

    #[test]
    fn purge_locations_give_the_allow_list() {
        let text = "http {\n upstream fdfs { server 127.0.0.1:8888; }\n proxy_cache_path /c keys_zone=z:10m;\n server {\n  listen 8080;\n  location ~/group([0-9])/M00 { proxy_cache z; proxy_pass http://fdfs; }\n  location ~/purge(/.*) { allow 127.0.0.1; allow 10.1.0.0/16; deny all; proxy_cache_purge z $1$is_args$args; }\n }\n}\n";
        let parsed = nginx_conf::parse_str("p.conf", text).expect("parses");
        let m = convert(&parsed, &Options::default()).expect("converts");
        assert!(
            m.toml
                .contains("allow = [\"127.0.0.1/32\", \"10.1.0.0/16\"]"),
            "{}",
            m.toml
        );
        assert!(
            !m.not_mapped.iter().any(|n| n.contains("purge")),
            "{:?}",
            m.not_mapped
        );
    }

    #[test]
    fn nginx_sizes_and_times() {
        assert_eq!(size("300m").as_deref(), Some("300MiB"));
        assert_eq!(size("1g").as_deref(), Some("1GiB"));
        assert_eq!(size("1100").as_deref(), Some("1100"));
        assert_eq!(duration("90").as_deref(), Some("90s"));
        assert_eq!(duration("30d").as_deref(), Some("30d"));
        assert_eq!(duration("1h30m").as_deref(), Some("5400s"));
        assert_eq!(duration("1M").as_deref(), Some("2592000s"));
        assert_eq!(duration("500ms").as_deref(), Some("500ms"));
        assert_eq!(duration("soon"), None);
        assert_eq!(listen_addr("80").as_deref(), Some("0.0.0.0:80"));
        assert_eq!(listen_addr("[::]:8080").as_deref(), Some("[::]:8080"));
        assert_eq!(listen_addr("unix:/x"), None);
    }
}
