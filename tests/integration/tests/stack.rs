//! The whole deployment end to end, as in the README picture, on loopback:
//!
//! ```text
//!   client ──upload──▶ emulator (tracker + 2 groups × 2 storages, replication with a delay)
//!   client ──GET────▶ fdfs-edge ([trackers] discovery) ──▶ nginx + module, one per storage,
//!                                                          each on its own 127.0.N.x, same port
//! ```
//!
//! Each test starts its own stack on its own `127.0.N.0/24` (N = 81, 82, ...), so the tests of this
//! file and the other suites run in parallel without sharing addresses. Every storage's address is
//! labelled `lo:e<N>s<i>` and its `mod_fastdfs.conf` sets `if_alias_prefix` to that label, so each
//! nginx sees only its own address as local (like one host per storage). `storage_peers` lists the
//! four storages with their HTTP port; parameters and the member list also come from the tracker.
//!
//! Needs root (loopback labels), the module (`make module` or `NGX_FASTDFS_MODULE=<.so>`) and the
//! edge binary (built by the harness, or `FDFS_EDGE_BIN`). Nothing here asserts on timing: waits
//! (replication, nginx writing its access log after the response) poll with generous deadlines.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fdfs_client::client::{Client, ServerAddr, UploadOptions};
use fdfs_emu::ClusterConfig;
use fdfs_integration::cluster::{ClusterStorage, TestCluster};
use fdfs_integration::edge::{Edge, EdgeConfig};
use fdfs_integration::http::{http, Response};
use fdfs_integration::net::{ensure_loopback_ip, LoopbackIp};
use fdfs_integration::nginx::{self, Nginx};
use fdfs_integration::wait::eventually_async;
use sha2::{Digest, Sha256};

/// Generous bound for anything asynchronous (replication, log lines, health checks).
const DEADLINE: Duration = Duration::from_secs(60);

