//! The nginx module end to end: Debian's /usr/sbin/nginx loading our .so, real sockets, files in the
//! real FastDFS on-disk layout (`<store>/data/HH/HH/<name>`, trunk containers with 24-byte slot
//! headers) named by real file ids.
//!
//! One nginx serves three storages, each in its own `server` with its own `fastdfs_config` and its own
//! loopback address (s1 127.0.0.11 group1, s2 127.0.0.12 group1, s3 127.0.0.13 group2), all on one
//! port like a C-module deployment. `if_alias_prefix` (lo:a / lo:b / lo:c) keeps each storage from
//! seeing the others' addresses as local. Every test ends by checking that no worker died on a signal.
//!
//! Needs root (to label the loopback addresses) and the module (`make module`, or
//! `NGX_FASTDFS_MODULE=<path to .so>`); without it every test fails.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use fdfs_client::client::{Client, ServerAddr, UploadKind, UploadOptions};
use fdfs_client::file_id::{
    encode_logic_name, slave_name, NameSpec, SizeField, Source, TrunkLocation, TrunkSlotHeader,
};
use fdfs_emu::{Cluster, ClusterBuilder, ClusterConfig, StorageInfo};
use fdfs_integration::http::{request, Response};
use fdfs_integration::net::{ensure_loopback_ip, free_port, LoopbackIp};
use fdfs_integration::nginx::{self, Nginx};
use fdfs_integration::vectors::{read_vector, vector_path};
use fdfs_integration::wait::eventually;

const S1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const S2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 12);
const S3: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 13);
const SLOW: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 14);
const DEAD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 15);
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 99);
const SECRET: &str = "FastDFS1234567890";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The module under test. Missing is a failure, not a skip: `make test` builds it first.
fn module() -> PathBuf {
    nginx::module_path().unwrap_or_else(|| {
        panic!("the module .so is not built: run `make module`, or set NGX_FASTDFS_MODULE")
    })
}

/// A file of the real cluster's vectors (`files/`); a missing one fails the test.
fn vector(name: &str) -> Vec<u8> {
    read_vector(&format!("files/{name}"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    Appender,
}

/// Writes `data` under `store` as a file whose id names `src` and `ts`; returns the logic name.
fn put(
    store: &Path,
    src: Ipv4Addr,
    ts: i64,
    ext: &str,
    data: &[u8],
    kind: Kind,
    crc: u32,
) -> String {
    let digits = "1234567";
    let digits = &digits[..if ext.is_empty() { 7 } else { 6 - ext.len() }];
    let size = SizeField::compose(
        data.len() as u64,
        kind == Kind::Appender,
        false,
        Some(0x1234),
    );
    let logic = encode_logic_name(&NameSpec {
        source: Source::Ip(src),
        timestamp: ts,
        size_field: size,
        crc32: crc,
        trunk: None,
        store_path_index: 0,
        subdirs: (0, 0),
        ext,
        random_digits: digits,
    })
    .expect("encode");
    write_at(store, &logic, data);
    logic
}

fn write_at(store: &Path, logic: &str, data: &[u8]) {
    let p = store.join("data").join(&logic[4..]);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, data).expect("write");
}

/// Packs `data` into trunk container 1 at `offset`; returns the logic name.
fn put_trunk(store: &Path, src: Ipv4Addr, ts: i64, offset: u32, data: &[u8], crc: u32) -> String {
    put_slot(store, src, ts, offset, data, crc, false)
}

/// Like [`put_trunk`]; `link` makes it an `L` slot (its data is another file's name).
fn put_slot(
    store: &Path,
    src: Ipv4Addr,
    ts: i64,
    offset: u32,
    data: &[u8],
    crc: u32,
    link: bool,
) -> String {
    let alloc = (data.len() as u32 + 24).max(256);
    let loc = TrunkLocation {
        trunk_id: 1,
        offset,
        alloc_size: alloc,
    };
    let logic = encode_logic_name(&NameSpec {
        source: Source::Ip(src),
        timestamp: ts,
        size_field: SizeField::compose(data.len() as u64, false, true, Some(0x77)),
        crc32: crc,
        trunk: Some(loc),
        store_path_index: 0,
        subdirs: (0, 0),
        ext: "txt",
        random_digits: "123",
    })
    .expect("encode trunk");
    let info = fdfs_client::file_id::LogicName::parse(&logic)
        .expect("parse")
        .decode()
        .expect("decode");
    let mut header = TrunkSlotHeader::expected_for(&info).expect("trunk header");
    if link {
        header.slot_type = fdfs_client::file_id::SlotType::Link;
    }
    let path = store.join("data/00/00/000001");
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut container = fs::read(&path).unwrap_or_else(|_| vec![0u8; 64 * 1024]);
    let o = offset as usize;
    container[o..o + 24].copy_from_slice(&header.to_bytes());
    container[o + 24..o + 24 + data.len()].copy_from_slice(data);
    fs::write(&path, container).expect("write container");
    logic
}

#[derive(Clone)]
struct Opts {
    response_mode: &'static str,
    peers: bool,
    token: bool,
    fail_file: bool,
    network_timeout: u32,
    loc_extra: String,
    /// Lines appended to every mod_fastdfs.conf.
    conf_extra: String,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            response_mode: "proxy",
            peers: true,
            token: false,
            fail_file: false,
            network_timeout: 30,
            loc_extra: "proxy_read_timeout 2s;".into(),
            conf_extra: String::new(),
        }
    }
}

struct Fx {
    _root: tempfile::TempDir,
    port: u16,
    slow_port: u16,
    dead_port: u16,
    stores: [PathBuf; 3],
    nginx: Nginx,
    _slow: TcpListener,
    /// Last: the addresses outlive the nginx that found them local.
    _lo: Vec<LoopbackIp>,
}

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// A port free on every storage address.
fn common_port() -> u16 {
    loop {
        let p = free_port(S1);
        if [S2, S3]
            .iter()
            .all(|ip| TcpListener::bind(addr(*ip, p)).is_ok())
        {
            return p;
        }
    }
}

fn mod_conf(dir: &Path, group: &str, store: &Path, alias: &str, o: &Opts, peers: &str) -> String {
    let mut s = format!(
        "# written by tests/module.rs\n\
         connect_timeout=2\n\
         network_timeout={nt}\n\
         base_path={store}\n\
         load_fdfs_parameters_from_tracker=false\n\
         storage_sync_file_max_delay = 86400\n\
         use_storage_id = false\n\
         tracker_server=127.0.0.10:22122\n\
         storage_server_port=23000\n\
         group_name={group}\n\
         url_have_group_name = true\n\
         store_path_count=1\n\
         store_path0={store}\n\
         log_level=info\n\
         log_filename=\n\
         response_mode={mode}\n\
         if_alias_prefix={alias}\n\
         flv_support = true\n\
         flv_extension = flv\n\
         group_count = 0\n",
        store = store.display(),
        mode = o.response_mode,
        nt = o.network_timeout,
    );
    if o.peers {
        s.push_str(&format!("storage_peers = {peers}\n"));
    }
    s.push_str(&o.conf_extra);
    s.push_str("#include http.conf\n");
    let mut http = String::from(
        "http.default_content_type = application/octet-stream\n\
         http.mime_types_filename=mime.types\n\
         http.anti_steal.token_ttl=900\n",
    );
    http.push_str(&format!(
        "http.anti_steal.check_token={}\nhttp.anti_steal.secret_key={SECRET}\n",
        o.token
    ));
    if o.fail_file {
        fs::write(dir.join("denied.txt"), b"token denied\n").expect("fail file");
        http.push_str("http.anti_steal.token_check_fail=denied.txt\n");
    }
    fs::write(dir.join("http.conf"), http).expect("http.conf");
    fs::write(
        dir.join("mime.types"),
        "text/plain txt\nimage/jpeg jpg jpeg\nimage/png png\napplication/octet-stream bin\n",
    )
    .expect("mime");
    s
}

