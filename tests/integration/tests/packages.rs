//! The Debian packages of `make deb` (`build/deb/*.deb`), installed on this machine with `dpkg -i`, used,
//! then removed and purged: the checks of the deployment kit.
//!
//! - Debian's own `/etc/nginx/nginx.conf` passes `nginx -t` with the module enabled through
//!   `/etc/nginx/modules-enabled/`, and an nginx that loads modules that way serves a file of the emulator
//!   from the C module's storage `location`, unchanged;
//! - `systemd-analyze verify` accepts `fdfs-edge.service`;
//! - the edge, started with the unit's `ExecStart` line as the unit's `User=`, with the packaged
//!   `edge.toml` adapted only in its addresses, serves a cache hit;
//! - `fdfs` runs, and has its man pages and completions;
//! - `dpkg -r` leaves only the configuration (and dh_nginx's parked module link); `dpkg -P` leaves nothing
//!   the packages installed, their cache and logs included.
//!
//! Needs root and the packages (`make deb`; `make test` builds them first). Everything runs on loopback.
//! One test: dpkg's state is machine-wide, so the steps run in order.

use std::collections::BTreeSet;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fdfs_emu::ClusterConfig;
use fdfs_integration::cluster::TestCluster;
use fdfs_integration::http::{request, Response};
use fdfs_integration::net::free_port;
use fdfs_integration::nginx::{make_prefix, output_within, NGINX_BIN};
use fdfs_integration::wait::eventually;

const PACKAGES: [&str; 3] = ["libnginx-mod-http-fastdfs", "fdfs-edge", "fdfs-tools"];
/// Generous bound for anything that has to come up or go down (not a timed assertion).
const DEADLINE: Duration = Duration::from_secs(60);
/// This suite's loopback network (the other suites use other 127.0.N.0/24 nets).
const NET: u8 = 95;

fn deb_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/deb")
}

fn debs() -> Vec<PathBuf> {
    let dir = deb_dir();
    PACKAGES
        .iter()
        .map(|pkg| {
            let found = fs::read_dir(&dir)
                .ok()
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{pkg}_")) && n.ends_with(".deb"))
                });
            found.unwrap_or_else(|| {
                panic!(
                    "no {pkg}_*.deb in {}: run `make deb` first (make test does)",
                    dir.display()
                )
            })
        })
        .collect()
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = output_within(cmd, DEADLINE).unwrap_or_else(|e| panic!("{shown}: {e}"));
    out
}

fn run_ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).stdout.starts_with(b"0\n")
}

fn installed(pkg: &str) -> bool {
    let out = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]));
    String::from_utf8_lossy(&out.stdout).contains("install ok installed")
}

/// What `dpkg -L` lists for `pkg` and is a file or link on disk now (not a directory, nor a link to
/// one such as `/lib` on a merged-/usr system).
fn package_files(pkg: &str) -> BTreeSet<PathBuf> {
    run_ok(Command::new("dpkg").args(["-L", pkg]))
        .lines()
        .map(PathBuf::from)
        .filter(|p| p.symlink_metadata().is_ok() && !p.is_dir())
        .collect()
}

fn conffiles(pkg: &str) -> BTreeSet<PathBuf> {
    run_ok(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", pkg]))
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(PathBuf::from)
        .collect()
}

fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

fn wait_until(what: &str, ok: impl FnMut() -> bool) {
    eventually(DEADLINE, format!("gave up waiting for {what}"), ok);
}

fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[]).unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"))
}

/// `mod_fastdfs.conf` for the one storage of the test cluster; its cluster member list is the storage
/// itself (`storage_peers`).
fn mod_fastdfs_conf(cluster: &TestCluster, http: SocketAddr) -> String {
    let s = &cluster.storages()[0];
    let store = s.store_paths[0].display();
    format!(
        "connect_timeout=2\nnetwork_timeout=5\nbase_path={store}\n\
         load_fdfs_parameters_from_tracker=false\ntracker_server={tracker}\n\
         storage_server_port={port}\ngroup_name={group}\nurl_have_group_name=true\n\
         store_path_count=1\nstore_path0={store}\nresponse_mode=proxy\n\
         storage_peers = {peer}\n\
         http.mime_types_filename=/etc/nginx/mime.types\n\
         http.default_content_type=application/octet-stream\n",
        tracker = cluster.trackers()[0],
        port = s.port,
        group = s.group,
        peer = http,
    )
}

