//! Config loading: the real configs of the idmode capture, realistic mod_fastdfs.conf / http.conf /
//! client.conf / mime.types files on disk (with `#include`), and located error messages.

mod common;
use common::vectors_dir;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fdfs_client::conf::ini::{parse_size, parse_time_of_day};
use fdfs_client::conf::{
    AddrSpec, ClientConf, ConfError, HttpConf, Ini, LogLevel, MimeTypes, ModFastdfsConf,
    ResponseMode, StorageIdsConf,
};

/// A fresh directory for one test, holding the given files.
fn temp_conf_dir(files: &[(&str, &str)]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "fdfs-conf-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

const HTTP_CONF: &str = "\
# HTTP default content type
http.default_content_type = application/octet-stream

# MIME types mapping filename
http.mime_types_filename = mime.types

# if use token to anti-steal
http.anti_steal.check_token = true
http.anti_steal.token_ttl = 900
http.anti_steal.secret_key = FastDFS1234567890
http.anti_steal.token_check_fail = /home/yuqing/fastdfs/conf/anti-steal.jpg

# if support multi regions for HTTP Range
http.multi_range.enabed = false
";

const MOD_SINGLE: &str = "\
# connect timeout in seconds
connect_timeout=2
network_timeout=30
base_path=/tmp
load_fdfs_parameters_from_tracker=true
storage_sync_file_max_delay = 86400
use_storage_id = false
storage_ids_filename = storage_ids.conf
tracker_server=127.0.0.10:22122
tracker_server=127.0.0.10,10.0.0.10:22123
storage_server_port=23000
group_name=group1
url_have_group_name = true
store_path_count=2
store_path0=/data/fdfs/
store_path1=/data2/fdfs
store_path1_readonly = true
log_level=warn
log_filename=
response_mode=redirect
if_alias_prefix= lo:a, lo:b
flv_support = true
flv_extension = flv
group_count = 0
anti_steal_bypass_header_name = X-Internal
storage_peers = 127.0.0.11:8880, 127.0.0.12 , [::1]:8080
#include http.conf
";

const MOD_MULTI: &str = "\
connect_timeout=2
network_timeout=30
load_fdfs_parameters_from_tracker=false
tracker_server=127.0.0.10:22122
storage_server_port=23000
url_have_group_name = true
log_level=info
response_mode=proxy
flv_support = ture
group_count = 2

#include http.conf

[group1]
group_name=group1
storage_server_port=23000
store_path_count=1
store_path0=/data/s1/store

[group2]
group_name=group2
storage_server_port=23002
store_path_count=2
store_path0=/data/s3/store
store_path1=/data/s3/store1
";

const MIME: &str = "\
types {
    text/html                             html htm shtml;
    image/jpeg                            jpeg jpg;
    application/octet-stream              bin exe dll deb dmg iso img
                                          msi msp msm;
    video/x-flv                           flv;
}
";

#[test]
fn idmode_storage_ids_conf() {
    let ids = StorageIdsConf::load(vectors_dir().join("idmode/storage_ids.conf")).unwrap();
    assert_eq!(ids.entries.len(), 2);
    let a = ids.get(100001).unwrap();
    assert_eq!(
        (a.group_name.as_str(), a.first_ip(), a.port),
        ("group1", "127.0.0.11", Some(23000))
    );
    assert_eq!(ids.first_ip(100002), Some("127.0.0.11"));
    assert_eq!(ids.get(100002).unwrap().port, Some(23001));
    assert_eq!(ids.first_ip(100003), None);
    assert_eq!(ids.group("group1").count(), 2);
}