fn module() -> PathBuf {
    match nginx::module_path() {
        Some(m) => m,
        None => panic!("the module .so is not built: run `make module`, or set NGX_FASTDFS_MODULE"),
    }
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Deterministic content of `len` bytes, different per `seed`, every byte value present.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// The whole stack: emulator, one nginx per storage, the edge, a client.
struct Stack {
    cluster: TestCluster,
    /// Indexed like `cluster.storages()`; `None` once killed.
    nginx: Vec<Option<Nginx>>,
    edge: Edge,
    client: Client,
    http_port: u16,
    _confs: tempfile::TempDir,
    /// Last: the addresses outlive the nginxes that found them local.
    _lo: Vec<LoopbackIp>,
}

impl Stack {
    /// Starts everything on `127.0.<net>.0/24`: tracker .10, storages .11 to .14.
    fn start(net: u8) -> Stack {
        Self::start_with(net, &EdgeConfig::default().health)
    }

    /// Like [`Self::start`], with `health` as the edge's `[health]` table body.
    fn start_with(net: u8, health: &str) -> Stack {
        Self::start_configured(net, health, "", "", "")
    }

    /// Like [`Self::start_with`], with lines added to every `mod_fastdfs.conf` and tables added
    /// to the edge's configuration.
    fn start_configured(
        net: u8,
        health: &str,
        module_extra: &str,
        edge_extra: &str,
        response_extra: &str,
    ) -> Stack {
        let m = module();
        let tracker_ip = Ipv4Addr::new(127, 0, net, 10);
        let cluster = TestCluster::emulated(
            ClusterConfig::builder()
                .groups(2)
                .storages_per_group(2)
                .tracker_addrs(vec![SocketAddrV4::new(tracker_ip, 0)])
                .first_storage_ip(Ipv4Addr::new(127, 0, net, 11))
                .sync_delay(Duration::from_millis(200))
                .build(),
        )
        .expect("the emulator starts");
        let storages = cluster.storages().to_vec();
        assert_eq!(storages.len(), 4);
        let http_port = storages[0].http_port;
        assert!(
            storages.iter().all(|s| s.http_port == http_port),
            "the emulator reports one HTTP port for every storage"
        );
        let tracker = cluster.trackers()[0];
        let peers = storages
            .iter()
            .map(|s| format!("{}:{http_port}", s.ip))
            .collect::<Vec<_>>()
            .join(", ");
        let confs = tempfile::Builder::new()
            .prefix("fdfs-stack-")
            .tempdir()
            .expect("tempdir");
        let mut nginxes = Vec::new();
        let mut lo = Vec::new();
        for s in &storages {
            let label = format!("lo:e{net}s{}", s.index + 1);
            lo.push(ensure_loopback_ip(s.ip, &label).expect("needs root: ip addr add"));
            let dir = confs.path().join(format!("s{}", s.index + 1));
            fs::create_dir_all(&dir).expect("conf dir");
            let store = s.store_paths.first().expect("a store path");
            fs::write(
                dir.join("mod_fastdfs.conf"),
                mod_fastdfs_conf(s, store, &tracker.to_string(), &label, &peers) + module_extra,
            )
            .expect("write mod_fastdfs.conf");
            let body = format!(
                "server {{\n listen {ip}:{http_port};\n \
                 location ~ ^/group[0-9]+/M[0-9A-F][0-9A-F]/ {{\n  \
                 fastdfs_config {dir}/mod_fastdfs.conf;\n  ngx_fastdfs_module;\n }}\n}}\n",
                ip = s.ip,
                dir = dir.display(),
            );
            let listen = SocketAddr::from((s.ip, http_port));
            let n = Nginx::start(&m, &body, &[listen]).expect("nginx starts");
            nginxes.push(Some(n));
        }
        let edge = Edge::start(&EdgeConfig {
            extra: format!(
                "[trackers]\nservers = [\"{tracker}\"]\nrefresh = \"1s\"\ntimeout = \"2s\"\nhttp_port = {http_port}\n{edge_extra}"
            ),
            health: health.to_string(),
            response_extra: response_extra.to_string(),
            ..EdgeConfig::default()
        });
        let client = Client::builder()
            .tracker(ServerAddr::new(tracker.ip().to_string(), tracker.port()))
            .build()
            .expect("client");
        Stack {
            cluster,
            nginx: nginxes,
            edge,
            client,
            http_port,
            _confs: confs,
            _lo: lo,
        }
    }

    fn storages(&self) -> Vec<ClusterStorage> {
        self.cluster.storages().to_vec()
    }

    fn nginx(&self, i: usize) -> &Nginx {
        self.nginx
            .get(i)
            .and_then(Option::as_ref)
            .expect("this nginx is running")
    }

    /// Stops the nginx of storage `i` (SIGTERM to its master, reaped).
    fn kill_nginx(&mut self, i: usize) {
        let n = self.nginx.get_mut(i).and_then(Option::take);
        drop(n);
    }

    fn http_addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from((self.cluster.storages()[i].ip, self.http_port))
    }

    async fn upload(&self, data: &[u8], opts: UploadOptions) -> String {
        self.client
            .upload(data, &opts.ext("bin"))
            .await
            .expect("upload")
    }

    async fn edge_get(&self, path: &str, extra: &[&str]) -> Response {
        http(self.edge.listen, "GET", path, extra, None)
            .await
            .expect("GET through the edge")
    }

    async fn direct_get(&self, i: usize, path: &str) -> Response {
        http(self.http_addr(i), "GET", path, &[], None)
            .await
            .expect("GET on a storage's nginx")
    }

    /// Access-log lines of nginx `i` for `path` (`$request $status $fastdfs_status`).
    fn log_lines(&self, i: usize, path: &str) -> Vec<String> {
        match self.nginx.get(i).and_then(Option::as_ref) {
            Some(n) => lines_for(&n.access_log(), path),
            None => Vec::new(),
        }
    }

    /// Every nginx's access-log lines for `path`, per storage index.
    fn all_log_lines(&self, path: &str) -> Vec<Vec<String>> {
        (0..self.nginx.len())
            .map(|i| self.log_lines(i, path))
            .collect()
    }

    /// Polls until nginx `i` has logged `path` with `status_and_kind` (e.g. `200 proxy`) at
    /// least `n` times.
    async fn wait_log(&self, i: usize, path: &str, status_and_kind: &str, n: usize) {
        let what = format!("nginx #{i} never logged {n} x `{path} ... {status_and_kind}`");
        eventually_async(DEADLINE, what, || async {
            let got = self
                .log_lines(i, path)
                .iter()
                .filter(|l| l.ends_with(status_and_kind))
                .count();
            if got >= n {
                Ok(())
            } else {
                Err(format!("its log:\n{}", self.nginx(i).access_log()))
            }
        })
        .await;
    }

    /// Polls until the storages of `group` together logged `path` at least `n` times.
    async fn wait_group_log(&self, group: &str, path: &str, n: usize) {
        let idx: Vec<usize> = self
            .storages()
            .iter()
            .filter(|s| s.group == group)
            .map(|s| s.index)
            .collect();
        let what = format!("the storages of {group} never logged {path} {n} times");
        eventually_async(DEADLINE, what, || async {
            let got: usize = idx.iter().map(|&i| self.log_lines(i, path).len()).sum();
            if got >= n {
                Ok(())
            } else {
                Err(format!("{:?}", self.all_log_lines(path)))
            }
        })
        .await;
    }

    async fn wait_for_file(&self, i: usize, file_id: &str) {
        let s = self.cluster.storages()[i].clone();
        let emu = self.cluster.emulator().expect("emulated cluster");
        eventually_async(
            DEADLINE,
            format!("{file_id} never replicated to storage #{i}"),
            || async { emu.has_file(s.index, file_id) },
        )
        .await;
    }

    /// Polls until every storage of the file's group holds it.
    async fn wait_for_group(&self, file_id: &str) {
        for s in self.storages() {
            if s.group == group_of(file_id) {
                self.wait_for_file(s.index, file_id).await;
            }
        }
    }

    /// Checks that no nginx worker crashed or logged an alert.
    fn finish(self) {
        for n in self.nginx.iter().flatten() {
            let log = n.error_log();
            assert!(!n.worker_crashed(), "a worker died:\n{log}");
            assert!(!log.contains("[alert]"), "alerts in the error log:\n{log}");
        }
    }
}