impl Fx {
    fn start(module: &Path, o: Opts) -> Fx {
        let lo: Vec<LoopbackIp> = [(S1, "lo:a0"), (S2, "lo:b0"), (S3, "lo:c0")]
            .into_iter()
            .map(|(ip, label)| ensure_loopback_ip(ip, label).expect("needs root: ip addr add"))
            .collect();
        let root = tempfile::Builder::new()
            .prefix("fdfs-module-")
            .tempdir()
            .expect("tempdir");
        let port = common_port();
        let slow = TcpListener::bind(addr(SLOW, 0)).expect("slow listener");
        let slow_port = slow.local_addr().expect("addr").port();
        let dead_port = {
            // Bound then dropped: nothing listens there.
            let l = TcpListener::bind(addr(DEAD, 0)).expect("dead");
            l.local_addr().expect("addr").port()
        };
        let peers = format!(
            "{S1}:{port}, {S2}:{port}, {S3}:{port}, {SLOW}:{slow_port}, {DEAD}:{dead_port}"
        );
        let mut servers = String::new();
        let mut stores = Vec::new();
        for (i, (ip, group, alias)) in [
            (S1, "group1", "lo:a"),
            (S2, "group1", "lo:b"),
            (S3, "group2", "lo:c"),
        ]
        .into_iter()
        .enumerate()
        {
            let dir = root.path().join(format!("s{}", i + 1));
            let store = dir.join("store");
            fs::create_dir_all(store.join("data/00/00")).expect("store");
            let conf = mod_conf(&dir, group, &store, alias, &o, &peers);
            fs::write(dir.join("mod_fastdfs.conf"), conf).expect("conf");
            servers.push_str(&format!(
                "server {{\n listen {ip}:{port};\n fastdfs_config {dir}/mod_fastdfs.conf;\n \
                 location ~ ^/group[0-9]+/M[0-9A-F][0-9A-F]/ {{\n  ngx_fastdfs_module;\n  {extra}\n }}\n}}\n",
                dir = dir.display(),
                extra = o.loc_extra,
            ));
            stores.push(store);
        }
        let listen = [addr(S1, port), addr(S2, port), addr(S3, port)];
        let nginx = Nginx::start(module, &servers, &listen).expect("nginx starts");
        // The "slow source": accepts and never answers.
        let l2 = slow.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l2.incoming().flatten() {
                held.push(s);
            }
        });
        Fx {
            _root: root,
            port,
            slow_port,
            dead_port,
            stores: [stores[0].clone(), stores[1].clone(), stores[2].clone()],
            nginx,
            _slow: slow,
            _lo: lo,
        }
    }

    fn get(&self, ip: Ipv4Addr, target: &str, headers: &[(&str, &str)]) -> Response {
        request(addr(ip, self.port), "GET", target, headers).expect("request")
    }

    /// [`put`] of a normal file on storage `i` (0: s1, 1: s2, 2: s3).
    fn put_on(&self, i: usize, src: Ipv4Addr, ts: i64, ext: &str, data: &[u8], crc: u32) -> String {
        put(&self.stores[i], src, ts, ext, data, Kind::Normal, crc)
    }

    /// The name of a `.jpg` with source `src` that s1 does not hold: written, then removed, so it
    /// is a name of s1's layout whose file is not on its disk.
    fn gone(&self, src: Ipv4Addr, ts: i64, crc: u32) -> String {
        let name = self.put_on(0, src, ts, "jpg", b"x", crc);
        fs::remove_file(self.stores[0].join("data").join(&name[4..])).expect("rm");
        name
    }

    /// A `.jpg` of s1 whose file is a symlink to `secret.txt` in s1's store (the test writes it).
    fn link_to_secret(&self, ts: i64, crc: u32) -> String {
        let link = self.put_on(0, S1, ts, "jpg", b"", crc);
        let link_path = self.stores[0].join("data").join(&link[4..]);
        fs::remove_file(&link_path).expect("rm");
        std::os::unix::fs::symlink(self.stores[0].join("secret.txt"), &link_path).expect("symlink");
        link
    }

    fn head(&self, ip: Ipv4Addr, target: &str, headers: &[(&str, &str)]) -> Response {
        request(addr(ip, self.port), "HEAD", target, headers).expect("request")
    }

    fn finish(self) {
        let log = self.nginx.error_log();
        assert!(!self.nginx.worker_crashed(), "a worker died:\n{log}");
        assert!(!log.contains("[alert]"), "alerts in the error log:\n{log}");
    }
}