/// An nginx configured as a Debian storage node is: modules from `/etc/nginx/modules-enabled/` (so the
/// packaged module is what loads), and the C module's storage location exactly as its deployments have
/// it (the only addition is `fastdfs_config`, since this test does not write `/etc/fdfs/`).
fn start_storage_nginx(prefix: &Path, listen: SocketAddr, mod_conf: &Path) -> std::process::Child {
    let p = prefix.display();
    let conf = format!(
        "include /etc/nginx/modules-enabled/*.conf;\n\
         daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\n\
         pid {p}/logs/nginx.pid;\nerror_log {p}/logs/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n include /etc/nginx/mime.types;\n access_log {p}/logs/access.log;\n\
          client_body_temp_path {p}/tmp/body;\n proxy_temp_path {p}/tmp/proxy;\n\
          fastcgi_temp_path {p}/tmp/fastcgi;\n uwsgi_temp_path {p}/tmp/uwsgi;\n\
          scgi_temp_path {p}/tmp/scgi;\n\
          fastdfs_config {mod_conf};\n\
          server {{\n  listen {listen};\n\
           location ~/group([0-9])/M00 {{\n   ngx_fastdfs_module;\n  }}\n\
           location = /healthz {{ return 200 \"ok\\n\"; }}\n }}\n}}\n",
        mod_conf = mod_conf.display(),
    );
    let conf_path = prefix.join("conf/nginx.conf");
    fs::write(&conf_path, conf).expect("write nginx.conf");
    // `load_module modules/…` lines are relative to the prefix; Debian's prefix has this link.
    std::os::unix::fs::symlink("/usr/lib/nginx/modules", prefix.join("modules"))
        .expect("modules link");
    let t = run(Command::new(NGINX_BIN)
        .arg("-t")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf_path));
    assert!(
        t.status.success(),
        "nginx -t of the storage node config: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let child = Command::new(NGINX_BIN)
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf_path)
        .spawn()
        .expect("start nginx");
    wait_until("the storage nginx to listen", || {
        std::net::TcpStream::connect(listen).is_ok()
    });
    child
}

/// The packaged `edge.toml` with only its addresses changed: listeners on loopback, the example storage
/// addresses mapped to `storages` (in order), purge allowed from loopback.
fn adapt_edge_toml(
    packaged: &str,
    listen: SocketAddr,
    admin: SocketAddr,
    storages: &[SocketAddr],
) -> String {
    let mut text = packaged
        .replace("\"0.0.0.0:80\"", &format!("\"{listen}\""))
        .replace("\"127.0.0.1:9180\"", &format!("\"{admin}\""));
    for (i, s) in storages.iter().enumerate() {
        let example = format!("\"192.168.1.{}:8888\"", 11 + i);
        assert!(
            text.contains(&example),
            "the packaged edge.toml no longer names {example}; adapt this test"
        );
        text = text.replace(&example, &format!("\"{s}\""));
    }
    text = text.replace("\"192.168.1.0/24\"", &format!("\"127.0.{NET}.0/24\""));
    let left: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("192.168."))
        .collect();
    assert!(
        left.is_empty(),
        "an example address is left in the adapted edge.toml: {left:?}"
    );
    text
}

/// The `ExecStart=` command of the installed unit, split into words.
fn unit_exec_start(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has ExecStart=");
    line.split_whitespace().map(str::to_owned).collect()
}

fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("the unit has no {key}="))
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Stops what the test started, also when it fails halfway: the storage nginx (SIGTERM to its master,
/// which takes its workers along) and the daemonized edge (by its pid).
#[derive(Default)]
struct Started {
    nginx: Option<std::process::Child>,
    edge_pid: Option<u32>,
}

impl Started {
    fn stop_edge(&mut self) {
        if let Some(pid) = self.edge_pid.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            wait_until("the edge to exit after SIGTERM", || !pid_alive(pid));
        }
    }

    fn stop_nginx(&mut self) {
        if let Some(mut n) = self.nginx.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &n.id().to_string()])
                .status();
            let _ = n.wait();
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(pid) = self.edge_pid.take() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        self.stop_nginx();
    }
}

fn purge_all() {
    let present: Vec<&str> = PACKAGES.iter().copied().filter(|p| installed(p)).collect();
    if !present.is_empty() {
        run_ok(Command::new("dpkg").arg("-P").args(&present));
    }
}