fn mod_fastdfs_conf(
    s: &ClusterStorage,
    store: &Path,
    tracker: &str,
    label: &str,
    peers: &str,
) -> String {
    format!(
        "# written by tests/stack.rs\n\
         connect_timeout=2\n\
         network_timeout=10\n\
         base_path={store}\n\
         load_fdfs_parameters_from_tracker=true\n\
         tracker_server={tracker}\n\
         storage_server_port={sport}\n\
         group_name={group}\n\
         url_have_group_name=true\n\
         store_path_count=1\n\
         store_path0={store}\n\
         response_mode=proxy\n\
         if_alias_prefix={label}\n\
         storage_peers = {peers}\n\
         http.mime_types_filename=/etc/nginx/mime.types\n\
         http.default_content_type=application/octet-stream\n",
        store = store.display(),
        sport = s.port,
        group = s.group,
    )
}

fn lines_for(log: &str, path: &str) -> Vec<String> {
    let prefix = format!("GET {path} ");
    log.lines()
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

fn group_of(file_id: &str) -> &str {
    file_id.split('/').next().unwrap_or("")
}

/// Case 1: files uploaded with the async client into both groups; through the edge a MISS then a
/// HIT with byte-identical content; the edge asked only storages of the file's group, and the HIT
/// asked nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upload_then_edge_miss_hit_routed_to_the_files_group() {
    let st = Stack::start(81);
    let mut files = Vec::new();
    for (k, group) in ["group1", "group2", "group1", "group2"]
        .into_iter()
        .enumerate()
    {
        let data = content(k as u64 + 1, 10_000 + k * 70_001);
        let id = st.upload(&data, UploadOptions::new().group(group)).await;
        assert_eq!(group_of(&id), group, "{id}");
        files.push((id, data));
    }
    // Replicated everywhere first, so whichever storage the edge picks answers locally and logs
    // exactly one line (a proxied request would log a second one, on the source, in any order).
    for (id, _) in &files {
        st.wait_for_group(id).await;
    }
    for (id, data) in &files {
        let path = format!("/{id}");
        let miss = st.edge_get(&path, &[]).await;
        assert_eq!(miss.status, 200, "{path}");
        assert_eq!(miss.cache_status(), "MISS", "{path}");
        assert_eq!(sha(&miss.body), sha(data), "{path}: MISS body");

        // The storage that answered logged it; wait for nginx to write the line, then compare.
        let group = group_of(id);
        st.wait_group_log(group, &path, 1).await;
        let before = st.all_log_lines(&path);

        let hit = st.edge_get(&path, &[]).await;
        assert_eq!(hit.status, 200, "{path}");
        assert_eq!(hit.cache_status(), "HIT", "{path}");
        assert_eq!(sha(&hit.body), sha(data), "{path}: HIT body");
        assert_eq!(hit.body.len(), data.len());

        // Routing: only the file's group saw the path, and the HIT reached no storage.
        let after = st.all_log_lines(&path);
        assert_eq!(before, after, "a HIT went upstream for {path}");
        for s in st.storages() {
            if s.group != group {
                assert!(
                    after[s.index].is_empty(),
                    "{path} reached storage #{} of {}: {:?}",
                    s.index,
                    s.group,
                    after[s.index]
                );
            }
        }
        let served: Vec<&String> = after.iter().flatten().collect();
        assert_eq!(served.len(), 1, "one upstream request: {after:?}");
        assert!(served[0].ends_with(" 200 local"), "{after:?}");
    }
    st.finish();
}