/// A GET to `to` (a server started outside [`Fx`]).
fn get(to: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Response {
    request(to, "GET", target, headers).expect("get")
}

/// The emulator as one group of storages from S1 on (labelled like [`Fx`]'s), with a runtime and a
/// client of its first tracker to upload through: real uploads, its own on-disk layout.
struct Emu {
    cluster: Cluster,
    rt: tokio::runtime::Runtime,
    client: Client,
    _lo: Vec<LoopbackIp>,
}

impl Emu {
    /// `config` (the case's options) made one group of `storages` (1 or 2) from S1 on.
    fn start(storages: usize, config: ClusterBuilder) -> Emu {
        let lo: Vec<LoopbackIp> = [(S1, "lo:a0"), (S2, "lo:b0")]
            .into_iter()
            .take(storages)
            .map(|(ip, label)| ensure_loopback_ip(ip, label).expect("needs root: ip addr add"))
            .collect();
        let cluster = Cluster::start(
            config
                .groups(1)
                .storages_per_group(storages)
                .first_storage_ip(S1)
                .build(),
        )
        .expect("emulator");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let tracker = cluster.trackers()[0];
        let client = Client::builder()
            .tracker(ServerAddr::new(tracker.ip().to_string(), tracker.port()))
            .build()
            .expect("client");
        Emu {
            cluster,
            rt,
            client,
            _lo: lo,
        }
    }

    fn upload(&self, data: &[u8], options: &UploadOptions) -> String {
        self.rt
            .block_on(self.client.upload(data, options))
            .expect("upload")
    }

    /// Uploads `data` as a `.txt` to storage `to` itself (not where the tracker would send it).
    fn upload_to(&self, to: &StorageInfo, data: &[u8]) -> String {
        let storage = ServerAddr::new(to.ip.to_string(), to.port);
        self.upload(data, &UploadOptions::new().ext("txt").storage(storage))
    }
}

fn url(group: &str, logic: &str) -> String {
    format!("/{group}/{logic}")
}

/// IMF-fixdate of a unix time (the `Last-Modified` nginx writes).
fn http_date(ts: i64) -> String {
    let secs = u64::try_from(ts).expect("a time after 1970");
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[test]
fn local_files_and_headers() {
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let ts = now() - 3600;
    let small = vector("small_10k.jpg");
    let jpg = fx.put_on(0, S1, ts, "jpg", &small, 1);
    let big = vector("medium_1m.bin");
    let bin = fx.put_on(0, S1, ts, "bin", &big, 2);
    let noext = fx.put_on(0, S1, ts, "", &small[..5000], 3);
    let app = put(&fx.stores[0], S1, ts, "txt", b"", Kind::Appender, 4);
    write_at(&fx.stores[0], &app, &small[..5000]);
    let slave = format!(
        "M00/00/00/{}",
        slave_name(&jpg[10..], "_big", "jpg").expect("slave")
    );
    write_at(&fx.stores[0], &slave, &small[..4096]);

    // A1: GET, every header of the C module plus an ETag.
    let r = fx.get(S1, &url("group1", &jpg), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, small);
    assert_eq!(r.header("Content-Type"), Some("image/jpeg"));
    assert_eq!(r.header("Content-Length"), Some("10240"));
    assert_eq!(r.header("Last-Modified"), Some(http_date(ts).as_str()));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let etag = r.header("ETag").expect("etag").to_string();
    assert!(r.header("Content-Disposition").is_none());
    // A4: HEAD has the same headers and no body.
    let h = fx.head(S1, &url("group1", &jpg), &[]);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Length"), Some("10240"));
    assert_eq!(h.header("ETag"), Some(etag.as_str()));
    assert!(h.body.is_empty());
    // A5: 1 MiB.
    let r = fx.get(S1, &url("group1", &bin), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, big);
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    // A7: no extension.
    let r = fx.get(S1, &url("group1", &noext), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 5000);
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    // A8/A9: appender: size and Last-Modified from the disk.
    let r = fx.get(S1, &url("group1", &app), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, &small[..5000]);
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let mtime = fs::metadata(fx.stores[0].join("data").join(&app[4..]))
        .and_then(|m| m.modified())
        .expect("mtime");
    let mtime = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    assert_eq!(r.header("Last-Modified"), Some(http_date(mtime).as_str()));
    let h = fx.head(S1, &url("group1", &app), &[]);
    assert_eq!((h.status, h.body.len()), (200, 0));
    assert_eq!(h.header("Content-Length"), Some("5000"));
    // A10: slave file.
    let r = fx.get(S1, &url("group1", &slave), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, &small[..4096]);
    // A11: ?filename= (kept), and it cannot inject headers.
    let r = fx.get(
        S1,
        &format!("{}?filename=report.pdf", url("group1", &jpg)),
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Disposition"),
        Some("attachment; filename=\"report.pdf\"")
    );
    let r = fx.get(
        S1,
        &format!(
            "{}?filename=a%0D%0ASet-Cookie:%20x=1%22.pdf",
            url("group1", &jpg)
        ),
        &[],
    );
    assert_eq!(r.status, 200);
    assert!(r.header("Set-Cookie").is_none());
    let cd = r.header("Content-Disposition").expect("cd");
    assert!(cd.starts_with("attachment; filename=\""), "{cd}");
    assert!(
        cd.contains("filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1%22.pdf"),
        "{cd}"
    );
    let r = fx.get(
        S1,
        &format!("{}?filename=r%C3%A9sum%C3%A9.pdf", url("group1", &jpg)),
        &[],
    );
    assert!(r
        .header("Content-Disposition")
        .is_some_and(|v| v.contains("filename*=UTF-8''r%C3%A9sum%C3%A9.pdf")));
    assert!(fx.nginx.access_log().contains("200 local"));
    fx.finish();
}

#[test]
fn ranges_and_conditionals() {
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let ts = now() - 3600;
    let small = vector("small_10k.jpg");
    let jpg = fx.put_on(0, S1, ts, "jpg", &small, 11);
    let u = url("group1", &jpg);
    let lm = http_date(ts);

    let r = fx.get(S1, &u, &[("Range", "bytes=0-99")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 0-99/10240"));
    assert_eq!(r.body, &small[..100]);
    let r = fx.get(S1, &u, &[("Range", "bytes=100-")]);
    assert_eq!((r.status, r.body.len()), (206, 10140));
    let r = fx.get(S1, &u, &[("Range", "bytes=-100")]);
    assert_eq!(r.header("Content-Range"), Some("bytes 10140-10239/10240"));
    assert_eq!(r.body, &small[10140..]);
    let r = fx.get(S1, &u, &[("Range", "bytes=10000-20000")]);
    assert_eq!(r.header("Content-Range"), Some("bytes 10000-10239/10240"));
    // Fixed: bytes=0-0 is one byte.
    let r = fx.get(S1, &u, &[("Range", "bytes=0-0")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 0-0/10240"));
    assert_eq!(r.body, &small[..1]);
    // Multi-range through nginx's range filter.
    let r = fx.get(S1, &u, &[("Range", "bytes=0-9,20-29")]);
    assert_eq!(r.status, 206);
    let ct = r.header("Content-Type").expect("ct").to_string();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("Content-Range: bytes 0-9/10240"));
    assert!(body.contains("Content-Range: bytes 20-29/10240"));
    // Fixed: 416 carries Content-Range: bytes */size.
    for bad in ["bytes=10240-", "bytes=20000-30000"] {
        let r = fx.get(S1, &u, &[("Range", bad)]);
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(r.header("Content-Range"), Some("bytes */10240"), "{bad}");
    }
    // HEAD + Range: 206 headers only.
    let r = fx.head(S1, &u, &[("Range", "bytes=0-99")]);
    assert_eq!((r.status, r.body.len()), (206, 0));
    assert_eq!(r.header("Content-Range"), Some("bytes 0-99/10240"));
    // Fixed: If-Range honoured.
    let r = fx.get(
        S1,
        &u,
        &[
            ("Range", "bytes=0-9"),
            ("If-Range", "Mon, 01 Jan 2001 00:00:00 GMT"),
        ],
    );
    assert_eq!((r.status, r.body.len()), (200, 10240));
    let r = fx.get(S1, &u, &[("Range", "bytes=0-9"), ("If-Range", lm.as_str())]);
    assert_eq!((r.status, r.body.len()), (206, 10));

    // IMS: 304 without a body; other dates: 200.
    let r = fx.get(S1, &u, &[("If-Modified-Since", lm.as_str())]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = fx.get(
        S1,
        &u,
        &[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    );
    assert_eq!((r.status, r.body.len()), (200, 10240));
    // Fixed: compared as a date, not as a string (RFC 850 form of the same instant).
    let rfc850 = {
        let s = http_date(ts);
        // "Wed, 25 Nov 2026 03:15:48 GMT" -> "Wednesday, 25-Nov-26 03:15:48 GMT"
        let day = match &s[..3] {
            "Mon" => "Monday",
            "Tue" => "Tuesday",
            "Wed" => "Wednesday",
            "Thu" => "Thursday",
            "Fri" => "Friday",
            "Sat" => "Saturday",
            _ => "Sunday",
        };
        format!(
            "{day}, {}-{}-{} {}",
            &s[5..7],
            &s[8..11],
            &s[14..16],
            &s[17..]
        )
    };
    let r = fx.get(S1, &u, &[("If-Modified-Since", rfc850.as_str())]);
    assert_eq!(r.status, 304, "IMS {rfc850}");
    // IMS == LM plus Range: 304.
    let r = fx.get(
        S1,
        &u,
        &[("If-Modified-Since", lm.as_str()), ("Range", "bytes=0-9")],
    );
    assert_eq!(r.status, 304);
    // HEAD + IMS.
    let r = fx.head(S1, &u, &[("If-Modified-Since", lm.as_str())]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    // Fixed: no 304 for a missing file, whatever the IMS.
    let gone = fx.gone(S1, ts, 12);
    let r = fx.get(
        S1,
        &url("group1", &gone),
        &[("If-Modified-Since", http_date(ts).as_str())],
    );
    assert_eq!(r.status, 404);

    // ETag / If-None-Match.
    let etag = fx
        .get(S1, &u, &[])
        .header("ETag")
        .expect("etag")
        .to_string();
    let r = fx.get(S1, &u, &[("If-None-Match", etag.as_str())]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    let r = fx.get(S1, &u, &[("If-None-Match", "*")]);
    assert_eq!(
        (r.status, r.body.len()),
        (304, 0),
        "fixed: no body after 304"
    );
    let r = fx.get(S1, &u, &[("If-None-Match", "\"x\"")]);
    assert_eq!((r.status, r.body.len()), (200, 10240));
    // Fixed: no file body after 412.
    let r = fx.get(
        S1,
        &u,
        &[("If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    );
    assert_eq!(r.status, 412);
    assert!(
        r.body.len() < 1000,
        "412 page only, got {} bytes",
        r.body.len()
    );
    fx.finish();
}

#[test]
fn malformed_and_hostile_urls() {
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let ts = now() - 3600;
    let small = vector("small_10k.jpg");
    let jpg = fx.put_on(0, S1, ts, "jpg", &small, 21);
    let name = &jpg[10..];
    // A file outside the store path that a traversal would reach.
    fs::write(fx.stores[0].join("secret.txt"), b"secret").expect("secret");

    let cases: Vec<(String, u16)> = vec![
        ("/group1/M00/00/00/abc.jpg".into(), 400), // D8
        (format!("/group1/M00/00/00/{}123.jpg", "!".repeat(27)), 400), // D9
        (format!("/group1/M01/00/00/{name}"), 400), // D10
        (format!("/group1/M00/00/ZZ/{name}"), 400), // D11
        (format!("/group1/M00/00/00/{name}/"), 400), // D19
        (format!("/group1/M00/00/00/{}", &name[..30]), 400), // D21
        (
            format!("/group1/M00/00/00/{}.png", &name[..name.len() - 4]),
            404,
        ), // D20
        (format!("/M00/00/00/{name}"), 404),       // D12 (not our location)
        (
            "/group1/M00/00/00/%2e%2e/%2e%2e/%2e%2e/secret.txt".into(),
            404,
        ), // merged to /group1/secret.txt
        (
            format!("/group1/M00/00/00/{}%00.jpg", &name[..name.len() - 4]),
            400,
        ),
        (format!("/group1/M00/00/%2e%2e/{name}"), 400),
        (format!("/group1/M00/00/00/{name}?x=../../secret.txt"), 200),
    ];
    for (target, want) in &cases {
        let r = fx.get(S1, target, &[]);
        assert_eq!(r.status, *want, "{target}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("secret"),
            "{target}"
        );
    }
    // D18: raw ../ is merged by nginx before any location matches.
    let r = fx.get(S1, "/group1/M00/00/00/../../../../etc/passwd", &[]);
    assert_eq!(r.status, 404);
    // D16/D17: methods.
    for method in ["POST", "PUT", "OPTIONS", "DELETE"] {
        let r = request(
            addr(S1, fx.port),
            method,
            &url("group1", &jpg),
            &[("Content-Length", "0")],
        )
        .expect("request");
        assert_eq!(r.status, 405, "{method}");
    }
    // Symlinks follow disable_symlinks (off by default: served, like stat() in C).
    let link = fx.link_to_secret(ts, 22);
    let r = fx.get(S1, &url("group1", &link), &[]);
    assert_eq!(r.status, 200);
    // Reasons are logged at info level.
    let log = fx.nginx.error_log();
    assert!(log.contains("fastdfs: 400: file id too short"), "{log}");
    assert!(fx.nginx.access_log().contains("400 bad_request"));
    fx.finish();
}

#[test]
fn disable_symlinks_is_honoured() {
    let m = module();
    let fx = Fx::start(
        &m,
        Opts {
            loc_extra: "proxy_read_timeout 2s; disable_symlinks on;".into(),
            ..Opts::default()
        },
    );
    let ts = now() - 3600;
    fs::write(fx.stores[0].join("secret.txt"), b"secret").expect("secret");
    let link = fx.link_to_secret(ts, 23);
    let r = fx.get(S1, &url("group1", &link), &[]);
    assert_eq!(r.status, 403);
    assert!(!String::from_utf8_lossy(&r.body).contains("secret"));
    fx.finish();
}

#[test]
fn not_local_rules_and_proxy() {
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let recent = now() - 60;
    let old = now() - 3 * 86400;
    let png = vector("small_10k.jpg")[..8192].to_vec();
    // E: uploaded to s2, not yet on s1 (the sync window).
    let e = fx.put_on(1, S2, recent, "png", &png, 31);
    // D14: a group2 file on s3.
    let g2 = fx.put_on(2, S3, old, "txt", b"group two\n", 32);

    let u = url("group1", &e);
    let r = fx.get(S1, &u, &[]);
    assert_eq!(r.status, 200, "E1 proxied");
    assert_eq!(r.body, png);
    let r = fx.get(S1, &u, &[("Range", "bytes=0-99")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 0-99/8192"));
    assert_eq!(r.body, &png[..100]);
    let r = fx.head(S1, &u, &[]);
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("Content-Length"), Some("8192"));
    // E7: the loop guard.
    let r = fx.get(S1, &format!("{u}?redirect=1"), &[]);
    assert_eq!(r.status, 400);
    // Keep-alive: the proxied answer is framed, no stall (C bug #7/#94): a keep-alive request on
    // one connection followed by a second request gets both answers.
    {
        let mut s = std::net::TcpStream::connect(addr(S1, fx.port)).expect("connect");
        let req = format!(
            "GET {u} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGET {u} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).expect("read");
        let text = String::from_utf8_lossy(&buf);
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
    }
    // D14: foreign group, forwarded whatever its age.
    let r = fx.get(S1, &url("group2", &g2), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"group two\n");
    // D15.
    let r = fx.get(S1, &format!("{}?redirect=1", url("group2", &g2)), &[]);
    assert_eq!(r.status, 400);
    // D3/D1: missing, source is this storage: 404.
    let mine = fx.gone(S1, recent, 33);
    let r = fx.get(S1, &url("group1", &mine), &[]);
    assert_eq!(r.status, 404);
    let r = fx.head(S1, &url("group1", &mine), &[]);
    assert_eq!((r.status, r.body.len()), (404, 0));
    // D2/D4: asked on s2, proxied to s1, whose 404 comes back.
    let r = fx.get(S2, &url("group1", &mine), &[]);
    assert_eq!(r.status, 404);
    // D5: source s2, older than storage_sync_file_max_delay: 404 without proxying.
    let stale = fx.gone(S2, old, 34);
    let r = fx.get(S1, &url("group1", &stale), &[]);
    assert_eq!(r.status, 404);
    // D13: unknown group with an s1 id: its source is s1 itself, so it is not forwarded (a loop):
    // 400 like the C module (whose second hop refuses "redirect again").
    let r = fx.get(S1, &url("group9", &mine), &[]);
    assert_eq!(r.status, 400);
    assert!(fx.nginx.error_log().contains("is this node itself"));
    // Only cluster members: a source that is not a known storage is refused.
    let stranger = fx.gone(STRANGER, recent, 35);
    let r = fx.get(S1, &url("group1", &stranger), &[]);
    assert_eq!(r.status, 404);
    // A dead source: 502.
    let dead = fx.gone(DEAD, recent, 36);
    let r = fx.get(S1, &url("group1", &dead), &[]);
    assert_eq!(r.status, 502, "dead port {}", fx.dead_port);
    // A slow source (accepts, never answers): 504 after proxy_read_timeout.
    let slow = fx.gone(SLOW, recent, 37);
    let r = fx.get(S1, &url("group1", &slow), &[]);
    assert_eq!(r.status, 504, "slow port {}", fx.slow_port);

    let log = fx.nginx.error_log();
    assert!(log.contains("not a known storage"), "{log}");
    assert!(log.contains("redirect parameter"), "{log}");
    let access = fx.nginx.access_log();
    assert!(access.contains("200 proxy"), "{access}");
    assert!(access.contains("404 not_found"), "{access}");
    fx.finish();
}

/// Without `proxy_read_timeout` in the location, the proxy read timeout is mod_fastdfs.conf's
/// `network_timeout` (here 1 s), not nginx's 60 s: the slow source gives 504.
#[test]
fn proxy_timeouts_default_from_mod_fastdfs_conf() {
    let m = module();
    let fx = Fx::start(
        &m,
        Opts {
            network_timeout: 1,
            loc_extra: String::new(),
            ..Opts::default()
        },
    );
    let slow = fx.gone(SLOW, now() - 60, 97);
    let r = fx.get(S1, &url("group1", &slow), &[]);
    assert_eq!(r.status, 504);
    assert!(fx.nginx.error_log().contains("upstream timed out"));
    fx.finish();
}

/// Issue 9 item 2: with no member list (no storage_peers, storage ids or tracker answer) a file id's
/// source address is not trusted: 404 with the reason, no connection. `allow_unknown_peers = true`
/// forwards like the C module. The stranger is a loopback address nothing listens on, so the old
/// behaviour shows as a 502 (a connect was tried) and no traffic can leave the machine.
#[test]
fn unknown_members_refuse_unless_allowed() {
    let m = module();
    let recent = now() - 60;
    let setup = |fx: &Fx| {
        let e = fx.put_on(1, S2, recent, "txt", b"from s2\n", 41);
        let x = fx.gone(STRANGER, recent, 42);
        (url("group1", &e), url("group1", &x))
    };
    let fx = Fx::start(
        &m,
        Opts {
            peers: false,
            ..Opts::default()
        },
    );
    let (from_s2, stranger) = setup(&fx);
    assert_eq!(fx.get(S1, &from_s2, &[]).status, 404);
    assert_eq!(fx.get(S1, &stranger, &[]).status, 404);
    let log = fx.nginx.error_log();
    assert!(
        log.contains("allow_unknown_peers = true to forward"),
        "the start warns: {log}"
    );
    assert!(
        log.contains(&format!("not forwarding to its source {S2}"))
            && log.contains(&format!("not forwarding to its source {STRANGER}")),
        "{log}"
    );
    assert!(!fx.nginx.access_log().contains(" proxy"));
    fx.finish();

    // The explicit opt-in: forwarded to the source at the local port (all storages share it).
    let fx = Fx::start(
        &m,
        Opts {
            peers: false,
            conf_extra: "allow_unknown_peers = true\n".into(),
            ..Opts::default()
        },
    );
    let (from_s2, stranger) = setup(&fx);
    let r = fx.get(S1, &from_s2, &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"from s2\n"[..]));
    // D6: no storage there: the module forwards and nginx answers 502.
    assert_eq!(fx.get(S1, &stranger, &[]).status, 502);
    assert!(fx
        .nginx
        .error_log()
        .contains("allow_unknown_peers = true: files"));
    fx.finish();
}

#[test]
fn redirect_mode() {
    let m = module();
    let fx = Fx::start(
        &m,
        Opts {
            response_mode: "redirect",
            ..Opts::default()
        },
    );
    let recent = now() - 60;
    let e = fx.put_on(1, S2, recent, "txt", b"from s2\n", 51);
    let u = url("group1", &e);
    let r = fx.get(S1, &u, &[("Range", "bytes=0-3")]);
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("Location").map(str::to_owned),
        Some(format!("http://{S2}:{}{u}?redirect=1", fx.port))
    );
    assert!(
        r.header("Range").is_none(),
        "fixed: no bogus Range response header"
    );
    // Following it reaches s2, which serves it.
    let r2 = fx.get(S2, &format!("{u}?redirect=1"), &[]);
    assert_eq!(r2.status, 200);
    // A query survives, `&redirect=1` is appended; long URLs are not cut at 255 bytes.
    let long = format!("{u}?filename={}.txt", "a".repeat(600));
    let r = fx.get(S1, &long, &[]);
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("Location").map(str::to_owned),
        Some(format!("http://{S2}:{}{long}&redirect=1", fx.port))
    );
    // Loop guard.
    let r = fx.get(S1, &format!("{u}?redirect=1"), &[]);
    assert_eq!(r.status, 400);
    assert!(fx.nginx.access_log().contains("302 redirect"));
    fx.finish();
}

#[test]
fn anti_steal_tokens() {
    let m = module();
    let fx = Fx::start(
        &m,
        Opts {
            token: true,
            ..Opts::default()
        },
    );
    let ts = now() - 3600;
    let jpg = fx.put_on(0, S1, ts, "jpg", b"picture", 61);
    let u = url("group1", &jpg);
    let t = now();
    let good = fdfs_client::token::generate(&jpg, SECRET, t);
    let r = fx.get(S1, &format!("{u}?token={good}&ts={t}"), &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"picture"[..]));
    // Wrong, expired, missing: 403 without a token_check_fail file.
    let old = t - 10_000;
    let expired = fdfs_client::token::generate(&jpg, SECRET, old);
    for q in [
        format!("?token={}&ts={t}", "0".repeat(32)),
        format!("?token={expired}&ts={old}"),
        format!("?ts={t}"),
        format!("?token={good}"),
        String::new(),
    ] {
        let r = fx.get(S1, &format!("{u}{q}"), &[]);
        assert_eq!(r.status, 403, "{q}");
    }
    assert!(fx.nginx.access_log().contains("403 token_denied"));
    fx.finish();

    let fx = Fx::start(
        &m,
        Opts {
            token: true,
            fail_file: true,
            ..Opts::default()
        },
    );
    let jpg = fx.put_on(0, S1, ts, "jpg", b"picture", 62);
    let u = url("group1", &jpg);
    for q in [format!("?token={}&ts={t}", "0".repeat(32)), String::new()] {
        let r = fx.get(S1, &format!("{u}{q}"), &[]);
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(r.body, b"token denied\n");
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
    }
    fx.finish();
}

#[test]
fn trunk_files() {
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let ts = now() - 3600;
    let a: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let b = b"second trunk file\n".to_vec();
    let ta = put_trunk(&fx.stores[0], S1, ts, 0, &a, 71);
    let tb = put_trunk(&fx.stores[0], S1, ts, 2048, &b, 72);
    let r = fx.get(S1, &url("group1", &ta), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, a);
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Last-Modified"), Some(http_date(ts).as_str()));
    let r = fx.get(S1, &url("group1", &tb), &[]);
    assert_eq!(r.body, b);
    let r = fx.get(S1, &url("group1", &ta), &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &a[10..20]);
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/1000"));
    let r = fx.get(S1, &url("group1", &ta), &[("Range", "bytes=-5")]);
    assert_eq!(r.body, &a[995..]);
    let r = fx.get(S1, &url("group1", &ta), &[("Range", "bytes=0-1,998-")]);
    assert_eq!(r.status, 206);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("Content-Range: bytes 0-1/1000"));
    assert!(body.contains("Content-Range: bytes 998-999/1000"));
    let r = fx.head(S1, &url("group1", &ta), &[]);
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("Content-Length"), Some("1000"));
    // A link slot (type L) naming the first file: resolved once.
    let link = put_slot(&fx.stores[0], S1, ts, 4096, ta.as_bytes(), 73, true);
    let r = fx.get(S1, &url("group1", &link), &[]);
    assert_eq!((r.status, &r.body), (200, &a));
    // A link to a link is not followed.
    let link2 = put_slot(&fx.stores[0], S1, ts, 8192, link.as_bytes(), 74, true);
    assert_eq!(fx.get(S1, &url("group1", &link2), &[]).status, 404);
    // A freed slot (deleted trunk file): not found, and this storage is the source: 404.
    let container = fx.stores[0].join("data/00/00/000001");
    let mut c = fs::read(&container).expect("container");
    c[2048..2048 + 24 + b.len()].fill(0);
    fs::write(&container, c).expect("write");
    let r = fx.get(S1, &url("group1", &tb), &[]);
    assert_eq!(r.status, 404);
    fx.finish();
}

#[test]
fn several_instances_one_nginx() {
    // s1 and s2 are two storages of group1 served by the same nginx, each with its own config:
    // a file on s2's disk only is served by s2 and proxied by s1.
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let ts = now() - 60;
    let only2 = fx.put_on(1, S2, ts, "txt", b"only on s2\n", 81);
    let r = fx.get(S2, &url("group1", &only2), &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"only on s2\n"[..]));
    let r = fx.get(S1, &url("group1", &only2), &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"only on s2\n"[..]));
    assert!(fx.nginx.access_log().contains("200 proxy"));
    fx.finish();
}

#[test]
fn config_errors_name_file_and_line() {
    let m = module();
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    fs::create_dir_all(&store).expect("store");
    let conf = dir.path().join("mod_fastdfs.conf");
    fs::write(
        &conf,
        format!(
            "base_path={s}\ngroup_name=group1\nstore_path0={s}\nresponse_mode=proxy\nstorage_server_port=abc\n",
            s = store.display()
        ),
    )
    .expect("conf");
    let body = format!(
        "server {{ listen 127.0.0.1:1; location /group1/M00 {{ fastdfs_config {}; ngx_fastdfs_module; }} }}",
        conf.display()
    );
    let out = nginx::test_config(&m, &body).expect("nginx -t");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("{}:5", conf.display())), "{err}");

    // A missing file.
    let body = "server { listen 127.0.0.1:1; location /g { fastdfs_config /nonexistent/mod_fastdfs.conf; ngx_fastdfs_module; } }";
    let out = nginx::test_config(&m, body).expect("nginx -t");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/nonexistent/mod_fastdfs.conf"), "{err}");

    // The directive takes no arguments and lives in locations.
    let body = "server { listen 127.0.0.1:1; ngx_fastdfs_module; }";
    let out = nginx::test_config(&m, body).expect("nginx -t");
    assert!(!out.status.success());

    // A good config passes nginx -t.
    fs::write(
        &conf,
        format!(
            "base_path={s}\ngroup_name=group1\nstore_path0={s}\nurl_have_group_name=true\n\
             http.mime_types_filename=/etc/nginx/mime.types\nhttp.default_content_type=application/octet-stream\n",
            s = store.display()
        ),
    )
    .expect("conf");
    let body = format!(
        "fastdfs_config {};\nserver {{ listen 127.0.0.1:1; location ~ /group([0-9])/M00 {{ ngx_fastdfs_module; }} }}",
        conf.display()
    );
    let out = nginx::test_config(&m, &body).expect("nginx -t");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Files uploaded to the emulator (real uploads, its on-disk layout), storage-id mode, parameters and
/// ids fetched from its tracker at configuration time, and the sync window: a file on s2 that the
/// emulator has not yet replicated to s1 is proxied by s1, then served locally once it arrives.
#[test]
fn emulator_tracker_ids_and_sync_window() {
    emulator_case(true);
}

/// The same in IP mode: the member list comes from the tracker's storage list, so a source that
/// is not a storage of the cluster is refused without any `storage_peers`.
#[test]
fn emulator_ip_mode_members_from_tracker() {
    emulator_case(false);
}

fn emulator_case(ids: bool) {
    use std::time::Duration;

    let m = module();
    let emu = Emu::start(2, ClusterConfig::builder().use_storage_id(ids));
    let cluster = &emu.cluster;
    let storages = cluster.storages().to_vec();
    let (s1, s2) = (&storages[0], &storages[1]);
    assert_eq!((s1.ip, s2.ip), (S1, S2));
    cluster.pause_sync(0usize);

    let tracker = cluster.trackers()[0];
    let data = b"uploaded to s2, not yet on s1\n".to_vec();
    let file_id = emu.upload_to(s2, &data);
    assert!(cluster.has_file(1usize, &file_id));
    assert!(!cluster.has_file(0usize, &file_id));

    let root = tempfile::tempdir().expect("tmp");
    let port = common_port();
    let mut servers = String::new();
    for (i, (s, alias)) in [(s1, "lo:a"), (s2, "lo:b")].into_iter().enumerate() {
        let dir = root.path().join(format!("s{}", i + 1));
        fs::create_dir_all(&dir).expect("dir");
        fs::write(
            dir.join("mod_fastdfs.conf"),
            format!(
                "connect_timeout=2\nnetwork_timeout=5\nbase_path={store}\n\
                 load_fdfs_parameters_from_tracker=true\ntracker_server={tracker}\n\
                 storage_server_port={sport}\ngroup_name=group1\nurl_have_group_name=true\n\
                 store_path_count=1\nstore_path0={store}\nresponse_mode=proxy\nif_alias_prefix={alias}\n\
                 http.mime_types_filename=/etc/nginx/mime.types\nhttp.default_content_type=application/octet-stream\n",
                store = s.store_path().display(),
                sport = s.port,
            ),
        )
        .expect("conf");
        servers.push_str(&format!(
            "server {{ listen {ip}:{port}; location ~ ^/group1/M00/ {{ fastdfs_config {dir}/mod_fastdfs.conf; ngx_fastdfs_module; }} }}\n",
            ip = s.ip,
            dir = dir.display()
        ));
    }
    let nginx = Nginx::start(&m, &servers, &[addr(S1, port), addr(S2, port)]).expect("nginx");
    let log = nginx.error_log();
    assert!(log.contains("from the tracker"), "{log}");
    let want = if ids {
        "use_storage_id=true (2 storage ids), 2 storages"
    } else {
        "use_storage_id=false (0 storage ids), 2 storages"
    };
    assert!(log.contains(want), "{log}");

    let u = format!("/{file_id}");
    let r = get(addr(S2, port), &u, &[]);
    assert_eq!((r.status, &r.body), (200, &data));
    // s1 has not got it: its source (a storage id from the tracker's table) is s2: proxied.
    let r = get(addr(S1, port), &u, &[]);
    assert_eq!((r.status, &r.body), (200, &data));
    assert!(nginx.access_log().contains("200 proxy"));
    // After replication s1 serves it itself.
    cluster.resume_sync(0usize);
    assert!(cluster.wait_for_file(0usize, &file_id, true, Duration::from_secs(30)));
    let r = get(addr(S1, port), &u, &[]);
    assert_eq!((r.status, &r.body), (200, &data));
    assert!(nginx.access_log().contains("200 local"));
    if ids {
        // A storage id the tracker does not know: 500 (C behaviour, logged).
        let unknown = name_of(Source::StorageId(100_099), now() - 10, 0);
        let r = get(addr(S1, port), &format!("/group1/{unknown}"), &[]);
        assert_eq!(r.status, 500);
    } else {
        // Not a storage of the cluster (per the tracker's list): refused, not forwarded.
        let stranger = name_from(STRANGER, now() - 10, 0);
        let r = get(addr(S1, port), &format!("/group1/{stranger}"), &[]);
        assert_eq!(r.status, 404);
        assert!(nginx.error_log().contains("not a known storage"));
    }
    assert!(!nginx.worker_crashed());
}

#[test]
fn flv_pseudo_streaming() {
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 253) as u8).collect();
    let flv = fx.put_on(0, S1, now() - 60, "flv", &data, 91);
    let u = url("group1", &flv);
    let header = [0x46u8, 0x4C, 0x56, 0x01, 0x01, 0, 0, 0, 0x09, 0, 0, 0, 0x09];
    let r = fx.get(S1, &format!("{u}?start=100"), &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Range").is_none());
    assert_eq!(r.header("Content-Length"), Some("913"));
    assert_eq!(&r.body[..13], &header);
    assert_eq!(&r.body[13..], &data[100..]);
    let r = fx.get(S1, &format!("{u}?start=100&end=200"), &[]);
    assert_eq!(r.body.len(), 113);
    assert_eq!(&r.body[13..], &data[100..200]);
    let r = fx.get(S1, &format!("{u}?start=0"), &[]);
    assert_eq!((r.status, &r.body), (200, &data));
    for bad in ["start=abc", "start=1000", "start=10&end=5"] {
        let r = fx.get(S1, &format!("{u}?{bad}"), &[]);
        assert_eq!(r.status, 400, "{bad}");
    }
    // A Range header wins over start=.
    let r = fx.get(S1, &format!("{u}?start=100"), &[("Range", "bytes=0-9")]);
    assert_eq!((r.status, r.body.as_slice()), (206, &data[..10]));
    let h = fx.head(S1, &format!("{u}?start=100"), &[]);
    assert_eq!((h.status, h.body.len()), (200, 0));
    assert_eq!(h.header("Content-Length"), Some("913"));
    fx.finish();
}

/// Per-cycle state: a reload re-reads mod_fastdfs.conf (here: proxy → redirect) and old and new
/// workers stay healthy.
#[test]
fn reload_rereads_the_config() {
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let e = fx.put_on(1, S2, now() - 60, "txt", b"from s2\n", 95);
    let u = url("group1", &e);
    assert_eq!(fx.get(S1, &u, &[]).status, 200);
    let conf = fx.stores[0].parent().expect("dir").join("mod_fastdfs.conf");
    let text = fs::read_to_string(&conf).expect("conf");
    fs::write(
        &conf,
        text.replace("response_mode=proxy", "response_mode=redirect"),
    )
    .expect("write");
    fx.nginx.reload().expect("reload");
    // Bounded wait for the new workers to take over (not a timing assertion).
    let status = eventually(
        std::time::Duration::from_secs(10),
        "the reloaded workers never redirected",
        || {
            let status = fx.get(S1, &u, &[]).status;
            if status == 302 {
                Ok(status)
            } else {
                Err(format!("last status {status}"))
            }
        },
    );
    assert_eq!(status, 302);
    for _ in 0..3 {
        fx.nginx.reload().expect("reload");
    }
    assert_eq!(fx.get(S2, &u, &[]).status, 200);
    fx.finish();
}

/// The trunk container and ids of a real FastDFS 6.16.1 trunk cluster (vectors/trunk): every file
/// comes back byte for byte, with the C module's headers, ranges fixed where C was wrong, and the
/// tampered ids the C module refused are refused too.
#[test]
fn real_trunk_vectors() {
    let m = module();
    let vec_dir = vector_path("trunk");
    let container = read_vector("trunk/containers/data_00_00_000001.first20k");
    let _lo = ensure_loopback_ip(S1, "lo:a0").expect("needs root: ip addr add");
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    fs::create_dir_all(store.join("data/00/00")).expect("store");
    fs::write(store.join("data/00/00/000001"), &container).expect("container");
    fs::write(
        dir.path().join("mod_fastdfs.conf"),
        format!(
            "base_path={s}\ngroup_name=group3\nurl_have_group_name=true\nstore_path0={s}\n\
             if_alias_prefix=lo:a\nstorage_sync_file_max_delay=86400\n\
             http.mime_types_filename=/etc/nginx/mime.types\nhttp.default_content_type=application/octet-stream\n",
            s = store.display()
        ),
    )
    .expect("conf");
    let port = free_port(S1);
    let nginx = Nginx::start(
        &m,
        &format!(
            "server {{ listen {S1}:{port}; location ~ ^/group3/M00/ {{ fastdfs_config {}/mod_fastdfs.conf; ngx_fastdfs_module; }} }}",
            dir.path().display()
        ),
        &[addr(S1, port)],
    )
    .expect("nginx");
    let ids = fs::read_to_string(vec_dir.join("file_ids.tsv")).expect("ids");
    let mut served = 0;
    for line in ids.lines() {
        let mut f = line.split('\t');
        let (Some(file), Some(id)) = (f.next(), f.next()) else {
            continue;
        };
        if file.ends_with(".bin") {
            continue; // the normal (non-trunk) control file is not in the container
        }
        let data = fs::read(vec_dir.join("files").join(file)).expect("file");
        let u = format!("/{id}");
        let r = get(addr(S1, port), &u, &[]);
        assert_eq!(r.status, 200, "{file}");
        assert_eq!(r.body, data, "{file}");
        let n = data.len();
        let r = get(addr(S1, port), &u, &[("Range", "bytes=0-0")]);
        assert_eq!((r.status, r.body.as_slice()), (206, &data[..1]), "{file}");
        let r = get(addr(S1, port), &u, &[("Range", "bytes=-10")]);
        assert_eq!(r.body, &data[n - 10..], "{file}");
        let past = format!("bytes={n}-{}", n + 10);
        let r = get(addr(S1, port), &u, &[("Range", past.as_str())]);
        assert_eq!(r.status, 416, "{file}");
        assert_eq!(
            r.header("Content-Range").map(str::to_owned),
            Some(format!("bytes */{n}"))
        );
        let r = get(addr(S1, port), &u, &[("Range", "bytes=0-9,20-29")]);
        assert_eq!(r.status, 206, "{file}");
        served += 1;
    }
    assert_eq!(served, 4);
    for tampered in [
        "/group3/M00/00/00/fwAAFWsGWzqIFjW9AAAD6CRqmBIAAAAAQAABAAAABQA984.txt",
        "/group3/M00/00/00/fwAAFWsGWzqIFjW9AAAD6CRqmBIAAAAAgAAAAAAAAQA984.txt",
        "/group3/M00/00/00/fwAAFWsGWzqIFjW9AAAD6CRqmBIAAAAAQAAAAAAAAgA984.txt",
        "/group3/M00/00/00/fwAAFWsGWzqAFjW9AAAD6CRqmBIAAAAAQAAAAAAAAQA984.txt",
    ] {
        let r = get(addr(S1, port), tampered, &[]);
        assert_eq!(r.status, 404, "{tampered}");
    }
    assert!(!nginx.worker_crashed());
}

/// With a module built with `--features panic-probe` (`make module` leaves it as
/// `build/modules/ngx_http_fastdfs_module_probe.so`; or `NGX_FASTDFS_PROBE_MODULE`), a panic in the
/// handler is a 500 and the same worker goes on serving.
#[test]
fn panic_becomes_500_and_worker_survives() {
    let m = std::env::var_os("NGX_FASTDFS_PROBE_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../build/modules/ngx_http_fastdfs_module_probe.so")
        });
    assert!(
        m.exists(),
        "{} is missing: run `make module` (it builds the panic-probe variant too)",
        m.display()
    );
    let fx = Fx::start(&m, Opts::default());
    let ok = fx.put_on(0, S1, now() - 60, "txt", b"still here\n", 99);
    for _ in 0..3 {
        let r = fx.get(S1, "/group1/M00/00/00/__fastdfs_panic__", &[]);
        assert_eq!(r.status, 500);
    }
    let r = fx.get(S1, &url("group1", &ok), &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"still here\n"[..]));
    assert!(fx.nginx.error_log().contains("panic probe"));
    fx.finish();
}

/// Trunk files, appender and slave files written by the emulator (real uploads), served locally.
#[test]
fn emulator_trunk_appender_slave() {
    let m = module();
    let emu = Emu::start(1, ClusterConfig::builder().trunk(true));
    let s1 = emu.cluster.storages()[0].clone();
    let files: Vec<Vec<u8>> = vec![
        b"small trunk file\n".to_vec(),
        (0..5000u32).map(|i| (i % 241) as u8).collect(),
        (0..10240u32).map(|i| (i % 239) as u8).collect(),
    ];
    let mut ids = Vec::new();
    for (i, data) in files.iter().enumerate() {
        let ext = if i == 1 { "jpg" } else { "txt" };
        let id = emu.upload(data, &UploadOptions::new().ext(ext));
        ids.push(id);
    }
    let app = emu.upload(
        b"part one;",
        &UploadOptions {
            kind: UploadKind::Appender,
            ..UploadOptions::new().ext("log")
        },
    );
    emu.rt
        .block_on(emu.client.append(&app, b"part two\n"))
        .expect("append");

    let dir = tempfile::tempdir().expect("tmp");
    fs::write(
        dir.path().join("mod_fastdfs.conf"),
        format!(
            "base_path={s}\ngroup_name=group1\nurl_have_group_name=true\nstore_path0={s}\n\
             if_alias_prefix=lo:a\n\
             http.mime_types_filename=/etc/nginx/mime.types\nhttp.default_content_type=application/octet-stream\n",
            s = s1.store_path().display()
        ),
    )
    .expect("conf");
    let port = free_port(S1);
    let nginx = Nginx::start(
        &m,
        &format!(
            "server {{ listen {S1}:{port}; location /group1/M00/ {{ fastdfs_config {}/mod_fastdfs.conf; ngx_fastdfs_module; }} }}",
            dir.path().display()
        ),
        &[addr(S1, port)],
    )
    .expect("nginx");
    let mut trunk_seen = 0;
    for (id, data) in ids.iter().zip(&files) {
        let logic = fdfs_client::file_id::FileId::parse(id).expect("id");
        if logic.decode().expect("decode").is_trunk() {
            trunk_seen += 1;
        }
        let r = get(addr(S1, port), &format!("/{id}"), &[]);
        assert_eq!((r.status, &r.body), (200, data), "{id}");
        let r = get(addr(S1, port), &format!("/{id}"), &[("Range", "bytes=3-7")]);
        assert_eq!((r.status, r.body.as_slice()), (206, &data[3..8]), "{id}");
    }
    assert!(
        trunk_seen > 0,
        "the emulator packed no file into a trunk: {ids:?}"
    );
    let r = get(addr(S1, port), &format!("/{app}"), &[]);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"part one;part two\n"[..])
    );
    assert!(!nginx.worker_crashed());
}