#[test]
fn storage_ids_forms_and_errors() {
    let text = "\
# <id>  <group_name>  <ip_or_hostname[:port]>
100001   group1  192.168.0.196
100002   group1  10.0.0.1,192.168.0.197  rw=none
100003   group2  [2409:8a20::1]
100004   group2  [fe80::1,fe80::2] rw=r
";
    let ids = StorageIdsConf::parse_str(text, "/etc/fdfs/storage_ids.conf").unwrap();
    assert_eq!(ids.first_ip(100002), Some("10.0.0.1"));
    assert_eq!(
        ids.get(100002).unwrap().addrs,
        ["10.0.0.1", "192.168.0.197"]
    );
    assert_eq!(ids.get(100002).unwrap().option("rw"), Some("none"));
    assert_eq!(ids.first_ip(100003), Some("2409:8a20::1"));
    assert_eq!(ids.get(100004).unwrap().addrs, ["fe80::1", "fe80::2"]);
    assert_eq!(ids.get(100004).unwrap().line, 5);

    let err = |t: &str| {
        StorageIdsConf::parse_str(t, "/etc/fdfs/storage_ids.conf")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("100001 group1\n"),
        "/etc/fdfs/storage_ids.conf:1: expected \"<id> <group> <ip>[:port]\", got \"100001 group1\""
    );
    assert!(err("0100 group1 1.2.3.4\n")
        .starts_with("/etc/fdfs/storage_ids.conf:1: storage id: expected an integer"));
    assert!(err("16777216 g 1.2.3.4\n").contains("storage id"));
    assert_eq!(
        err("1 g 1.2.3.4\n\n1 g 1.2.3.5\n"),
        "/etc/fdfs/storage_ids.conf:3: duplicate storage id 1 (first on line 1)"
    );
    assert!(err("1 g 1.2.3.4:23000\n2 g 1.2.3.5\n")
        .starts_with("/etc/fdfs/storage_ids.conf:2: some storages have a port"));
    assert!(err("# nothing\n").contains("no storage id"));
    assert!(err("1 g 1.2.3.4 junk\n").contains("key=value"));
}

#[test]
fn idmode_server_confs_parse() {
    let dir = vectors_dir().join("idmode");
    let a = Ini::load(dir.join("storage_a.conf")).unwrap();
    let g = a.global();
    assert_eq!(g.get("group_name"), Some("group1"));
    assert_eq!(g.get_int("port").unwrap(), Some(23000));
    assert_eq!(g.get_size("buff_size").unwrap(), Some(256 * 1024));
    assert_eq!(g.get_size("thread_stack_size").unwrap(), Some(512 * 1024));
    assert_eq!(g.all("tracker_server").count(), 1);
    assert!(!g.get_bool("disabled", true));
    assert!(g.get_bool("use_connection_pool", false));
    assert_eq!(
        parse_time_of_day(g.get("sync_end_time").unwrap()),
        Ok((23, 59))
    );
    assert!(a.section("error-log").is_some());
    assert_eq!(
        a.section("access-log").unwrap().get("enabled"),
        Some("false")
    );
    // `run_by_group =` has an empty value.
    assert_eq!(g.get("run_by_group"), Some(""));

    let b = Ini::load(dir.join("storage_b.conf")).unwrap();
    assert_eq!(b.global().get_int("port").unwrap(), Some(23001));

    let t = Ini::load(dir.join("tracker1.conf")).unwrap();
    let g = t.global();
    // A trailing space in the file: trimmed.
    assert_eq!(g.get("use_trunk_file"), Some("false"));
    assert_eq!(g.get_size("slot_max_size").unwrap(), Some(1 << 20));
    assert_eq!(g.get_size("trunk_file_size").unwrap(), Some(64 << 20));
    assert_eq!(
        g.get_size("trunk_create_file_space_threshold").unwrap(),
        Some(20 << 30)
    );
    assert_eq!(g.get_size("min_buff_size").unwrap(), Some(8 << 10));
    assert!(g.get_bool("use_storage_id", false));
    // A percentage is not a size.
    let e = g.get_size("reserved_storage_space").unwrap_err();
    let line = e.line().unwrap();
    assert!(
        e.to_string().ends_with(&format!(
            "tracker1.conf:{line}: reserved_storage_space: expected a size such as 1024, 256KB, 1MB or 4G, got \"10%\""
        )),
        "{e}"
    );
    assert!(parse_size("10%").is_err());
}