/// Case 2: a file uploaded while replication to its group peer is paused is proxied by the peer's
/// module to the source (same bytes, `$fastdfs_status` = proxy); once replicated, served locally.
/// Through the edge it is served whichever storage the edge picks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreplicated_file_is_proxied_by_the_peer_then_served_locally() {
    let st = Stack::start(82);
    let storages = st.storages();
    let group2: Vec<&ClusterStorage> = storages.iter().filter(|s| s.group == "group2").collect();
    let (src, peer) = (group2[0].index, group2[1].index);
    let emu = st.cluster.emulator().expect("emulated");
    emu.pause_sync(peer);

    let data = content(42, 123_457);
    let id = st
        .upload(
            &data,
            UploadOptions::new().storage(ServerAddr::new(
                storages[src].ip.to_string(),
                storages[src].port,
            )),
        )
        .await;
    assert_eq!(group_of(&id), "group2");
    assert!(emu.has_file(src, &id));
    assert!(
        !emu.has_file(peer, &id),
        "replication to the peer is paused"
    );
    let path = format!("/{id}");

    // Directly on the peer: proxied to the source.
    let r = st.direct_get(peer, &path).await;
    assert_eq!(r.status, 200);
    assert_eq!(sha(&r.body), sha(&data));
    st.wait_log(peer, &path, "200 proxy", 1).await;
    // The source got the proxied request with `?redirect=1` appended, as from the C module (a
    // node receiving it never forwards again).
    st.wait_log(src, &format!("{path}?redirect=1"), "200 local", 1)
        .await;

    // Through the edge (whichever storage of group2 it picks): the same bytes.
    for k in 0..2 {
        let q = format!("{path}?k={k}");
        let r = st.edge_get(&q, &[]).await;
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(r.cache_status(), "MISS", "{q}");
        assert_eq!(sha(&r.body), sha(&data), "{q}");
    }
    assert!(!emu.has_file(peer, &id), "still paused");

    // Resume: replicated, then the peer serves it itself.
    emu.resume_sync(peer);
    st.wait_for_file(peer, &id).await;
    let r = st.direct_get(peer, &path).await;
    assert_eq!(r.status, 200);
    assert_eq!(sha(&r.body), sha(&data));
    st.wait_log(peer, &path, "200 local", 1).await;
    assert_eq!(
        st.log_lines(peer, &path)
            .iter()
            .filter(|l| l.ends_with("200 proxy"))
            .count(),
        1,
        "only the first direct GET was proxied: {:?}",
        st.log_lines(peer, &path)
    );
    // Nothing of group2 reached group1's storages.
    for s in storages.iter().filter(|s| s.group == "group1") {
        assert!(st
            .nginx(s.index)
            .access_log()
            .lines()
            .all(|l| !l.contains(&id)));
    }
    st.finish();
}