/// A stock-style multi-group `mod_fastdfs.conf` (`group_count`, `[groupN]` sections, comments,
/// `#include http.conf`) with the classic nginx.conf location, unchanged.
#[test]
fn stock_multi_group_config() {
    let m = module();
    let _lo = ensure_loopback_ip(S1, "lo:a0").expect("needs root: ip addr add");
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (dir.path().join("g1"), dir.path().join("g2"));
    for p in [&a, &b] {
        fs::create_dir_all(p.join("data/00/00")).expect("store");
    }
    fs::write(
        dir.path().join("mod_fastdfs.conf"),
        format!(
            "# connect timeout in seconds\n# default value is 30s\nconnect_timeout=2\n\n\
             network_timeout=30\n\n# the base path to store log files\nbase_path=/tmp\n\n\
             load_fdfs_parameters_from_tracker=false\nstorage_sync_file_max_delay = 86400\n\
             use_storage_id = false\n\
             tracker_server=127.0.0.10:22122\n\nstorage_server_port=23000\n\n\
             url_have_group_name = true\n\
             log_level=info\nlog_filename=\nresponse_mode=proxy\nif_alias_prefix=lo:a\n\
             flv_support = true\nflv_extension = flv\n\n# set the group count\ngroup_count = 2\n\n\
             [group1]\ngroup_name=group1\nstorage_server_port=23000\nstore_path_count=1\nstore_path0={a}\n\n\
             [group2]\ngroup_name=group2\nstorage_server_port=23000\nstore_path_count=1\nstore_path0={b}\n\n\
             #include http.conf\n",
            a = a.display(),
            b = b.display()
        ),
    )
    .expect("conf");
    fs::write(
        dir.path().join("http.conf"),
        "# HTTP default content type\nhttp.default_content_type = application/octet-stream\n\n\
         # MIME types mapping filename\nhttp.mime_types_filename=mime.types\n\n\
         http.anti_steal.check_token=false\nhttp.anti_steal.token_ttl=900\n\
         http.anti_steal.secret_key=FastDFS1234567890\nhttp.anti_steal.token_check_fail=/home/yuqing/fastdfs/conf/anti-steal.jpg\n\
         http.multi_range.enabed = true\n",
    )
    .expect("http.conf");
    fs::copy("/etc/nginx/mime.types", dir.path().join("mime.types")).expect("mime");
    let ts = now() - 3600;
    let f1 = put(&a, S1, ts, "txt", b"in group one\n", Kind::Normal, 101);
    let f2 = put(&b, S1, ts, "txt", b"in group two\n", Kind::Normal, 102);
    let port = free_port(S1);
    let nginx = Nginx::start(
        &m,
        &format!(
            "fastdfs_config {}/mod_fastdfs.conf;\n\
             server {{ listen {S1}:{port}; location ~ /group([0-9])/M00 {{ ngx_fastdfs_module; }} }}",
            dir.path().display()
        ),
        &[addr(S1, port)],
    )
    .expect("nginx");
    let r = get(addr(S1, port), &url("group1", &f1), &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"in group one\n"[..]));
    let r = get(addr(S1, port), &url("group2", &f2), &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"in group two\n"[..]));
    // A file of group1 asked as group2: not on group2's disk, its source is this host: 404.
    let r = get(addr(S1, port), &url("group2", &f1), &[]);
    assert_eq!(r.status, 404);
    assert!(!nginx.worker_crashed());
}