#[test]
fn mod_fastdfs_single_group_with_include() {
    let dir = temp_conf_dir(&[
        ("mod_fastdfs.conf", MOD_SINGLE),
        ("http.conf", HTTP_CONF),
        ("mime.types", MIME),
    ]);
    let c = ModFastdfsConf::load(dir.join("mod_fastdfs.conf")).unwrap();
    assert_eq!(c.file, dir.join("mod_fastdfs.conf").display().to_string());
    assert_eq!((c.connect_timeout, c.network_timeout), (2, 30));
    assert_eq!(c.base_path.as_deref(), Some(Path::new("/tmp")));
    assert!(c.load_fdfs_parameters_from_tracker);
    assert_eq!(c.storage_sync_file_max_delay, 86400);
    assert!(!c.use_storage_id);
    assert_eq!(c.storage_ids_filename, Some(dir.join("storage_ids.conf")));
    assert_eq!(c.tracker_servers.len(), 2);
    assert_eq!(c.tracker_servers[1].hosts, ["127.0.0.10", "10.0.0.10"]);
    assert_eq!(c.tracker_servers[1].port, Some(22123));
    assert!(c.url_have_group_name);
    assert_eq!(c.log_level, LogLevel::Warning);
    assert_eq!(c.log_filename, None);
    assert_eq!(c.response_mode, ResponseMode::Redirect);
    assert_eq!(c.if_alias_prefix, ["lo:a", "lo:b"]);
    assert!(c.flv_support);
    assert_eq!(c.flv_extension, "flv");
    assert!(!c.is_multi_group());
    assert_eq!(c.groups.len(), 1);
    let g = c.group("group1").unwrap();
    assert_eq!(g.storage_server_port, 23000);
    assert_eq!(
        g.store_paths,
        [PathBuf::from("/data/fdfs"), PathBuf::from("/data2/fdfs")]
    );
    assert_eq!(g.store_paths_readonly, [false, true]);
    let b = c.anti_steal_bypass_header.as_ref().unwrap();
    assert_eq!((b.name.as_str(), b.value.as_str()), ("X-Internal", ""));
    let peers: Vec<String> = c.storage_peers.iter().map(AddrSpec::to_string).collect();
    assert_eq!(peers, ["127.0.0.11:8880", "127.0.0.12", "[::1]:8080"]);
    assert_eq!(c.warnings, vec![]);

    // From http.conf (included): paths relative to the mod_fastdfs.conf directory.
    let h = &c.http;
    assert_eq!(
        h.default_content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(h.mime_types_filename, Some(dir.join("mime.types")));
    assert!(h.anti_steal.check_token);
    assert_eq!(h.anti_steal.token_ttl, 900);
    assert_eq!(h.anti_steal.secret_key, "FastDFS1234567890");
    assert_eq!(
        h.anti_steal.token_check_fail.as_deref(),
        Some(Path::new("/home/yuqing/fastdfs/conf/anti-steal.jpg"))
    );
    // V5 spelling.
    assert!(!h.multi_range_enabled);
    assert!(h.need_find_content_type);
    assert!(!h.disabled);

    let mime = MimeTypes::load(h.mime_types_filename.as_ref().unwrap()).unwrap();
    assert_eq!(mime.get("jpg"), Some("image/jpeg"));
    assert_eq!(mime.get("msm"), Some("application/octet-stream"));
    assert_eq!(mime.get("flv"), Some("video/x-flv"));

    // The same text through parse_str with the virtual name in that directory.
    let name = dir.join("virtual.conf").display().to_string();
    let c2 = ModFastdfsConf::parse_str(MOD_SINGLE, &name).unwrap();
    assert_eq!(c2.http, c.http);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mod_fastdfs_multi_group() {
    let dir = temp_conf_dir(&[("mod_fastdfs.conf", MOD_MULTI), ("http.conf", HTTP_CONF)]);
    let c = ModFastdfsConf::load(dir.join("mod_fastdfs.conf")).unwrap();
    assert!(c.is_multi_group());
    assert_eq!(c.group_count, 2);
    assert_eq!(c.response_mode, ResponseMode::Proxy);
    // `ture` is false, as in FastDFS, with a warning.
    assert!(!c.flv_support);
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(
        c.warnings[0].to_string(),
        format!(
            "{}:9: flv_support: expected true/yes/on/1 or false/no/off/0, got \"ture\" (read as false)",
            dir.join("mod_fastdfs.conf").display()
        )
    );
    assert_eq!(c.base_path, None);
    let names: Vec<&str> = c.groups.iter().map(|g| g.group_name.as_str()).collect();
    assert_eq!(names, ["group1", "group2"]);
    let g2 = c.group("group2").unwrap();
    assert_eq!(g2.section, "group2");
    assert_eq!(g2.storage_server_port, 23002);
    assert_eq!(
        g2.store_paths,
        [
            PathBuf::from("/data/s3/store"),
            PathBuf::from("/data/s3/store1")
        ]
    );
    assert_eq!(c.group("group9"), None);
    // Defaults of keys absent everywhere.
    assert_eq!(c.storage_sync_file_max_delay, 86400);
    assert_eq!(c.log_level, LogLevel::Info);
    assert!(c.storage_peers.is_empty());
    assert_eq!(c.anti_steal_bypass_header, None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mod_fastdfs_defaults() {
    let http = "http.default_content_type = application/octet-stream\nhttp.mime_types_filename = mime.types\n";
    let ini = Ini::parse_str_with(
        "base_path = /var/fdfs\ngroup_name = group1\nconnect_timeout = 0\n#include http.conf\n",
        "/etc/fdfs/mod_fastdfs.conf",
        &mut |p: &Path| {
            assert_eq!(p, Path::new("/etc/fdfs/http.conf"));
            Ok(http.to_owned())
        },
    )
    .unwrap();
    let c = ModFastdfsConf::from_ini(&ini).unwrap();
    assert_eq!(c.connect_timeout, 10, "<= 0 means the default");
    assert_eq!(c.network_timeout, 30);
    assert!(!c.load_fdfs_parameters_from_tracker);
    assert!(!c.url_have_group_name);
    assert_eq!(c.response_mode, ResponseMode::Proxy);
    assert!(!c.flv_support);
    assert_eq!(c.flv_extension, "flv");
    assert_eq!(c.storage_server_port, 23000);
    // store_path0 defaults to base_path.
    assert_eq!(c.groups[0].store_paths, [PathBuf::from("/var/fdfs")]);
    assert!(c.http.multi_range_enabled);
    assert_eq!(c.http.anti_steal.token_ttl, 600);
    assert_eq!(c.http.server_port, 80);
    assert_eq!(
        c.http.mime_types_filename,
        Some(PathBuf::from("/etc/fdfs/mime.types"))
    );
}

fn mod_err(text: &str) -> ConfError {
    let http = "http.default_content_type = application/octet-stream\nhttp.mime_types_filename = mime.types\n";
    Ini::parse_str_with(text, "/etc/fdfs/mod_fastdfs.conf", &mut |_| {
        Ok(http.to_owned())
    })
    .and_then(|ini| ModFastdfsConf::from_ini(&ini))
    .unwrap_err()
}

#[test]
fn mod_fastdfs_errors_name_file_line_and_expectation() {
    let base = "base_path=/tmp\ngroup_name=group1\n#include http.conf\n";
    let e = mod_err(&format!("{base}response_mode = foo\n"));
    assert_eq!(
        e.to_string(),
        "/etc/fdfs/mod_fastdfs.conf:4: response_mode: expected \"proxy\" or \"redirect\", got \"foo\""
    );
    assert_eq!(
        (e.file(), e.line(), e.key()),
        ("/etc/fdfs/mod_fastdfs.conf", Some(4), Some("response_mode"))
    );

    assert_eq!(
        mod_err(&format!("{base}connect_timeout = 2s0\n")).to_string(),
        "/etc/fdfs/mod_fastdfs.conf:4: connect_timeout: expected an integer, got \"2s0\""
    );
    assert_eq!(
        mod_err(&format!("{base}storage_server_port = 70000\n")).to_string(),
        "/etc/fdfs/mod_fastdfs.conf:4: storage_server_port: expected a port 1..65535, got 70000"
    );
    assert_eq!(
        mod_err(&format!("{base}log_level = loud\n")).to_string(),
        "/etc/fdfs/mod_fastdfs.conf:4: log_level: expected one of emerg, alert, crit, error, warn, notice, info, debug, got \"loud\""
    );
    assert_eq!(
        mod_err(&format!("{base}store_path_count = 0\n")).to_string(),
        "/etc/fdfs/mod_fastdfs.conf:4: store_path_count: expected 1..256, got 0"
    );
    assert_eq!(
        mod_err(&format!("{base}store_path_count = 2\n")).to_string(),
        "/etc/fdfs/mod_fastdfs.conf: store_path1: required: store_path_count is 2, expected a directory path"
    );
    assert_eq!(
        mod_err(&format!("{base}storage_peers = 10.0.0.1:80,,10.0.0.2\n")).to_string(),
        "/etc/fdfs/mod_fastdfs.conf:4: storage_peers: expected a list \"ip[:port], ip[:port], ...\", got \"10.0.0.1:80,,10.0.0.2\": empty item"
    );
    assert!(mod_err(&format!("{base}tracker_server = host:port\n"))
        .to_string()
        .starts_with("/etc/fdfs/mod_fastdfs.conf:4: tracker_server: expected \"host[:port]\""));
    assert!(mod_err(&format!("{base}if_alias_prefix = a,b,c,d,e\n"))
        .to_string()
        .contains("at most 4"));
    assert_eq!(
        mod_err("base_path=/tmp\n#include http.conf\n").to_string(),
        "/etc/fdfs/mod_fastdfs.conf: group_name: required when group_count is 0: expected the local group name"
    );
    assert_eq!(
        mod_err("group_name=g\n#include http.conf\n").to_string(),
        "/etc/fdfs/mod_fastdfs.conf: base_path: required in single-group mode: expected a directory path"
    );
    assert_eq!(
        mod_err(&format!("{base}load_fdfs_parameters_from_tracker = yes\n")).key(),
        Some("tracker_server")
    );
    // Multi-group checks.
    assert_eq!(
        mod_err("group_count = 1\nurl_have_group_name = false\n").to_string(),
        "/etc/fdfs/mod_fastdfs.conf:2: url_have_group_name: expected true when group_count is 1, got \"false\""
    );
    assert_eq!(
        mod_err("group_count = 2\nurl_have_group_name = true\n#include http.conf\n[group1]\ngroup_name=group1\nstore_path0=/a\n").to_string(),
        "/etc/fdfs/mod_fastdfs.conf: [group2]: section required: group_count is 2"
    );
    assert_eq!(
        mod_err("group_count = 1\nurl_have_group_name = true\n#include http.conf\n[group1]\nstore_path0=/a\n").to_string(),
        "/etc/fdfs/mod_fastdfs.conf: [group1] group_name: required: expected the group name"
    );
    assert_eq!(
        mod_err("group_count = 1\nurl_have_group_name = true\n#include http.conf\n[group1]\ngroup_name=group1\n").to_string(),
        "/etc/fdfs/mod_fastdfs.conf: store_path0: required in [group1]: store_path_count is 1, expected a directory path"
    );
    assert_eq!(
        mod_err("group_count = -1\n").to_string(),
        "/etc/fdfs/mod_fastdfs.conf:1: group_count: expected 0 or a positive number of groups, got -1"
    );
}

#[test]
fn http_conf_rules_and_errors() {
    let name = "/etc/fdfs/http.conf";
    // Both spellings; `enabled` wins.
    let h = HttpConf::parse_str(
        "http.default_content_type = a/b\nhttp.mime_types_filename = m\nhttp.multi_range.enabed = false\nhttp.multi_range.enabled = true\n",
        name,
    )
    .unwrap();
    assert!(h.multi_range_enabled);
    assert_eq!(h.mime_types_filename, Some(PathBuf::from("/etc/fdfs/m")));
    // http:// kept as is.
    let h = HttpConf::parse_str(
        "http.default_content_type = a/b\nhttp.mime_types_filename = http://conf/mime.types\n",
        name,
    )
    .unwrap();
    assert_eq!(
        h.mime_types_filename,
        Some(PathBuf::from("http://conf/mime.types"))
    );
    // Nothing needed when everything is off.
    let h = HttpConf::parse_str(
        "http.need_find_content_type = false\nhttp.multi_range.enabled = off\n",
        name,
    )
    .unwrap();
    assert!(!h.needs_mime_types());
    assert!(
        HttpConf::parse_str("http.disabled = true\n", name)
            .unwrap()
            .disabled
    );

    let err = |t: &str| HttpConf::parse_str(t, name).unwrap_err().to_string();
    assert_eq!(
        err("http.default_content_type = a/b\n"),
        "/etc/fdfs/http.conf: http.mime_types_filename: required (need_find_content_type, check_token or multi_range is on): expected a mime.types file name"
    );
    assert!(err("http.mime_types_filename = m\n")
        .starts_with("/etc/fdfs/http.conf: http.default_content_type: required"));
    let ok = "http.default_content_type = a/b\nhttp.mime_types_filename = m\n";
    assert_eq!(
        err(&format!("{ok}http.anti_steal.check_token = true\nhttp.anti_steal.secret_key = k\nhttp.anti_steal.token_ttl = 0\n")),
        "/etc/fdfs/http.conf:5: http.anti_steal.token_ttl: expected a positive number of seconds, got 0"
    );
    assert_eq!(
        err(&format!("{ok}http.anti_steal.check_token = true\n")),
        "/etc/fdfs/http.conf: http.anti_steal.secret_key: required when http.anti_steal.check_token is true: expected a non-empty secret"
    );
    assert_eq!(
        err(&format!("{ok}http.server_port = 0\n")),
        "/etc/fdfs/http.conf:3: http.server_port: expected a port 1..65535, got 0"
    );
    assert!(err(&format!(
        "http.mime_types_filename = m\nhttp.default_content_type = {}\n",
        "x".repeat(64)
    ))
    .starts_with("/etc/fdfs/http.conf:2: http.default_content_type: expected at most 63 chars"));
}

#[test]
fn include_errors_are_located() {
    let dir = temp_conf_dir(&[(
        "mod_fastdfs.conf",
        "base_path=/tmp\ngroup_name=g\n\n#include nothere.conf\n",
    )]);
    let e = ModFastdfsConf::load(dir.join("mod_fastdfs.conf")).unwrap_err();
    let s = e.to_string();
    assert!(
        s.starts_with(&format!(
            "{}: cannot read file:",
            dir.join("nothere.conf").display()
        )),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "included from {}:4",
            dir.join("mod_fastdfs.conf").display()
        )),
        "{s}"
    );
    let e = ModFastdfsConf::load(dir.join("absent.conf")).unwrap_err();
    assert!(matches!(e, ConfError::Io { line: 0, .. }), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_conf() {
    let text = "\
connect_timeout = 5
network_timeout = 60
base_path = /home/yuqing/fastdfs
tracker_server = 127.0.0.10:22122
tracker_server = 127.0.0.10:22123
tracker_server = [::1]:22124
tracker_server = tracker.local
log_level = info
use_connection_pool = true
connection_pool_max_idle_time = 3600
load_fdfs_parameters_from_tracker = false
use_storage_id = true
storage_ids_filename = storage_ids.conf
http.tracker_server_port = 8080
##include http.conf
";
    let c = ClientConf::parse_str(text, "/etc/fdfs/client.conf").unwrap();
    assert_eq!((c.connect_timeout, c.network_timeout), (5, 60));
    let t: Vec<String> = c.tracker_servers.iter().map(ToString::to_string).collect();
    assert_eq!(
        t,
        [
            "127.0.0.10:22122",
            "127.0.0.10:22123",
            "[::1]:22124",
            "tracker.local:22122"
        ]
    );
    assert!(c.use_connection_pool && c.use_storage_id);
    assert_eq!(
        c.storage_ids_filename,
        Some(PathBuf::from("/etc/fdfs/storage_ids.conf"))
    );
    assert_eq!(c.http_tracker_server_port, 8080);
    assert_eq!(c.base_path, Some(PathBuf::from("/home/yuqing/fastdfs")));
    let e = ClientConf::parse_str("base_path=/tmp\n", "/etc/fdfs/client.conf").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/fdfs/client.conf: tracker_server: required: expected at least one \"host:port\""
    );
}

#[test]
fn repo_nginx_conf_loads_if_present() {
    // The deployment example shipped next to this crate must load.
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nginx-conf/storage/mod_fastdfs.conf");
    if !p.exists() {
        return;
    }
    let c = ModFastdfsConf::load(&p).unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.groups.is_empty());
}