/// Case 3: PURGE through the edge, then a MISS again (fetched anew from the storages, same bytes);
/// Range requests on the cached object are answered from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_then_miss_and_range_on_a_cached_object() {
    let st = Stack::start(83);
    let data = content(7, 300_001);
    let id = st.upload(&data, UploadOptions::new().group("group1")).await;
    st.wait_for_group(&id).await;
    let path = format!("/{id}");
    let upstream_count = |st: &Stack| -> usize { st.all_log_lines(&path).iter().flatten().count() };

    let r = st.edge_get(&path, &[]).await;
    assert_eq!((r.status, r.cache_status()), (200, "MISS"));
    assert_eq!(sha(&r.body), sha(&data));
    st.wait_group_log("group1", &path, 1).await;
    let fetched_once = upstream_count(&st);
    assert_eq!(st.edge_get(&path, &[]).await.cache_status(), "HIT");

    // Range on the cached object: from the cache, no upstream request.
    let r = st.edge_get(&path, &["Range: bytes=1000-1999"]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.cache_status(), "HIT");
    assert_eq!(r.body, &data[1000..2000]);
    assert_eq!(r.header("content-range"), Some("bytes 1000-1999/300001"));
    let r = st.edge_get(&path, &["Range: bytes=-17"]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[data.len() - 17..]);
    let r = st.edge_get(&path, &["Range: bytes=400000-"]).await;
    assert_eq!(r.status, 416);
    assert_eq!(
        upstream_count(&st),
        fetched_once,
        "Range requests went upstream"
    );

    // PURGE, then the next GET is a MISS fetched from the group again, same bytes.
    let p = http(st.edge.listen, "PURGE", &path, &[], None)
        .await
        .expect("PURGE");
    assert_eq!(p.status, 200);
    let p = http(st.edge.listen, "PURGE", &path, &[], None)
        .await
        .expect("PURGE");
    assert_eq!(p.status, 404, "nothing left to purge");
    let r = st.edge_get(&path, &[]).await;
    assert_eq!((r.status, r.cache_status()), (200, "MISS"));
    assert_eq!(sha(&r.body), sha(&data));
    st.wait_group_log("group1", &path, fetched_once + 1).await;
    let r = st.edge_get(&path, &["Range: bytes=299990-"]).await;
    assert_eq!((r.status, r.cache_status()), (206, "HIT"));
    assert_eq!(r.body, &data[299_990..]);
    for s in st.storages().iter().filter(|s| s.group == "group2") {
        assert!(st.log_lines(s.index, &path).is_empty());
    }
    st.finish();
}