/// Issue 9 item 13: the loop guard holds whatever the query holds. The C module (and this one before
/// the fix) parsed 32 parameters, so the appended `redirect=1` was the 33rd and never seen: a file
/// whose source is this very node proxied to itself until nginx ran out of connections. Now
/// `redirect` is found anywhere, and a forward to this node itself is refused.
#[test]
fn loop_guard_holds_with_many_parameters() {
    let m = module();
    let fx = Fx::start(&m, Opts::default());
    let recent = now() - 60;
    let many: Vec<String> = (0..32).map(|n| format!("p{n}={n}")).collect();
    let many = many.join("&");
    // Source s2, missing everywhere: s1 must not forward a request that was already forwarded.
    let gone = fx.gone(S2, recent, 131);
    let target = format!("{}?{many}&redirect=1", url("group1", &gone));
    assert_eq!(fx.get(S1, &target, &[]).status, 400);
    // A foreign group whose source is s1 itself, with 32 parameters: never proxied to itself.
    let mine = fx.gone(S1, recent, 132);
    let looped = format!("{}?{many}", url("group9", &mine));
    assert_eq!(fx.get(S1, &looped, &[]).status, 400);
    let access = fx.nginx.access_log();
    assert!(
        !access.contains(" proxy"),
        "nothing is proxied for these: {access}"
    );
    assert_eq!(
        access.lines().count(),
        2,
        "one request each, no internal hop: {access}"
    );
    let log = fx.nginx.error_log();
    assert!(log.contains("redirect parameter"), "{log}");
    assert!(log.contains("is this node itself"), "{log}");
    assert!(!log.contains("worker_connections are not enough"), "{log}");
    fx.finish();
}

