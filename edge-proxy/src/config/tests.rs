//! The file's parsing, defaults, checks and the line every error names.

use super::*;

const GOOD: &str = r#"
[server]
listen = ["127.0.0.1:8080"]
threads = 2

[admin]
listen = "127.0.0.1:9900"

[[group]]
name = "group1"
storages = ["10.0.0.1:80", { addr = "10.0.0.2:80", weight = 2 }]

[cache]
dir = "/tmp/x"
max_size = "1GiB"
valid = "12h"
inactive = "30d"

[response]
expires = "30d"

[purge]
allow = ["127.0.0.1/32", "10.0.0.0/8"]
"#;

#[test]
fn parses_good() {
    let c = Config::parse(GOOD, "t").unwrap();
    assert_eq!(c.server.threads, 2);
    assert_eq!(c.groups[0].storages[1].weight(), 2);
    assert_eq!(c.cache.max_size.0, 1 << 30);
    assert_eq!(c.cache.valid.0, Duration::from_secs(43200));
    assert_eq!(
        c.response.expires,
        OptDur(Some(Duration::from_secs(2_592_000)))
    );
    assert_eq!(c.upstream.connect_timeout.0, Duration::from_secs(90));
}

#[test]
fn unknown_key_has_line() {
    let bad = GOOD.replace("threads = 2", "threads = 2\nbogus = 1");
    match Config::parse(&bad, "t") {
        Err(ConfigError::Parse { line, msg, .. }) => {
            assert_eq!(line, 5, "{msg}");
            assert!(msg.contains("bogus"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_duration_has_line() {
    let bad = GOOD.replace("valid = \"12h\"", "valid = \"12x\"");
    match Config::parse(&bad, "t") {
        Err(ConfigError::Parse { line, .. }) => assert_eq!(line, 16),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deploy_example_is_valid() {
    let c = Config::parse(include_str!("../../deploy/edge.toml"), "deploy/edge.toml").unwrap();
    // the seed deployment: two groups of two storages
    let groups: Vec<(&str, usize)> = c
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.storages.len()))
        .collect();
    assert_eq!(groups, [("group1", 2), ("group2", 2)]);
    assert_eq!(c.health.path, DEFAULT_HEALTH_PATH);
    assert_eq!(c.upstream.max_fails, 3);
    assert_eq!(c.server.client_max_body_size.0, 300 << 20);
}

#[test]
fn sizes_and_durations() {
    assert_eq!("200MiB".parse::<Size>().unwrap().0, 200 << 20);
    assert_eq!("64k".parse::<Size>().unwrap().0, 64 << 10);
    assert!("1 parsec".parse::<Size>().is_err());
    assert_eq!("30d".parse::<Dur>().unwrap().0.as_secs(), 2_592_000);
    assert_eq!("500ms".parse::<Dur>().unwrap().0.as_millis(), 500);
    assert!("30".parse::<Dur>().is_err());
}

#[test]
fn duplicate_group_rejected() {
    let bad = GOOD.replace(
        "[cache]",
        "[[group]]\nname = \"group1\"\nstorages = [\"10.0.0.3:80\"]\n\n[cache]",
    );
    assert!(Config::parse(&bad, "t").is_err());
}

#[test]
fn gzip_settings_are_checked() {
    let c = Config::parse(include_str!("../../deploy/edge.toml"), "deploy/edge.toml").unwrap();
    assert!(c.response.gzip);
    assert_eq!(c.response.gzip_level, 1);
    let with = |line: &str| GOOD.replace("[response]\n", &format!("[response]\n{line}\n"));
    assert!(
        Config::parse(&with("gzip = true"), "t")
            .unwrap()
            .response
            .gzip
    );
    let err = |line: &str| match Config::parse(&with(line), "t") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{line} accepted"),
    };
    assert!(err("gzip_level = 0").contains("gzip_level"));
    assert!(err("gzip_types = [\"text plain\"]").contains("not a MIME type"));
}

fn parse_err(text: &str) -> String {
    match Config::parse(text, "t") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

#[test]
fn ranges_that_break_the_edge_are_refused() {
    // every response would panic formatting a date past 9999
    let line_of =
        |text: &str, needle: &str| 1 + text.lines().position(|l| l.starts_with(needle)).unwrap();
    let bad = GOOD.replace("expires = \"30d\"", "expires = \"3000000d\"");
    let e = parse_err(&bad);
    assert!(e.contains("expires") && e.contains("out of range"), "{e}");
    assert!(
        e.starts_with(&format!("t:{}:", line_of(&bad, "expires"))),
        "{e}"
    );
    let with_trackers = |refresh: &str| {
        format!("{GOOD}\n[trackers]\nservers = [\"127.0.0.1:22122\"]\nrefresh = \"{refresh}\"\ntimeout = \"1s\"\n")
    };
    // a zero interval panics the background service (health checks, sweeps, discovery)
    let e = parse_err(&with_trackers("0s"));
    assert!(e.contains("[trackers] refresh"), "{e}");
    let line = line_of(&with_trackers("0s"), "refresh");
    assert!(e.starts_with(&format!("t:{line}:")), "{e}");
    assert!(Config::parse(&with_trackers("1s"), "t").is_ok());
    let e = parse_err(&GOOD.replace("[cache]\n", "[health]\ninterval = \"0s\"\n\n[cache]\n"));
    assert!(e.contains("[health] interval"), "{e}");
    let e = parse_err(&GOOD.replace(
        "[cache]\n",
        "[upstream]\nconnect_timeout = \"0s\"\n\n[cache]\n",
    ));
    assert!(e.contains("connect_timeout"), "{e}");
    let e = parse_err(&GOOD.replace("valid = \"12h\"", "valid = \"100000d\""));
    assert!(e.contains("[cache] valid"), "{e}");
    let e = parse_err(&GOOD.replace("threads = 2", "threads = 100000"));
    assert!(e.contains("threads"), "{e}");
}

#[test]
fn a_storage_host_name_is_explained() {
    let e = parse_err(&GOOD.replace("\"10.0.0.1:80\"", "\"storage1.example:80\""));
    assert!(!e.contains("untagged"), "{e}");
    assert!(
        e.contains("storage1.example") && e.contains("host name"),
        "{e}"
    );
    let e = parse_err(&GOOD.replace("\"10.0.0.2:80\"", "\"s2:80\""));
    assert!(e.contains("host name"), "{e}");
    let e = parse_err(&GOOD.replace("weight = 2", "weight = 2, port = 1"));
    assert!(e.contains("port"), "{e}");
}

#[test]
fn runtime_files_default_to_the_run_directory() {
    let c = Config::parse(GOOD, "t").unwrap();
    assert_eq!(
        c.server.upgrade_sock(),
        Path::new("/run/fdfs-edge/upgrade.sock")
    );
    assert_eq!(
        c.server.pid_file(),
        Path::new("/run/fdfs-edge/fdfs-edge.pid")
    );
    assert_eq!(c.health.path, "/healthz");
    assert_eq!(c.server.access_log_format, AccessLogFormat::Edge);
    let c = Config::parse(
        &GOOD.replace(
            "threads = 2",
            "threads = 2\naccess_log_format = \"combined\"",
        ),
        "t",
    )
    .unwrap();
    assert_eq!(c.server.access_log_format, AccessLogFormat::Combined);
}

/// The 1-based line of the `n`th (0-based) line of `text` that contains `needle`.
fn nth_line(text: &str, needle: &str, n: usize) -> usize {
    let mut hits = text.lines().enumerate().filter(|(_, l)| l.contains(needle));
    1 + hits.nth(n).map(|(i, _)| i).expect("needle in text")
}

fn error_line(text: &str) -> usize {
    match Config::parse(text, "t") {
        Err(ConfigError::Parse { line, .. }) => line,
        other => panic!("{other:?}"),
    }
}

/// Two groups, each with a weighted storage: the key `weight` is on two lines.
const TWO_GROUPS: &str = r#"
[server]
listen = ["127.0.0.1:8080"]

[[group]]
name = "group1"
storages = [{ addr = "10.0.0.1:80", weight = 2 }]

[[group]]
name = "group2"
storages = [
    "10.0.0.3:80",
    { addr = "10.0.0.4:80", weight = 3 },
]

[cache]
dir = "/tmp/x"
"#;

#[test]
fn a_repeated_key_is_reported_where_it_is_wrong() {
    assert!(Config::parse(TWO_GROUPS, "t").is_ok());
    // the second group's weight, not the first line that says `weight`
    let bad = TWO_GROUPS.replace("weight = 3", "weight = 0");
    assert_eq!(error_line(&bad), nth_line(&bad, "weight", 1));
    assert!(
        parse_err(&bad).contains("10.0.0.4:80"),
        "{}",
        parse_err(&bad)
    );
    // the first group's weight stays on its own line
    let bad = TWO_GROUPS.replace("weight = 2", "weight = 0");
    assert_eq!(error_line(&bad), nth_line(&bad, "weight", 0));
}

#[test]
fn a_repeated_value_is_reported_at_its_second_occurrence() {
    // a group defined twice: the second `name`
    let bad = TWO_GROUPS.replace("\"group2\"", "\"group1\"");
    assert!(
        parse_err(&bad).contains("defined twice"),
        "{}",
        parse_err(&bad)
    );
    assert_eq!(error_line(&bad), nth_line(&bad, "\"group1\"", 1));
    // a storage listed twice in a group: the second entry
    let bad = TWO_GROUPS.replace("\"10.0.0.4:80\"", "\"10.0.0.3:80\"");
    assert!(
        parse_err(&bad).contains("listed twice"),
        "{}",
        parse_err(&bad)
    );
    assert_eq!(error_line(&bad), nth_line(&bad, "10.0.0.3:80", 1));
}

#[test]
fn a_key_of_two_tables_is_reported_in_its_own_table() {
    // `timeout` of [trackers] comes first in the file, the bad one is [health]'s
    let text = format!(
        "{TWO_GROUPS}\n[trackers]\nservers = [\"127.0.0.1:22122\"]\ntimeout = \"1s\"\n\n\
         [health]\ntimeout = \"0s\"\n"
    );
    assert!(
        parse_err(&text).contains("[health] timeout"),
        "{}",
        parse_err(&text)
    );
    assert_eq!(error_line(&text), nth_line(&text, "timeout", 1));
    // an element of a multi-line array: its own line
    let text = format!(
        "{TWO_GROUPS}\n[response]\ngzip_types = [\n    \"text/plain\",\n    \"text plain\",\n]\n"
    );
    assert_eq!(error_line(&text), nth_line(&text, "\"text plain\"", 0));
    // a dotted key (its table has no header line): the key's own line
    let text = TWO_GROUPS.replace(
        "[server]\nlisten = [\"127.0.0.1:8080\"]\n",
        "server.listen = [\"127.0.0.1:8080\"]\nserver.threads = 0\n",
    );
    assert!(parse_err(&text).contains("threads"), "{}", parse_err(&text));
    assert_eq!(error_line(&text), nth_line(&text, "server.threads", 0));
}

#[test]
fn a_missing_table_has_no_line() {
    let text = TWO_GROUPS
        .split("[[group]]")
        .next()
        .expect("head")
        .to_string()
        + "[cache]\ndir = \"/tmp/x\"\n";
    match Config::parse(&text, "t") {
        Err(ConfigError::Invalid { msg, .. }) => assert!(msg.contains("nothing to proxy to")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults_are_the_same_with_and_without_the_table() {
    let empty = "\n[upstream]\n\n[health]\n\n[response]\n\n[purge]\n";
    let with = Config::parse(&format!("{TWO_GROUPS}{empty}"), "t").expect("with tables");
    let without = Config::parse(TWO_GROUPS, "t").expect("without tables");
    assert_eq!(format!("{with:?}"), format!("{without:?}"));
    assert_eq!(without.upstream.max_fails, 3);
    assert_eq!(without.upstream.fail_timeout.0, Duration::from_secs(30));
    assert_eq!(without.health.interval.0, Duration::from_secs(5));
    assert_eq!(without.response.gzip_min_length.0, 20);
    assert_eq!(without.purge.allow.len(), 1);
}

const ACCESS: &str = r#"
[access]
default = "signed"
skew = "1m"

[[access.key]]
id = "2026-12"
secret = "0123456789abcdef0123"

[access.token]
secret_key = "FastDFS1234567890"

[[access.rule]]
group = "group2"
policy = "token"

[[access.rule]]
prefix = "/group1/M00/public/"
policy = "public"
"#;

#[test]
fn access_reaches_the_policy() {
    let c = Config::parse(&format!("{GOOD}{ACCESS}"), "t").unwrap();
    let a = c.access.as_ref().expect("[access]");
    assert_eq!(a.default, PolicyName::Signed);
    assert_eq!(a.skew.0, Duration::from_secs(60));
    assert_eq!(a.rules[0].path_prefix(), "/group2/");
    assert_eq!(a.token.as_ref().map(|t| t.ttl.0.as_secs()), Some(600));
    // no secret in a debug print (a panic message or a log line)
    assert!(!format!("{c:?}").contains("0123456789abcdef0123"));
    assert!(!format!("{c:?}").contains("FastDFS1234567890"));
}

#[test]
fn access_mistakes_are_named_with_their_line() {
    let text = |from: &str, to: &str| format!("{GOOD}{}", ACCESS.replace(from, to));
    let no_key = text(
        "[[access.key]]\nid = \"2026-12\"\nsecret = \"0123456789abcdef0123\"\n",
        "",
    );
    assert!(parse_err(&no_key).contains("no [[access.key]]"));
    let short = text("0123456789abcdef0123", "short");
    assert!(parse_err(&short).contains("at least 16 bytes"));
    assert_eq!(
        error_line(&short),
        nth_line(&short, "secret = \"short\"", 0)
    );
    let both = text("secret = \"0123", "secret_file = \"/k\"\nsecret = \"0123");
    assert!(parse_err(&both).contains("both a secret and a secret_file"));
    let no_token = text("[access.token]\nsecret_key = \"FastDFS1234567890\"\n", "");
    assert!(parse_err(&no_token).contains("no [access.token]"));
    let two = text("group = \"group2\"", "group = \"group2\"\nprefix = \"/x/\"");
    assert!(parse_err(&two).contains("a prefix or a group"));
    let relative = text("/group1/M00/public/", "group1/");
    assert!(parse_err(&relative).contains("must start with /"));
    let bad_id = text("id = \"2026-12\"", "id = \"a b\"");
    assert!(parse_err(&bad_id).contains("letters, digits"));
    let policy = text("policy = \"token\"", "policy = \"secret\"");
    assert!(parse_err(&policy).contains("unknown variant"));
}

#[test]
fn secret_files_are_read_when_the_file_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "from-a-file-0123456789\n").unwrap();
    let conf = dir.path().join("edge.toml");
    let with_file = ACCESS.replace(
        "secret = \"0123456789abcdef0123\"",
        &format!("secret_file = \"{}\"", key.display()),
    );
    std::fs::write(&conf, format!("{GOOD}{with_file}")).unwrap();
    let c = Config::load(&conf).unwrap();
    let k = &c.access.as_ref().expect("[access]").keys[0];
    assert_eq!(k.secret.as_deref(), Some("from-a-file-0123456789"));
    // a missing file is an error of the load, with the line that names it
    std::fs::remove_file(&key).unwrap();
    match Config::load(&conf) {
        Err(ConfigError::Parse { line, msg, .. }) => {
            let text = std::fs::read_to_string(&conf).unwrap();
            assert_eq!(line, nth_line(&text, "secret_file", 0), "{msg}");
            assert!(msg.contains("secret file"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn peers_are_checked() {
    let peers = "\n[peers]\nedges = [\"10.0.0.2:8080\"]\nsecret = \"shared-by-the-pair-0123\"\n";
    let c = Config::parse(&format!("{GOOD}{peers}"), "t").unwrap();
    let p = c.peers.as_ref().expect("[peers]");
    assert_eq!(p.queue_dir, Path::new(DEFAULT_QUEUE_DIR));
    assert_eq!(p.retry.0, Duration::from_secs(2));
    assert!(!format!("{c:?}").contains("shared-by-the-pair"));
    let own = peers.replace("10.0.0.2:8080", "127.0.0.1:8080");
    assert!(parse_err(&format!("{GOOD}{own}")).contains("own listen address"));
    let none = peers.replace("[\"10.0.0.2:8080\"]", "[]");
    assert!(parse_err(&format!("{GOOD}{none}")).contains("must not be empty"));
    let short = peers.replace("shared-by-the-pair-0123", "short");
    assert!(parse_err(&format!("{GOOD}{short}")).contains("at least 16 bytes"));
    let fast = format!("{peers}retry = \"1ms\"\n");
    assert!(parse_err(&format!("{GOOD}{fast}")).contains("retry must be"));
}

#[test]
fn uploads_need_trackers_and_credentials() {
    let trackers = "\n[trackers]\nservers = [\"10.0.0.9:22122\"]\n";
    let bearer = "\n[upload]\n[[upload.bearer]]\nid = \"app\"\ntoken = \"app-token-0123456789\"\n";
    let c = Config::parse(&format!("{GOOD}{trackers}{bearer}"), "t").unwrap();
    let u = c.upload.as_ref().expect("[upload]");
    assert!(u.delete);
    assert_eq!(u.block_size.0, 4 << 20);
    assert!(!format!("{c:?}").contains("app-token"));
    assert!(parse_err(&format!("{GOOD}{bearer}")).contains("needs [trackers]"));
    let open = "\n[upload]\ndelete = true\n";
    assert!(parse_err(&format!("{GOOD}{trackers}{open}")).contains("never open"));
    let short = bearer.replace("app-token-0123456789", "short");
    assert!(parse_err(&format!("{GOOD}{trackers}{short}")).contains("at least 16 bytes"));
    let block = bearer.replace("[upload]\n", "[upload]\nblock_size = \"1KiB\"\n");
    assert!(parse_err(&format!("{GOOD}{trackers}{block}")).contains("block_size must be 64KiB"));
}

#[test]
fn cors_origins_are_origins() {
    let with = |o: &str| {
        GOOD.replace(
            "expires = \"30d\"",
            &format!("expires = \"30d\"\ncors_origins = [{o}]"),
        )
    };
    let c = Config::parse(&with("\"https://app.example.com\", \"*\""), "t").unwrap();
    assert_eq!(c.response.cors_origins.len(), 2);
    assert!(c.response.download_names);
    for bad in [
        "\"app.example.com\"",
        "\"https://app.example.com/\"",
        "\"https://a b\"",
    ] {
        assert!(parse_err(&with(bad)).contains("is not an origin"), "{bad}");
    }
}

#[test]
fn tls_listeners_are_checked() {
    let tls =
        "\n[tls]\nlisten = [\"127.0.0.1:8443\"]\ncert = \"/etc/c.pem\"\nkey = \"/etc/k.pem\"\n";
    let c = Config::parse(&format!("{GOOD}{tls}"), "t").unwrap();
    assert!(c.tls.as_ref().is_some_and(|t| t.http2));
    let clash = tls.replace("127.0.0.1:8443", "127.0.0.1:8080");
    assert!(parse_err(&format!("{GOOD}{clash}")).contains("already a plain HTTP listener"));
    let admin = tls.replace("127.0.0.1:8443", "127.0.0.1:9900");
    assert!(parse_err(&format!("{GOOD}{admin}")).contains("already a plain HTTP listener"));
    let empty = tls.replace("[\"127.0.0.1:8443\"]", "[]");
    assert!(parse_err(&format!("{GOOD}{empty}")).contains("must not be empty"));
}