/// Case 4: one nginx of a group is killed; requests through the edge for files of that group
/// still succeed (the edge falls over to the other storage, which has the replicated files).
/// Active health checks are off, so it is the per-request retry that saves them (the tracker
/// still reports the storage ACTIVE: only its nginx is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_nginx_the_edge_uses_the_other_storage_of_the_group() {
    let mut st = Stack::start_with(84, "enabled = false\n");
    let storages = st.storages();
    let group1: Vec<&ClusterStorage> = storages.iter().filter(|s| s.group == "group1").collect();
    let (victim, survivor) = (group1[0].index, group1[1].index);
    // Uploaded to the storage whose nginx will die: the survivor has only replicated copies.
    let mut files = Vec::new();
    for k in 0..6u64 {
        let data = content(100 + k, 5_000 + k as usize * 9_999);
        let id = st
            .upload(
                &data,
                UploadOptions::new().storage(ServerAddr::new(
                    storages[victim].ip.to_string(),
                    storages[victim].port,
                )),
            )
            .await;
        files.push((id, data));
    }
    for (id, _) in &files {
        st.wait_for_file(survivor, id).await;
    }
    st.kill_nginx(victim);
    assert!(
        std::net::TcpStream::connect(st.http_addr(victim)).is_err(),
        "the killed nginx still accepts connections"
    );
    // Cold requests (never cached): each one must reach a live storage of group1.
    for (id, data) in &files {
        let path = format!("/{id}");
        let r = st.edge_get(&path, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.cache_status(), "MISS", "{path}");
        assert_eq!(sha(&r.body), sha(data), "{path}");
        st.wait_log(survivor, &path, "200 local", 1).await;
    }
    // Round robin sent at least one of them to the dead storage first: a failure, then a retry.
    let m = http(st.edge.admin, "GET", "/metrics", &[], None)
        .await
        .expect("metrics");
    let metrics = String::from_utf8_lossy(&m.body).to_string();
    let dead = format!(
        "fdfs_edge_upstream_failures_total{{group=\"group1\",storage=\"{}\"}}",
        st.http_addr(victim)
    );
    assert!(
        metrics.contains(&dead),
        "no failure counted for {dead}:\n{metrics}"
    );
    // And the cached copies still come from the cache.
    for (id, data) in &files {
        let r = st.edge_get(&format!("/{id}"), &[]).await;
        assert_eq!((r.status, r.cache_status()), (200, "HIT"));
        assert_eq!(sha(&r.body), sha(data));
    }
    // group2 is untouched by all this.
    let other = st
        .upload(b"group2 still fine\n", UploadOptions::new().group("group2"))
        .await;
    let r = st.edge_get(&format!("/{other}"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"group2 still fine\n");
    st.finish();
}

/// A file deleted with the client (the deletion replicated to its group peer): after a PURGE the
/// edge answers 404 from the storages; a group the trackers do not know is 404 at the edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleted_file_is_404_after_purge_and_unknown_group_is_404() {
    let st = Stack::start(85);
    let data = content(9, 4_321);
    let id = st.upload(&data, UploadOptions::new().group("group2")).await;
    st.wait_for_group(&id).await;
    let path = format!("/{id}");
    let r = st.edge_get(&path, &[]).await;
    assert_eq!((r.status, r.cache_status()), (200, "MISS"));
    assert_eq!(sha(&r.body), sha(&data));

    st.client.delete(&id).await.expect("delete");
    let emu = st.cluster.emulator().expect("emulated");
    for s in st.storages().iter().filter(|s| s.group == "group2") {
        assert!(
            emu.wait_for_file(s.index, &id, false, DEADLINE),
            "the deletion never reached storage #{}",
            s.index
        );
    }
    // Still cached until purged.
    let r = st.edge_get(&path, &[]).await;
    assert_eq!((r.status, r.cache_status()), (200, "HIT"));
    let p = http(st.edge.listen, "PURGE", &path, &[], None)
        .await
        .expect("PURGE");
    assert_eq!(p.status, 200);
    let r = st.edge_get(&path, &[]).await;
    assert_eq!(r.status, 404, "{:?}", r.headers);
    st.wait_group_log("group2", &path, 2).await;
    for s in st.storages().iter().filter(|s| s.group == "group1") {
        assert!(st.log_lines(s.index, &path).is_empty());
    }

    // An unknown group: 404 from the edge itself, no storage asked. (Checked after a later
    // request to group2 has been logged, so a stray /group3 line would have been written too.)
    let unknown = "/group3/M00/00/00/x.bin";
    let r = st.edge_get(unknown, &[]).await;
    assert_eq!(r.status, 404);
    let r = st.edge_get(&path, &[]).await;
    assert_eq!(r.status, 404);
    st.wait_group_log("group2", &path, 3).await;
    assert!(
        st.all_log_lines(unknown).iter().all(Vec::is_empty),
        "{:?}",
        st.all_log_lines(unknown)
    );
    st.finish();
}