/// The location line of the shipped storage nginx.conf (the one that holds `ngx_fastdfs_module;`).
fn shipped_location() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nginx-conf/storage/nginx.conf");
    let text = fs::read_to_string(&p).expect("nginx-conf/storage/nginx.conf");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| *l == "ngx_fastdfs_module;")
        .expect("a location with ngx_fastdfs_module");
    lines[..at]
        .iter()
        .rev()
        .find(|l| l.starts_with("location"))
        .expect("its location line")
        .trim_end_matches('{')
        .trim()
        .to_string()
}

/// A file name of group1 whose source is the storage at `src`, without writing anything.
fn name_from(src: Ipv4Addr, ts: i64, store_path_index: u8) -> String {
    name_of(Source::Ip(src), ts, store_path_index)
}

/// A file name of group1 whose source is `source` (an address or a storage id), without writing
/// anything.
fn name_of(source: Source, ts: i64, store_path_index: u8) -> String {
    encode_logic_name(&NameSpec {
        source,
        timestamp: ts,
        size_field: SizeField::compose(1, false, false, Some(1)),
        crc32: 9,
        trunk: None,
        store_path_index,
        subdirs: (0, 0),
        ext: "txt",
        random_digits: "123",
    })
    .expect("encode")
}

/// Issue 9 item 5: with the shipped storage nginx.conf, a store path index past `store_path_count`
/// (`/group1/M01/…` on a node with one store path) reaches the module and is a 400 with the reason,
/// like the C module, instead of nginx's own 404 (the `M00`-only location never matched it).
#[test]
fn store_path_index_past_count_is_400_with_shipped_location() {
    let m = module();
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    fs::create_dir_all(store.join("data/00/00")).expect("store");
    fs::write(
        dir.path().join("mod_fastdfs.conf"),
        format!(
            "base_path={s}\ngroup_name=group1\nurl_have_group_name=true\nstore_path_count=1\n\
             store_path0={s}\nstorage_peers = 127.0.0.1\n\
             http.mime_types_filename=/etc/nginx/mime.types\nhttp.default_content_type=application/octet-stream\n",
            s = store.display()
        ),
    )
    .expect("conf");
    let location = shipped_location();
    let port = free_port(Ipv4Addr::LOCALHOST);
    let nginx = Nginx::start(
        &m,
        &format!(
            "fastdfs_config {}/mod_fastdfs.conf;\n\
             server {{ listen 127.0.0.1:{port}; root {}; {location} {{ ngx_fastdfs_module; }} }}",
            dir.path().display(),
            dir.path().display()
        ),
        &[addr(Ipv4Addr::LOCALHOST, port)],
    )
    .expect("nginx");
    let name = name_from(Ipv4Addr::LOCALHOST, now() - 60, 1);
    assert!(name.starts_with("M01/"), "{name}");
    let r = get(
        addr(Ipv4Addr::LOCALHOST, port),
        &format!("/group1/{name}"),
        &[],
    );
    assert_eq!(r.status, 400, "{location}");
    let log = nginx.error_log();
    assert!(log.contains("store path index 1 out of range"), "{log}");
    assert!(!nginx.worker_crashed());
}

