//! `fdfs-edge migrate` on the tracker node's nginx.conf of the deployment this project replaces
//! (`shared/seed-deployment/tracker-node-nginx.conf`, verbatim but for its example addresses, mapped to
//! loopback), then the edge running the result against the emulator: each group's URLs reach only that
//! group's storages, and a second request is a cache hit.
//!
//! The storages' HTTP servers are the harness's origins, one per storage address, so the test sees which
//! storage answered. Everything is on `127.0.97.0/24`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;

use fdfs_emu::ClusterConfig;
use fdfs_integration::cluster::TestCluster;
use fdfs_integration::edge::{edge_bin, Edge, Origin};
use fdfs_integration::http::http;
use fdfs_integration::net::free_port;
use fdfs_integration::wait::eventually;

const NET: u8 = 97;

fn seed_file(name: &str) -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared/seed-deployment").join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no shared/seed-deployment/{name} above {}", start.display()))
}

/// The emulator (2 groups × 2 storages) and an HTTP origin on each storage address, all on one port.
async fn cluster_with_origins() -> (TestCluster, Vec<Origin>, u16) {
    let cluster = TestCluster::emulated(
        ClusterConfig::builder()
            .groups(2)
            .storages_per_group(2)
            .tracker_addrs(vec![SocketAddrV4::new(Ipv4Addr::new(127, 0, NET, 10), 0)])
            .first_storage_ip(Ipv4Addr::new(127, 0, NET, 11))
            .build(),
    )
    .expect("the emulator starts");
    let ips: Vec<Ipv4Addr> = cluster.storages().iter().map(|s| s.ip).collect();
    let port = loop {
        let p = free_port(ips[0]);
        if ips
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, p)).is_ok())
        {
            break p;
        }
    };
    let mut origins = Vec::new();
    for ip in &ips {
        let o = Origin::start_on(SocketAddr::from((*ip, port)))
            .await
            .expect("origin binds");
        origins.push(o);
    }
    (cluster, origins, port)
}

/// The seed's tracker nginx.conf with its four storages at the loopback origins.
fn mapped_seed_conf(dir: &Path, cluster: &TestCluster, port: u16) -> PathBuf {
    let mut text = std::fs::read_to_string(seed_file("tracker-node-nginx.conf")).expect("read");
    for (i, s) in cluster.storages().iter().enumerate() {
        let example = format!("192.168.165.{}:8888", 38 + i);
        assert!(text.contains(&example), "the seed names {example}");
        text = text.replace(&example, &format!("{}:{port}", s.ip));
    }
    assert!(!text.contains("192.168."), "an example address is left");
    let path = dir.join("nginx.conf");
    std::fs::write(&path, text).expect("write");
    path
}

fn migrate(args: &[&str]) -> (String, String) {
    let out = Command::new(edge_bin())
        .arg("migrate")
        .args(args)
        .output()
        .expect("run fdfs-edge migrate");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "fdfs-edge migrate {args:?}: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// The migrated file with the edge's own paths moved into the test's directory and its listeners on
/// loopback (nothing else changes).
fn adapt(toml: &str, dir: &Path, listen: SocketAddr, admin: SocketAddr) -> String {
    let d = dir.display();
    toml.replace("\"0.0.0.0:80\"", &format!("\"{listen}\""))
        .replace("\"127.0.0.1:9180\"", &format!("\"{admin}\""))
        .replace("/run/fdfs-edge/", &format!("{d}/"))
        .replace("/var/log/fdfs-edge/", &format!("{d}/"))
        .replace("\"/var/cache/fdfs-edge\"", &format!("\"{d}/cache\""))
}

/// Until `fdfs-edge check` says ready (the groups are known and a storage of them is healthy).
fn wait_ready(edge: &Edge) {
    eventually(
        std::time::Duration::from_secs(60),
        "the migrated edge never became ready",
        || {
            let out = edge.run_cli(&["check"]);
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    edge.logs()
                ))
            }
        },
    );
}

/// Every group's files go through the edge to that group's storages only; the second GET is a HIT.
async fn serves_each_group_from_its_storages(edge: &Edge, origins: &[Origin]) {
    for (group, mine) in [("group1", 0..2), ("group2", 2..4)] {
        let path = format!("/{group}/M00/00/00/migrated-{group}.jpg");
        let first = http(edge.listen, "GET", &path, &[], None)
            .await
            .expect("GET through the edge");
        assert_eq!(first.status, 200, "{path}: {first:?}\n{}", edge.logs());
        let second = http(edge.listen, "GET", &path, &[], None)
            .await
            .expect("GET through the edge");
        assert_eq!(second.status, 200);
        assert_eq!(second.cache_status(), "HIT", "{:?}", second.headers);
        let served: Vec<u64> = origins.iter().map(|o| o.count(&path)).collect();
        let by_group: u64 = served[mine.clone()].iter().sum();
        let total: u64 = served.iter().sum();
        assert_eq!(
            (by_group, total),
            (1, 1),
            "{path} must be fetched once, from a storage of {group}: {served:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_tracker_config_migrates_and_serves_with_the_trackers_groups() {
    let (cluster, origins, port) = cluster_with_origins().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = mapped_seed_conf(tmp.path(), &cluster, port);
    let tracker = cluster.trackers()[0].to_string();
    let (toml, stderr) = migrate(&[
        "--nginx-conf",
        conf.to_str().expect("utf-8"),
        "--tracker",
        &tracker,
    ]);
    assert!(toml.contains("[[group]]\nname = \"group1\""), "{toml}");
    assert!(toml.contains("[[group]]\nname = \"group2\""), "{toml}");
    assert!(toml.contains("# Not mapped:"), "{toml}");
    assert!(
        stderr.contains("not mapped"),
        "the operator is told on stderr: {stderr}"
    );
    let mut edge = Edge::with_toml(|d, listen, admin| adapt(&toml, d, listen, admin));
    let check = edge.run_cli(&["-t"]);
    assert!(
        check.status.success(),
        "-t refuses the migrated file: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    edge.launch(&[]);
    wait_ready(&edge);
    serves_each_group_from_its_storages(&edge, &origins).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trackers_on_the_command_line_the_groups_come_from_discovery() {
    let (cluster, origins, port) = cluster_with_origins().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = mapped_seed_conf(tmp.path(), &cluster, port);
    // The tracker node's client.conf names the trackers (as FastDFS's own tools read it).
    let client_conf = tmp.path().join("client.conf");
    std::fs::write(
        &client_conf,
        format!(
            "base_path = /tmp\ntracker_server = {}\n",
            cluster.trackers()[0]
        ),
    )
    .expect("write client.conf");
    let (toml, stderr) = migrate(&[
        "--nginx-conf",
        conf.to_str().expect("utf-8"),
        "--client-conf",
        client_conf.to_str().expect("utf-8"),
    ]);
    assert!(!toml.contains("[[group]]"), "{toml}");
    assert!(toml.contains("[trackers]"), "{toml}");
    assert!(
        stderr.contains("discovery"),
        "the operator is told: {stderr}"
    );
    let mut edge = Edge::with_toml(|d, listen, admin| adapt(&toml, d, listen, admin));
    edge.launch(&[]);
    wait_ready(&edge);
    serves_each_group_from_its_storages(&edge, &origins).await;
}