#[test]
fn packages_install_serve_and_leave_nothing_behind() {
    assert!(
        is_root(),
        "the package suite installs packages: run it as root (make test does)"
    );
    let debs = debs();
    // A package left installed by an interrupted earlier run.
    purge_all();
    // fdfs-edge run by hand as root before the install (the demo once did this) leaves its runtime
    // directory root-owned and private: the package must give it to its user all the same.
    let run_dir = Path::new("/run/fdfs-edge");
    fs::create_dir_all(run_dir).expect("mkdir /run/fdfs-edge");
    fs::set_permissions(run_dir, fs::Permissions::from_mode(0o700)).expect("chmod");

    run_ok(Command::new("dpkg").arg("-i").args(&debs));
    let files: BTreeSet<PathBuf> = PACKAGES.iter().flat_map(|p| package_files(p)).collect();
    let confs: BTreeSet<PathBuf> = PACKAGES.iter().flat_map(|p| conffiles(p)).collect();

    // --- the module: enabled the Debian way, Debian's nginx.conf passes -t.
    let link = Path::new("/etc/nginx/modules-enabled/50-mod-http-fastdfs.conf");
    assert_eq!(
        fs::read_link(link).expect("the module is enabled in modules-enabled"),
        Path::new("/usr/share/nginx/modules-available/mod-http-fastdfs.conf")
    );
    assert!(Path::new("/usr/lib/nginx/modules/ngx_http_fastdfs_module.so").is_file());
    run_ok(Command::new(NGINX_BIN).arg("-t"));
    let dump = run_ok(Command::new(NGINX_BIN).arg("-T"));
    assert!(
        dump.contains("load_module modules/ngx_http_fastdfs_module.so;"),
        "nginx -T does not show the module's load_module line:\n{dump}"
    );
    for sample in [
        "mod_fastdfs.conf",
        "http.conf",
        "nginx.conf",
        "storage-location.conf",
    ] {
        let p = Path::new("/usr/share/doc/libnginx-mod-http-fastdfs/examples").join(sample);
        assert!(p.is_file(), "{} is missing", p.display());
    }

    // --- a storage node serving a file of the emulator through the packaged module.
    let storage_ip = Ipv4Addr::new(127, 0, NET, 11);
    let cluster = TestCluster::emulated(
        ClusterConfig::builder()
            .groups(1)
            .storages_per_group(1)
            .tracker_addrs(vec![SocketAddrV4::new(Ipv4Addr::new(127, 0, NET, 10), 0)])
            .first_storage_ip(storage_ip)
            .build(),
    )
    .expect("the emulator starts");
    let emu = cluster.emulator().expect("emulated");
    let body = b"served by the packaged module\n".repeat(100);
    let id = emu.upload(0, &body, "txt").expect("upload");
    let http = SocketAddr::from((storage_ip, free_port(storage_ip)));
    let prefix = make_prefix().expect("prefix");
    let mod_conf = prefix.path().join("conf/mod_fastdfs.conf");
    fs::write(&mod_conf, mod_fastdfs_conf(&cluster, http)).expect("write mod_fastdfs.conf");
    let mut started = Started {
        nginx: Some(start_storage_nginx(prefix.path(), http, &mod_conf)),
        edge_pid: None,
    };
    let direct = get(http, &format!("/{id}"));
    assert_eq!(direct.status, 200, "{direct:?}");
    assert_eq!(direct.body, body);

    // --- the unit, as systemd would read it.
    let unit_path = Path::new("/lib/systemd/system/fdfs-edge.service");
    let unit = fs::read_to_string(unit_path).expect("the unit is installed");
    let verify = run(Command::new("systemd-analyze").arg("verify").arg(unit_path));
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // --- the edge: ExecStart as User=, the packaged edge.toml with loopback addresses.
    let user = unit_value(&unit, "User");
    run_ok(Command::new("getent").args(["passwd", user]));
    let packaged = fs::read_to_string("/etc/fdfs-edge/edge.toml").expect("edge.toml installed");
    let edge_ip = Ipv4Addr::new(127, 0, NET, 1);
    let listen = SocketAddr::from((edge_ip, free_port(edge_ip)));
    let admin = SocketAddr::from((edge_ip, free_port(edge_ip)));
    // group1 = the storage nginx and an address nothing listens on; group2 = two such addresses.
    let unused = |n: u8| SocketAddr::from((Ipv4Addr::new(127, 0, NET, n), http.port()));
    let adapted = adapt_edge_toml(
        &packaged,
        listen,
        admin,
        &[http, unused(12), unused(13), unused(14)],
    );
    let conf_dir = tempfile::Builder::new()
        .prefix("fdfs-edge-pkg-")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(conf_dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let conf = conf_dir.path().join("edge.toml");
    fs::write(&conf, adapted).expect("write edge.toml");
    let mut argv = unit_exec_start(&unit);
    let c = argv
        .iter()
        .position(|a| a == "/etc/fdfs-edge/edge.toml")
        .expect("ExecStart names /etc/fdfs-edge/edge.toml");
    argv[c] = conf.display().to_string();
    // The daemon keeps the standard output and error it was given (systemd's journal under the
    // unit): files here, not pipes, whose end would never come.
    let err_path = conf_dir.path().join("start.err");
    let err_file = fs::File::create(&err_path).expect("stderr file");
    let mut starter = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
            "--",
        ])
        .args(&argv)
        .stdin(std::process::Stdio::null())
        .stdout(err_file.try_clone().expect("clone"))
        .stderr(err_file)
        .spawn()
        .expect("start the edge");
    let mut status = None;
    wait_until("the edge's start command to return", || {
        status = starter.try_wait().expect("wait");
        status.is_some()
    });
    assert!(
        status.is_some_and(|s| s.success()),
        "{argv:?} as {user} failed ({status:?}): {}",
        fs::read_to_string(&err_path).unwrap_or_default()
    );
    let pid_file = unit_value(&unit, "PIDFile");
    wait_until("the edge's pid file", || {
        fs::read_to_string(pid_file).is_ok_and(|s| s.trim().parse::<u32>().is_ok())
    });
    let pid: u32 = fs::read_to_string(pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    started.edge_pid = Some(pid);
    wait_until("the edge to listen", || {
        std::net::TcpStream::connect(listen).is_ok()
    });
    let path = format!("/{id}");
    let first = get(listen, &path);
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body, body);
    let second = get(listen, &path);
    assert_eq!(second.status, 200);
    assert_eq!(second.cache_status(), "HIT", "{:?}", second.headers);
    assert_eq!(second.body, body);
    for dir in ["/var/cache/fdfs-edge", "/var/lib/fdfs-edge"] {
        let owner = run_ok(Command::new("stat").args(["-c", "%U", dir]));
        assert_eq!(owner.trim(), user, "{dir} belongs to the service user");
    }
    // SIGTERM, as systemd's KillSignal: the edge exits by itself.
    started.stop_edge();

    // --- the tool.
    let version = run_ok(Command::new("/usr/bin/fdfs").arg("--version"));
    assert!(version.starts_with("fdfs "), "{version}");
    assert!(Path::new("/usr/share/man/man1/fdfs.1.gz").is_file());
    assert!(Path::new("/usr/share/man/man1/fdfs-upload.1.gz").is_file());
    assert!(Path::new("/usr/share/bash-completion/completions/fdfs").is_file());
    assert!(Path::new("/usr/share/man/man8/fdfs-edge.8.gz").is_file());

    started.stop_nginx();

    // --- dpkg -r: program files gone; configuration and dh_nginx's parked link stay.
    run_ok(Command::new("dpkg").arg("-r").args(PACKAGES));
    let left: Vec<&PathBuf> = files
        .iter()
        .filter(|f| exists(f) && !confs.contains(*f))
        .collect();
    assert!(
        left.is_empty(),
        "dpkg -r left installed files behind: {left:?}"
    );
    assert!(
        Path::new("/etc/fdfs-edge/edge.toml").is_file(),
        "conffiles stay until purge"
    );
    assert!(!exists(link), "the module link is parked on removal");
    run_ok(Command::new(NGINX_BIN).arg("-t"));

    // --- dpkg -P: nothing left, cache and logs included.
    run_ok(Command::new("dpkg").arg("-P").args(PACKAGES));
    let left: Vec<&PathBuf> = files.iter().chain(&confs).filter(|f| exists(f)).collect();
    assert!(left.is_empty(), "dpkg -P left files behind: {left:?}");
    for gone in [
        "/etc/fdfs-edge",
        "/var/cache/fdfs-edge",
        "/var/lib/fdfs-edge",
        "/var/log/fdfs-edge",
        "/run/fdfs-edge",
        "/etc/nginx/modules-enabled/50-mod-http-fastdfs.conf.removed",
    ] {
        assert!(
            !exists(Path::new(gone)),
            "{gone} is still there after purge"
        );
    }
}