/// Issue 9 items 3 and 4: every config warning is logged with file:line at `nginx -t` and at start
/// (the module used to compute them and drop them): a boolean that is not one (`ture`, read as
/// false), a line without `=`, and a store path that holds no FastDFS `data/` directory. The 404
/// for a file of that store path names the full path looked at.
#[test]
fn config_warnings_are_logged() {
    let m = module();
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("empty-store");
    fs::create_dir_all(&store).expect("store");
    let conf = dir.path().join("mod_fastdfs.conf");
    fs::write(
        &conf,
        format!(
            "base_path={d}\n\
             group_name=group1\n\
             url_have_group_name = ture\n\
             store_path0={s}\n\
             this line has no equals sign\n\
             storage_peers = 127.0.0.1\n\
             http.mime_types_filename=/etc/nginx/mime.types\n\
             http.default_content_type=application/octet-stream\n",
            d = dir.path().display(),
            s = store.display()
        ),
    )
    .expect("conf");
    let c = conf.display();
    let expected = [
        format!(
            "{c}:3: url_have_group_name: expected true/yes/on/1 or false/no/off/0, got \"ture\""
        ),
        format!("{c}:5: ignored line without '='"),
        format!(
            "store_path0 {} holds no FastDFS data ({}/data is not a directory)",
            store.display(),
            store.display()
        ),
    ];
    let port = free_port(Ipv4Addr::LOCALHOST);
    // `ture` is read as false: the URL carries no group name.
    let body = format!(
        "fastdfs_config {c};\n\
         server {{ listen 127.0.0.1:{port}; location ~ ^/M[0-9A-F][0-9A-F]/ {{ ngx_fastdfs_module; }} }}"
    );
    let out = nginx::test_config(&m, &body).expect("nginx -t");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for w in &expected {
        assert!(err.contains(w.as_str()), "nginx -t says {w:?}:\n{err}");
    }
    let nginx = Nginx::start(&m, &body, &[addr(Ipv4Addr::LOCALHOST, port)]).expect("nginx");
    let log = nginx.error_log();
    for w in &expected {
        assert!(log.contains(w.as_str()), "the start logs {w:?}:\n{log}");
    }
    // Item 4: the 404 reason names the full path it looked at.
    let name = name_from(Ipv4Addr::LOCALHOST, now() - 60, 0);
    let r = get(addr(Ipv4Addr::LOCALHOST, port), &format!("/{name}"), &[]);
    assert_eq!(r.status, 404);
    let full = store.join("data").join(&name[4..]);
    let log = nginx.error_log();
    assert!(
        log.contains(&format!("(looked for {})", full.display())),
        "{log}"
    );
    assert!(!nginx.worker_crashed());
}