/// mod_fastdfs.conf lines: the storages check FastDFS tokens with `secret` and let a request with
/// the bypass header `X-Fdfs-Edge: edge-0123` through.
fn checking_tokens(secret: &str) -> String {
    format!(
        "http.anti_steal.check_token=true\nhttp.anti_steal.secret_key={secret}\n\
         http.anti_steal.token_ttl=600\n\
         anti_steal_bypass_header_name=X-Fdfs-Edge\nanti_steal_bypass_header_value=edge-0123\n"
    )
}

/// A FastDFS token for `id` made now, and its `ts`.
fn token_now(id: &str, secret: &str) -> (String, i64) {
    let rest = id.split_once('/').map(|(_, r)| r).unwrap_or("");
    let ts = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("ts");
    (fdfs_client::token::generate(rest, secret, ts), ts)
}

/// The storages check FastDFS tokens (the module, `http.anti_steal.check_token`); the edge checks
/// them too, once, and fetches with the module's anti-steal bypass header: a client with a good
/// token gets the file (then a hit), a client without one is refused by the edge and by a storage
/// asked directly, and empty token values are refused (fastdfs issue 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_checked_once_at_the_edge_which_the_storages_let_through() {
    let secret = "FastDFS1234567890";
    let module_extra = checking_tokens(secret);
    let edge_extra = format!(
        "[access]\ndefault = \"token\"\n[access.token]\nsecret_key = \"{secret}\"\n\
         [access.storage_bypass_header]\nname = \"X-Fdfs-Edge\"\nvalue = \"edge-0123\"\n"
    );
    let health = EdgeConfig::default().health;
    let st = Stack::start_configured(86, &health, &module_extra, &edge_extra, "");
    let data = content(86, 20_000);
    let id = st.upload(&data, UploadOptions::default()).await;
    st.wait_for_group(&id).await;
    let path = format!("/{id}");
    let (token, ts) = token_now(&id, secret);
    let good = format!("{path}?token={token}&ts={ts}");

    // the storages check tokens themselves
    let i = st
        .storages()
        .iter()
        .position(|s| s.group == group_of(&id))
        .expect("a storage");
    assert_eq!(st.direct_get(i, &path).await.status, 403);
    assert_eq!(st.direct_get(i, &good).await.status, 200);

    let first = st.edge_get(&good, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(sha(&first.body), sha(&data));
    assert_eq!(first.cache_status(), "MISS");
    // a storage of the group was asked without the token, and the bypass header let the edge
    // through (the only other request for the bare path is the direct one refused above)
    let group: Vec<usize> = st
        .storages()
        .iter()
        .filter(|s| s.group == group_of(&id))
        .map(|s| s.index)
        .collect();
    eventually_async(DEADLINE, "no storage logged the edge's fetch", || async {
        let served: usize = group
            .iter()
            .map(|&k| {
                st.log_lines(k, &path)
                    .iter()
                    .filter(|l| l.contains(" 200 "))
                    .count()
            })
            .sum();
        if served == 1 {
            Ok(())
        } else {
            Err(format!("{:?}", st.all_log_lines(&path)))
        }
    })
    .await;
    let second = st.edge_get(&good, &[]).await;
    assert_eq!(second.cache_status(), "HIT");
    for bad in [
        path.clone(),
        format!("{path}?token=&ts="),
        format!(
            "{path}?token={}&ts=",
            fdfs_client::token::generate(id.split_once('/').map_or("", |(_, r)| r), secret, 0)
        ),
        format!("{path}?token={token}&ts={}", ts - 601),
    ] {
        assert_eq!(st.edge_get(&bad, &[]).await.status, 403, "{bad}");
    }
    st.finish();
}