/// A tracker stand-in on loopback that counts the connections it accepts: it relays them to a real
/// (emulated) tracker, or, once `hang` is set (or without a tracker to relay to), accepts and never
/// answers, like a hung tracker.
struct FakeTracker {
    addr: SocketAddr,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeTracker {
    fn start(ip: Ipv4Addr, relay_to: Option<SocketAddr>) -> FakeTracker {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let l = TcpListener::bind(addr(ip, 0)).expect("fake tracker");
        let hang = Arc::new(AtomicBool::new(relay_to.is_none()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let fake = FakeTracker {
            addr: l.local_addr().expect("addr"),
            hang: hang.clone(),
            accepted: accepted.clone(),
        };
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming().flatten() {
                accepted.fetch_add(1, Ordering::SeqCst);
                match relay_to {
                    Some(to) if !hang.load(Ordering::SeqCst) => relay(s, to),
                    _ => held.push(s),
                }
            }
        });
        fake
    }

    fn hang(&self) {
        self.hang.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Copy both ways between `client` and a new connection to `to`, each direction in a thread.
fn relay(client: std::net::TcpStream, to: SocketAddr) {
    let Ok(up) = std::net::TcpStream::connect(to) else {
        return;
    };
    let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), up.try_clone()) else {
        return;
    };
    let (mut c, mut u) = (client, up);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut u, &mut c);
        let _ = c.shutdown(std::net::Shutdown::Write);
    });
}

/// Issue 9 item 1 (and the tracker half of item 3): trackers that accept and never answer cannot
/// stall nginx. Two of them, with `connect_timeout = network_timeout = 30` (the old module waited
/// 3 rounds x 2 trackers x 30 s): the start is bounded (the harness gives it 30 s, the module's
/// bound is 5 s), the log says "timed out", the last good answer cached under `base_path` stands in
/// (its member list lets s1 proxy to s2; nothing else would), and neither `nginx -t` nor
/// `nginx -s reopen` contacts a tracker. A `[group2]` section naming `group3`, which the trackers
/// do not know, is a warning with file:line, from the live answer and from the cached one.
#[test]
fn hung_trackers_are_bounded_and_cached() {
    let m = module();
    let emu = Emu::start(2, ClusterConfig::builder());
    let cluster = &emu.cluster;
    let storages = cluster.storages().to_vec();
    let (s1, s2) = (&storages[0], &storages[1]);
    cluster.pause_sync(0usize);
    let tracker = cluster.trackers()[0];
    let data = b"on s2 only\n".to_vec();
    let file_id = emu.upload_to(s2, &data);

    let relayed = FakeTracker::start(Ipv4Addr::new(127, 0, 0, 26), Some(SocketAddr::V4(tracker)));
    let hung = FakeTracker::start(Ipv4Addr::new(127, 0, 0, 27), None);
    let asked = || relayed.accepted() + hung.accepted();
    let root = tempfile::tempdir().expect("tmp");
    let base = root.path().join("base");
    let g3 = root.path().join("g3");
    fs::create_dir_all(g3.join("data/00/00")).expect("g3");
    fs::create_dir_all(&base).expect("base");
    let port = common_port();
    let conf1 = root.path().join("s1.conf");
    fs::write(
        &conf1,
        format!(
            "connect_timeout=30\nnetwork_timeout=30\nbase_path={base}\n\
             load_fdfs_parameters_from_tracker=true\ntracker_server={t1}\ntracker_server={t2}\n\
             url_have_group_name=true\nresponse_mode=proxy\nif_alias_prefix=lo:a\ngroup_count=2\n\
             http.mime_types_filename=/etc/nginx/mime.types\nhttp.default_content_type=application/octet-stream\n\
             [group1]\ngroup_name=group1\nstorage_server_port={sport}\nstore_path_count=1\nstore_path0={store}\n\
             [group2]\ngroup_name=group3\nstore_path_count=1\nstore_path0={g3}\n",
            base = base.display(),
            t1 = relayed.addr,
            t2 = hung.addr,
            sport = s1.port,
            store = s1.store_path().display(),
            g3 = g3.display(),
        ),
    )
    .expect("s1 conf");
    let conf2 = root.path().join("s2.conf");
    fs::write(
        &conf2,
        format!(
            "base_path={store}\ngroup_name=group1\nurl_have_group_name=true\nstore_path0={store}\n\
             if_alias_prefix=lo:b\nstorage_peers = {S1}:{port}, {S2}:{port}\n\
             http.mime_types_filename=/etc/nginx/mime.types\nhttp.default_content_type=application/octet-stream\n",
            store = s2.store_path().display(),
        ),
    )
    .expect("s2 conf");
    let body = format!(
        "server {{ listen {S1}:{port}; location ~ ^/group[0-9]+/M00/ {{ fastdfs_config {}; ngx_fastdfs_module; }} }}\n\
         server {{ listen {S2}:{port}; location ~ ^/group[0-9]+/M00/ {{ fastdfs_config {}; ngx_fastdfs_module; }} }}\n",
        conf1.display(),
        conf2.display()
    );
    let listen = [addr(S1, port), addr(S2, port)];
    let group3 = format!(
        "{}:19: group_name: [group2] names group \"group3\", which the trackers do not know",
        conf1.display()
    );
    let u = format!("/{file_id}");

    // A tracker answers: its answer is used and cached.
    let nginx = Nginx::start(&m, &body, &listen).expect("nginx");
    let log = nginx.error_log();
    assert!(log.contains("from the tracker"), "{log}");
    assert!(log.contains(&group3), "{log}");
    let cache = base.join("ngx_fastdfs_tracker.cache");
    assert!(
        cache.is_file(),
        "the answer is cached in {}",
        cache.display()
    );
    let r = get(addr(S1, port), &u, &[]);
    assert_eq!((r.status, &r.body), (200, &data));
    drop(nginx);

    // Every tracker hangs now: the start is bounded, says "timed out" and uses the cached answer.
    relayed.hang();
    let before = asked();
    let nginx = Nginx::start(&m, &body, &listen).expect("nginx starts despite hung trackers");
    let log = nginx.error_log();
    assert!(asked() > before, "the start asks the trackers");
    assert!(log.contains("timed out"), "{log}");
    assert!(!log.contains("Resource temporarily unavailable"), "{log}");
    assert!(log.contains("using the cached tracker answer"), "{log}");
    let r = get(addr(S1, port), &u, &[]);
    assert_eq!((r.status, &r.body), (200, &data), "members from the cache");
    let stranger = format!("/group1/{}", name_from(STRANGER, now() - 10, 0));
    let r = get(addr(S1, port), &stranger, &[]);
    assert_eq!(r.status, 404);
    assert!(nginx.error_log().contains("not a known storage"));

    // `nginx -t` and `nginx -s` ask no tracker; -t checks against the cached answer.
    let before = asked();
    let logged = nginx.error_log().len();
    let out = nginx.command(&["-t"]).expect("nginx -t finishes");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&group3), "{err}");
    let log = nginx.error_log();
    let new = log.get(logged..).unwrap_or("");
    assert!(new.contains("nginx -t does not ask the trackers"), "{new}");
    assert!(new.contains("using the cached tracker answer"), "{new}");
    let out = nginx
        .command(&["-s", "reopen"])
        .expect("nginx -s reopen finishes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(asked(), before, "nginx -t and -s contact no tracker");
    assert!(!nginx.worker_crashed());
}