/// `[response] download_name_meta`: a file uploaded with a `filename` in its metadata is served
/// through the edge with that name (RFC 5987 for a non-ASCII one), on the miss and on the hits;
/// `?filename=` still wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn download_names_come_from_the_files_metadata() {
    let health = EdgeConfig::default().health;
    let st = Stack::start_configured(87, &health, "", "", "download_name_meta = \"filename\"\n");
    let data = content(87, 5_000);
    let id = st
        .upload(
            &data,
            UploadOptions::default().meta("filename", "Résumé 2026.pdf"),
        )
        .await;
    st.wait_for_group(&id).await;
    let path = format!("/{id}");
    for expected in ["MISS", "HIT", "HIT"] {
        let r = st.edge_get(&path, &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.cache_status(), expected);
        let cd = r.header("content-disposition").unwrap_or("");
        assert!(
            cd.contains("filename*=UTF-8''R%C3%A9sum%C3%A9%202026.pdf"),
            "{cd}"
        );
    }
    let named = st
        .edge_get(&format!("{path}?filename=other.pdf"), &[])
        .await;
    assert_eq!(
        named.header("content-disposition"),
        Some("attachment; filename=\"other.pdf\"")
    );
    // a file without the key: no header
    let plain = st.upload(&data, UploadOptions::default()).await;
    st.wait_for_group(&plain).await;
    let r = st.edge_get(&format!("/{plain}"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-disposition"), None);
    st.finish();
}

/// `[images]` in front of storages that check tokens: a thumbnail asked with a good token is made
/// from the original the edge fetched through the module (with the bypass header), the storages
/// are never asked for the variant, and the variant is refused without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn variants_are_made_at_the_edge_from_originals_served_by_the_module() {
    let secret = "FastDFS1234567890";
    let module_extra = checking_tokens(secret);
    let edge_extra = format!(
        "[access]\ndefault = \"token\"\n[access.token]\nsecret_key = \"{secret}\"\n\
         [access.storage_bypass_header]\nname = \"X-Fdfs-Edge\"\nvalue = \"edge-0123\"\n\
         [images]\n[images.presets]\nthumb = {{ width = 40, height = 40, fit = \"cover\" }}\n"
    );
    let health = EdgeConfig::default().health;
    let st = Stack::start_configured(88, &health, &module_extra, &edge_extra, "");
    let picture = image::RgbImage::from_fn(120, 80, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut png = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let id = st
        .upload(png.get_ref(), UploadOptions::default().ext("png"))
        .await;
    st.wait_for_group(&id).await;
    let path = format!("/{id}");
    let (token, ts) = token_now(&id, secret);

    let thumb = format!("{path}?preset=thumb&token={token}&ts={ts}");
    let first = st.edge_get(&thumb, &[]).await;
    assert_eq!(
        first.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.header("content-type"), Some("image/png"));
    let made = image::load_from_memory(&first.body).expect("a picture");
    assert_eq!((made.width(), made.height()), (40, 40));
    assert_eq!(st.edge_get(&thumb, &[]).await.cache_status(), "HIT");
    assert_eq!(
        st.edge_get(&format!("{path}?preset=thumb"), &[])
            .await
            .status,
        403
    );
    // the storages served the original once (to the edge, let through by the bypass header) and
    // were never asked for a variant
    eventually_async(DEADLINE, "no storage logged the original", || async {
        let lines = st.all_log_lines(&path);
        let all: Vec<&String> = lines.iter().flatten().collect();
        let served = all.iter().filter(|l| l.contains(" 200 ")).count();
        if all.iter().any(|l| l.contains("preset")) {
            return Err(format!("a storage was asked for a variant: {all:?}"));
        }
        if served == 1 {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;
    st.finish();
}
