//! Conformance of `fdfs_client::proto` against the captures of a real FastDFS 6.16.1 cluster
//! (`shared/vectors/pcap/*.txt`, `*.pcap`, `raw_probe.json`, `raw_probe.txt`), plus hostile
//! input and a seeded no-panic sweep.
//!
//! Every captured request and reply is decoded with the typed message for its command and
//! re-encoded; the bytes must match exactly. Bodies the `.txt` dumps cut after 256 bytes are
//! checked in full from the `.pcap` files (a small pcap/TCP reassembler lives below).
//!
//! The vectors directory is found by walking up from `CARGO_MANIFEST_DIR` to an ancestor that
//! has `shared/vectors`, or from `FDFS_VECTORS_DIR`.

mod common;
use common::vectors_dir;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fdfs_client::proto::{
    self, cmd, stat, status, wire::Reader, ActiveTest, AddrWidth, AppendRequest, DeleteFile,
    DeleteStorage, DownloadRequest, EmptyReply, FetchServer, FetchServers, FetchStorageIds,
    FileInfoReply, GetLeader, GetMetadata, GroupStat, GroupStats, Header, LeaderReply,
    ListAllGroups, ListOneGroup, ListStorage, Message, MetaOp, Metadata, ModifyRequest, ProtoError,
    QueryFetchAll, QueryFetchOne, QueryFileInfo, QueryStoreWithGroupAll, QueryStoreWithGroupOne,
    QueryStoreWithoutGroupAll, QueryStoreWithoutGroupOne, QueryUpdate, Quit,
    RegenerateAppenderFilename, Reply, ReportServerId, Request, SetMetadataRequest, StorageIds,
    StorageParameterReq, StorageParameters, StorageStats, StoreServer, StoreServers, StreamPrefix,
    SyncCreateFile, SyncDeleteFile, SyncModifyFile, SyncRenameFile, SyncTruncateFile,
    TrackerClusterStat, TrackerClusterStatRequest, TruncateRequest, UploadReply, UploadRequest,
    UploadSlaveRequest, HEADER_LEN,
};

// ---------------------------------------------------------------------------------------------
// locating the vectors

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len().is_multiple_of(2), "odd hex length: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// the .txt capture format

#[derive(Debug, Clone)]
struct TxtMsg {
    request: bool,
    cmd: u8,
    status: u8,
    pkg_len: u64,
    header: Vec<u8>,
    /// The body bytes shown (at most 256).
    body: Vec<u8>,
    /// Bytes not shown (`... (N more bytes)`).
    more: u64,
}

impl TxtMsg {
    fn complete(&self) -> bool {
        self.more == 0
    }
}

#[derive(Debug, Clone)]
struct TxtStream {
    /// `client A:p -> server B:q`.
    client: String,
    server: String,
    msgs: Vec<TxtMsg>,
}

fn field<T: std::str::FromStr>(line: &str, key: &str) -> T {
    let i = line
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {line:?}"));
    let rest = &line[i + key.len()..];
    let tok: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    tok.parse()
        .unwrap_or_else(|_| panic!("bad {key} in {line:?}"))
}

fn parse_txt(text: &str) -> Vec<TxtStream> {
    let mut streams: Vec<TxtStream> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("=== stream ") {
            let after = rest.split_once(": client ").expect("stream line").1;
            let (client, srv) = after.split_once(" -> server ").expect("stream line");
            let server = srv.split_whitespace().next().expect("server").to_string();
            streams.push(TxtStream {
                client: client.to_string(),
                server,
                msgs: Vec::new(),
            });
        } else if t.starts_with(">>") || t.starts_with("<<") {
            let s = streams.last_mut().expect("message before stream");
            s.msgs.push(TxtMsg {
                request: t.starts_with(">>"),
                cmd: field(t, "cmd="),
                status: field(t, "status="),
                pkg_len: field(t, "pkg_len="),
                header: Vec::new(),
                body: Vec::new(),
                more: 0,
            });
        } else if let Some(h) = t.strip_prefix("header:") {
            let m = streams
                .last_mut()
                .and_then(|s| s.msgs.last_mut())
                .expect("header before message");
            m.header = unhex(&h.replace(' ', ""));
        } else if let Some(r) = t.strip_prefix("... (") {
            let m = streams
                .last_mut()
                .and_then(|s| s.msgs.last_mut())
                .expect("more before message");
            m.more = r.split_whitespace().next().unwrap().parse().unwrap();
        } else if t.len() > 8
            && t.as_bytes()[..6].iter().all(|b| b.is_ascii_hexdigit())
            && t[6..].starts_with("  ")
        {
            let m = streams
                .last_mut()
                .and_then(|s| s.msgs.last_mut())
                .expect("hex before message");
            for tok in t[6..].split_whitespace().take(16) {
                if tok.len() != 2 || !tok.bytes().all(|b| b.is_ascii_hexdigit()) {
                    break;
                }
                m.body.push(u8::from_str_radix(tok, 16).unwrap());
            }
        }
    }
    streams
}

// ---------------------------------------------------------------------------------------------
// pcap + TCP reassembly (Ethernet/IPv4 only, which is what the captures hold)

/// `(src ip:port, dst ip:port)`.
type Flow = (String, String);

/// Per (src, dst) direction, the reassembled payload.
fn pcap_flows(data: &[u8]) -> BTreeMap<Flow, Vec<u8>> {
    let mut segs: BTreeMap<Flow, Vec<(u32, Vec<u8>)>> = BTreeMap::new();
    if data.len() < 24 {
        return BTreeMap::new();
    }
    let le = data[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    assert!(le || data[..4] == [0xa1, 0xb2, 0xc3, 0xd4], "not a pcap");
    let rd32 = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = rd32(&data[20..24]);
    assert_eq!(linktype, 1, "only Ethernet captures are handled");
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = rd32(&data[off + 8..off + 12]) as usize;
        let orig = rd32(&data[off + 12..off + 16]) as usize;
        assert_eq!(incl, orig, "truncated packet in capture");
        let pkt = &data[off + 16..off + 16 + incl];
        off += 16 + incl;
        if pkt.len() < 14 || pkt[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &pkt[14..];
        let ihl = ((ip[0] & 0x0f) as usize) * 4;
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        if ip[9] != 6 {
            continue;
        }
        let src_ip = format!("{}.{}.{}.{}", ip[12], ip[13], ip[14], ip[15]);
        let dst_ip = format!("{}.{}.{}.{}", ip[16], ip[17], ip[18], ip[19]);
        let tcp = &ip[ihl..total];
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        let doff = ((tcp[12] >> 4) as usize) * 4;
        let payload = &tcp[doff..];
        if payload.is_empty() {
            continue;
        }
        segs.entry((format!("{src_ip}:{sport}"), format!("{dst_ip}:{dport}")))
            .or_default()
            .push((seq, payload.to_vec()));
    }
    segs.into_iter()
        .map(|(k, mut v)| {
            // relative to the first segment seen (streams may start before the capture)
            let base = v[0].0;
            v.sort_by_key(|(s, _)| s.wrapping_sub(base));
            let mut out: Vec<u8> = Vec::new();
            for (s, p) in v {
                let rel = s.wrapping_sub(base) as usize;
                if rel + p.len() <= out.len() {
                    continue; // retransmission
                }
                assert!(rel <= out.len(), "gap in TCP stream {k:?}");
                out.extend_from_slice(&p[out.len() - rel..]);
            }
            (k, out)
        })
        .collect()
}

/// Splits a byte stream into (header, body) frames.
fn split_frames(mut b: &[u8]) -> Vec<(Header, Vec<u8>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let h = Header::decode_slice(b).expect("frame header");
        let n = HEADER_LEN + h.body_len as usize;
        assert!(b.len() >= n, "frame cut short in capture");
        out.push((h, b[HEADER_LEN..n].to_vec()));
        b = &b[n..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// typed decode + re-encode

fn rt<T: Message>(body: &[u8]) -> Result<T, String> {
    let v = T::decode(body).map_err(|e| format!("decode: {e}"))?;
    let again = v.encode();
    if again != body {
        return Err(format!(
            "re-encode differs:\n  got  {}\n  want {}",
            hex(&again),
            hex(body)
        ));
    }
    Ok(v)
}

fn rt_prefix<T: StreamPrefix>(h: &Header, body: &[u8], complete: bool) -> Result<T, String> {
    let (v, n) = if complete {
        T::decode_prefix_checked(h, body)
    } else {
        T::decode_prefix(h.cmd, body)
    }
    .map_err(|e| format!("decode prefix: {e}"))?;
    if v.prefix_len() != n {
        return Err("prefix_len differs from consumed".into());
    }
    if v.body_len() != h.body_len {
        return Err(format!(
            "body_len {} vs header {}",
            v.body_len(),
            h.body_len
        ));
    }
    let fixed = T::prefix_len_from_fixed(&body[..T::FIXED_LEN]).map_err(|e| e.to_string())?;
    if fixed != n {
        return Err("prefix_len_from_fixed differs".into());
    }
    if v.encode_prefix() != body[..n] {
        return Err("prefix re-encode differs".into());
    }
    if v.header() != *h {
        return Err("header re-encode differs".into());
    }
    Ok(v)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decodes a request body with its typed message; `complete` = the whole body is present.
/// Returns a label of what was checked.
fn check_request(h: &Header, body: &[u8], complete: bool) -> Result<&'static str, String> {
    // all non-streaming requests are short: the dumps always show them whole
    macro_rules! whole {
        ($t:ty) => {{
            if !complete {
                return Err("non-streaming request shown truncated".into());
            }
            if h.cmd != <$t as Request>::CMD {
                return Err("command mismatch".into());
            }
            if h.body_len > <$t as Request>::MAX_BODY {
                return Err("request longer than MAX_BODY".into());
            }
            let v: $t = rt(body)?;
            if v.to_frame()[..HEADER_LEN] != h.encode() {
                return Err("frame header differs".into());
            }
            stringify!($t)
        }};
    }
    Ok(match h.cmd {
        cmd::ACTIVE_TEST => whole!(ActiveTest),
        cmd::QUIT => whole!(Quit),
        cmd::QUERY_STORE_WITHOUT_GROUP_ONE => whole!(QueryStoreWithoutGroupOne),
        cmd::QUERY_STORE_WITH_GROUP_ONE => whole!(QueryStoreWithGroupOne),
        cmd::QUERY_STORE_WITHOUT_GROUP_ALL => whole!(QueryStoreWithoutGroupAll),
        cmd::QUERY_STORE_WITH_GROUP_ALL => whole!(QueryStoreWithGroupAll),
        cmd::QUERY_FETCH_ONE => whole!(QueryFetchOne),
        cmd::QUERY_UPDATE => whole!(QueryUpdate),
        cmd::QUERY_FETCH_ALL => whole!(QueryFetchAll),
        cmd::SERVER_LIST_ONE_GROUP => whole!(ListOneGroup),
        cmd::SERVER_LIST_ALL_GROUPS => whole!(ListAllGroups),
        cmd::SERVER_LIST_STORAGE => whole!(ListStorage),
        cmd::SERVER_DELETE_STORAGE => whole!(DeleteStorage),
        cmd::SERVER_GET_LEADER => whole!(GetLeader),
        cmd::SERVER_TRACKER_CLUSTER_STAT => whole!(TrackerClusterStatRequest),
        cmd::STORAGE_PARAMETER_REQ => whole!(StorageParameterReq),
        cmd::STORAGE_FETCH_STORAGE_IDS => whole!(FetchStorageIds),
        cmd::STORAGE_REPORT_SERVER_ID => whole!(ReportServerId),
        cmd::DOWNLOAD_FILE => whole!(DownloadRequest),
        cmd::DELETE_FILE => whole!(DeleteFile),
        cmd::GET_METADATA => whole!(GetMetadata),
        cmd::SET_METADATA => whole!(SetMetadataRequest),
        cmd::TRUNCATE_FILE => whole!(TruncateRequest),
        cmd::REGENERATE_APPENDER_FILENAME => whole!(RegenerateAppenderFilename),
        cmd::SYNC_DELETE_FILE => whole!(SyncDeleteFile),
        cmd::SYNC_RENAME_FILE => whole!(SyncRenameFile),
        cmd::SYNC_TRUNCATE_FILE => whole!(SyncTruncateFile),
        cmd::QUERY_FILE_INFO => {
            let v = QueryFileInfo::decode_request(h, body).map_err(|e| e.to_string())?;
            if v.to_frame() != [&h.encode()[..], body].concat() {
                return Err("QUERY_FILE_INFO frame differs".into());
            }
            "QueryFileInfo"
        }
        cmd::UPLOAD_FILE | cmd::UPLOAD_APPENDER_FILE => {
            rt_prefix::<UploadRequest>(h, body, complete)?;
            "UploadRequest"
        }
        cmd::UPLOAD_SLAVE_FILE => {
            rt_prefix::<UploadSlaveRequest>(h, body, complete)?;
            "UploadSlaveRequest"
        }
        cmd::APPEND_FILE => {
            rt_prefix::<AppendRequest>(h, body, complete)?;
            "AppendRequest"
        }
        cmd::MODIFY_FILE => {
            rt_prefix::<ModifyRequest>(h, body, complete)?;
            "ModifyRequest"
        }
        cmd::SYNC_CREATE_FILE | cmd::SYNC_UPDATE_FILE => {
            rt_prefix::<SyncCreateFile>(h, body, complete)?;
            "SyncCreateFile"
        }
        cmd::SYNC_APPEND_FILE | cmd::SYNC_MODIFY_FILE => {
            rt_prefix::<SyncModifyFile>(h, body, complete)?;
            "SyncModifyFile"
        }
        other => return Err(format!("unknown request command {other}")),
    })
}

/// Decodes a reply body for request `req` (its header + body when known).
fn check_reply(
    req: &Header,
    req_body: &[u8],
    h: &Header,
    body: &[u8],
    complete: bool,
) -> Result<&'static str, String> {
    if h.cmd != cmd::RESP {
        return Err(format!("reply command {}", h.cmd));
    }
    if h.status != 0 {
        if h.body_len != 0 {
            return Err("error reply with a body".into());
        }
        return match h.expect_reply(u64::MAX) {
            Err(ProtoError::Status { status }) if status == h.status => Ok("status"),
            other => Err(format!("expect_reply gave {other:?}")),
        };
    }
    let max = proto::max_reply_body(req.cmd).ok_or("no max_reply_body")?;
    h.expect_reply(max).map_err(|e| e.to_string())?;
    macro_rules! whole {
        ($t:ty) => {{
            if h.body_len > <$t as Reply>::MAX_BODY {
                return Err("reply longer than MAX_BODY".into());
            }
            if !complete {
                return Ok(concat!(stringify!($t), " (prefix only)"));
            }
            let v: $t = rt(body)?;
            let d = <$t as Reply>::decode_reply(h, body).map_err(|e| e.to_string())?;
            if d != v || Reply::to_frame(&v) != [&h.encode()[..], body].concat() {
                return Err("reply frame differs".into());
            }
            stringify!($t)
        }};
    }
    Ok(match req.cmd {
        cmd::ACTIVE_TEST
        | cmd::DELETE_FILE
        | cmd::SET_METADATA
        | cmd::APPEND_FILE
        | cmd::MODIFY_FILE
        | cmd::TRUNCATE_FILE
        | cmd::STORAGE_REPORT_SERVER_ID
        | cmd::SYNC_CREATE_FILE
        | cmd::SYNC_UPDATE_FILE
        | cmd::SYNC_DELETE_FILE
        | cmd::SYNC_RENAME_FILE
        | cmd::SYNC_APPEND_FILE
        | cmd::SYNC_MODIFY_FILE
        | cmd::SYNC_TRUNCATE_FILE
        | cmd::SERVER_DELETE_STORAGE => whole!(EmptyReply),
        cmd::QUERY_STORE_WITHOUT_GROUP_ONE | cmd::QUERY_STORE_WITH_GROUP_ONE => {
            whole!(StoreServer)
        }
        cmd::QUERY_STORE_WITHOUT_GROUP_ALL | cmd::QUERY_STORE_WITH_GROUP_ALL => {
            whole!(StoreServers)
        }
        cmd::QUERY_FETCH_ONE | cmd::QUERY_UPDATE => whole!(FetchServer),
        cmd::QUERY_FETCH_ALL => whole!(FetchServers),
        cmd::SERVER_LIST_ONE_GROUP => whole!(GroupStat),
        cmd::SERVER_LIST_ALL_GROUPS => whole!(GroupStats),
        cmd::SERVER_LIST_STORAGE => whole!(StorageStats),
        cmd::SERVER_GET_LEADER => whole!(LeaderReply),
        cmd::SERVER_TRACKER_CLUSTER_STAT => whole!(TrackerClusterStat),
        cmd::STORAGE_PARAMETER_REQ => whole!(StorageParameters),
        cmd::STORAGE_FETCH_STORAGE_IDS => whole!(StorageIds),
        cmd::UPLOAD_FILE
        | cmd::UPLOAD_APPENDER_FILE
        | cmd::UPLOAD_SLAVE_FILE
        | cmd::REGENERATE_APPENDER_FILENAME => whole!(UploadReply),
        cmd::GET_METADATA => whole!(Metadata),
        cmd::QUERY_FILE_INFO => whole!(FileInfoReply),
        cmd::DOWNLOAD_FILE => {
            let d = DownloadRequest::decode(req_body).map_err(|e| e.to_string())?;
            h.expect_reply(d.max_reply_body())
                .map_err(|e| e.to_string())?;
            "download content"
        }
        other => return Err(format!("no reply decoder for request {other}")),
    })
}

/// Requests deliberately malformed by the probe: decoding must fail (the server said EINVAL).
fn is_expected_malformed(h: &Header, body: &[u8]) -> bool {
    check_request(h, body, true).is_err()
}

// ---------------------------------------------------------------------------------------------
// the tests

fn txt_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("pcap"))
        .expect("read pcap dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

#[test]
fn vectors_dir_is_found() {
    let d = vectors_dir();
    assert!(d.join("raw_probe.json").is_file(), "{}", d.display());
}

/// Every message of every `.txt` dump: header bytes, typed decode, byte-exact re-encode.
#[test]
fn txt_captures_roundtrip() {
    let dir = vectors_dir();
    let mut checked = 0usize;
    let mut failures = Vec::new();
    let mut labels: BTreeMap<&'static str, usize> = BTreeMap::new();
    for path in txt_files(&dir) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).expect("read txt");
        for (si, s) in parse_txt(&text).iter().enumerate() {
            let mut last_req: Option<(Header, Vec<u8>, bool)> = None;
            for (mi, m) in s.msgs.iter().enumerate() {
                let at = format!("{name} stream {si} msg {mi}");
                let h = Header::decode_slice(&m.header).expect("header");
                assert_eq!(h.encode().to_vec(), m.header, "{at}: header re-encode");
                assert_eq!(
                    (h.body_len, h.cmd, h.status),
                    (m.pkg_len, m.cmd, m.status),
                    "{at}: header fields vs dump"
                );
                assert_eq!(
                    m.body.len() as u64 + m.more,
                    m.pkg_len,
                    "{at}: shown + more bytes != pkg_len"
                );
                let res = if m.request {
                    last_req = Some((h, m.body.clone(), m.complete()));
                    if cmd::name(h.cmd).is_none() {
                        // probe of an unknown command: nothing to decode, the server says EINVAL
                        Ok("unknown command")
                    } else {
                        check_request(&h, &m.body, m.complete())
                    }
                } else {
                    match &last_req {
                        Some((rq, _, _)) if cmd::name(rq.cmd).is_none() => {
                            assert_eq!(h.status, status::EINVAL, "{at}");
                            Ok("unknown command reply")
                        }
                        Some((rq, rb, _)) => check_reply(rq, rb, &h, &m.body, m.complete()),
                        None => Err("reply without request".into()),
                    }
                };
                match res {
                    Ok(l) => {
                        *labels.entry(l).or_default() += 1;
                        checked += 1;
                    }
                    Err(e) => {
                        // a malformed probe request is fine if we reject it and so did the server
                        let next_status = s.msgs.get(mi + 1).map(|n| n.status).unwrap_or(0);
                        if m.request && next_status == status::EINVAL {
                            *labels.entry("malformed request rejected").or_default() += 1;
                            checked += 1;
                        } else {
                            failures.push(format!("{at}: {e}"));
                        }
                    }
                }
            }
        }
    }
    eprintln!("checked {checked} messages: {labels:#?}");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    // every `>>`/`<<` line of the 26 dumps
    assert_eq!(checked, 241, "messages checked");
}

/// The `.pcap` files: full bodies (the `.txt` shows at most 256 bytes), same frames as the
/// dump, every frame decodes and re-encodes.
#[test]
fn pcap_captures_roundtrip() {
    let dir = vectors_dir();
    let mut frames_checked = 0usize;
    let mut full_bodies = 0usize;
    let mut failures = Vec::new();
    for txt in txt_files(&dir) {
        let pcap = txt.with_extension("pcap");
        let name = pcap.file_name().unwrap().to_string_lossy().to_string();
        let data = std::fs::read(&pcap).unwrap_or_else(|e| panic!("{name}: {e}"));
        let flows = pcap_flows(&data);
        let streams = parse_txt(&std::fs::read_to_string(&txt).unwrap());
        for (si, s) in streams.iter().enumerate() {
            let c2s = flows
                .get(&(s.client.clone(), s.server.clone()))
                .map(|b| split_frames(b))
                .unwrap_or_default();
            let s2c = flows
                .get(&(s.server.clone(), s.client.clone()))
                .map(|b| split_frames(b))
                .unwrap_or_default();
            let reqs: Vec<&TxtMsg> = s.msgs.iter().filter(|m| m.request).collect();
            let reps: Vec<&TxtMsg> = s.msgs.iter().filter(|m| !m.request).collect();
            assert_eq!(c2s.len(), reqs.len(), "{name} stream {si}: request count");
            assert_eq!(s2c.len(), reps.len(), "{name} stream {si}: reply count");
            for ((h, b), m) in c2s.iter().zip(&reqs).chain(s2c.iter().zip(&reps)) {
                assert_eq!(h.encode().to_vec(), m.header, "{name} stream {si}: header");
                assert_eq!(b.len() as u64, m.pkg_len, "{name} stream {si}: body length");
                assert_eq!(
                    b[..m.body.len()],
                    m.body[..],
                    "{name} stream {si}: shown bytes"
                );
                if m.more > 0 {
                    full_bodies += 1;
                }
            }
            // pair requests with replies (QUIT has none)
            let mut ri = 0;
            for (h, b) in &c2s {
                frames_checked += 1;
                let at = format!("{name} stream {si} cmd {}", h.cmd);
                if cmd::name(h.cmd).is_none() {
                    ri += 1;
                    continue;
                }
                let next_status = s2c.get(ri).map(|(rh, _)| rh.status).unwrap_or(0);
                if let Err(e) = check_request(h, b, true) {
                    // deliberately malformed probes: we refuse them, so did the server
                    if next_status != status::EINVAL {
                        failures.push(format!("{at}: request: {e}"));
                    }
                }
                if h.cmd == cmd::QUIT {
                    continue;
                }
                let Some((rh, rb)) = s2c.get(ri) else {
                    // the capture may end before the reply
                    continue;
                };
                ri += 1;
                frames_checked += 1;
                if let Err(e) = check_reply(h, b, rh, rb, true) {
                    failures.push(format!("{at}: reply: {e}"));
                }
                if h.cmd == cmd::DOWNLOAD_FILE && rh.status == 0 {
                    let d = DownloadRequest::decode(b).unwrap();
                    if d.bytes > 0 {
                        assert_eq!(rh.body_len, d.bytes, "{at}: range length");
                    }
                }
            }
        }
    }
    eprintln!("pcap: {frames_checked} frames, {full_bodies} bodies longer than the dumps");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert!(full_bodies >= 10, "expected long bodies, got {full_bodies}");
}

#[derive(Debug, serde::Deserialize)]
struct Probe {
    name: String,
    request_hex: String,
    response_header_hex: String,
    resp_cmd: u8,
    resp_status: u8,
    resp_pkg_len: u64,
    response_body_hex: String,
}

fn load_probes(dir: &Path) -> Vec<Probe> {
    let text = std::fs::read_to_string(dir.join("raw_probe.json")).expect("raw_probe.json");
    serde_json::from_str(&text).expect("raw_probe.json parses")
}

/// `raw_probe.json`: hand-built requests (some malformed on purpose) and the server's replies.
#[test]
fn raw_probe_json_roundtrip() {
    let probes = load_probes(&vectors_dir());
    assert!(probes.len() >= 30);
    let mut malformed = Vec::new();
    for p in &probes {
        let req = unhex(&p.request_hex);
        let rh = Header::decode_slice(&unhex(&p.response_header_hex)).unwrap();
        let rbody = unhex(&p.response_body_hex);
        assert_eq!(
            (rh.cmd, rh.status, rh.body_len),
            (p.resp_cmd, p.resp_status, p.resp_pkg_len),
            "{}",
            p.name
        );
        assert_eq!(rbody.len() as u64, rh.body_len, "{}", p.name);
        let h = Header::decode_slice(&req).unwrap();
        let body = &req[HEADER_LEN..];
        assert_eq!(h.body_len, body.len() as u64, "{}", p.name);
        if cmd::name(h.cmd).is_none() {
            assert_eq!(rh.status, status::EINVAL, "{}", p.name);
            continue;
        }
        match check_request(&h, body, true) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(rh.status, status::EINVAL, "{}: {e}", p.name);
                assert!(is_expected_malformed(&h, body));
                malformed.push(p.name.clone());
            }
        }
        check_reply(&h, body, &rh, &rbody, true).unwrap_or_else(|e| panic!("{}: {e}", p.name));
    }
    // exactly the two deliberately malformed probes are refused
    assert_eq!(malformed.len(), 2, "{malformed:?}");
    assert!(malformed.iter().any(|n| n.contains("bad body len 3")));
    assert!(malformed.iter().any(|n| n.contains("meta_size field 5")));
}

/// `raw_probe.txt` says the same thing as the JSON (hex shown in full, long ones cut with `...`).
#[test]
fn raw_probe_txt_matches_json() {
    let dir = vectors_dir();
    let probes = load_probes(&dir);
    let text = std::fs::read_to_string(dir.join("raw_probe.txt")).expect("raw_probe.txt");
    let mut i = 0usize;
    let mut cur: Option<&Probe> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("## ") {
            let name = rest.split("  -> ").next().unwrap().trim();
            let p = &probes[i];
            assert_eq!(p.name.trim(), name);
            cur = Some(p);
            i += 1;
        } else if let Some(r) = line.trim().strip_prefix("request :") {
            let p = cur.unwrap();
            let r = r.trim();
            match r.strip_suffix("...") {
                Some(pre) => assert!(p.request_hex.starts_with(pre), "{}", p.name),
                None => assert_eq!(r, p.request_hex, "{}", p.name),
            }
        } else if let Some(r) = line.trim().strip_prefix("response: header=") {
            let p = cur.unwrap();
            assert_eq!(r.split_whitespace().next().unwrap(), p.response_header_hex);
        } else if let Some(r) = line.trim().strip_prefix("body    :") {
            let p = cur.unwrap();
            let r = r.trim();
            match r.strip_suffix("...") {
                Some(pre) => assert!(p.response_body_hex.starts_with(pre), "{}", p.name),
                None => assert_eq!(r, p.response_body_hex, "{}", p.name),
            }
        }
    }
    assert_eq!(i, probes.len());
}

// ---------------------------------------------------------------------------------------------
// decoded values (spot checks that the fields land where FastDFS puts them)

#[test]
fn decoded_fields_from_probe() {
    let probes = load_probes(&vectors_dir());
    let body = |name: &str| {
        let p = probes
            .iter()
            .find(|p| p.name.starts_with(name))
            .unwrap_or_else(|| panic!("probe {name}"));
        unhex(&p.response_body_hex)
    };

    let s = StoreServer::decode(&body("QUERY_STORE_WITH_GROUP_ONE group1")).unwrap();
    assert_eq!(
        (s.group.as_str(), s.ip.as_str(), s.port, s.store_path_index),
        ("group1", "127.0.0.11", 23000, 0)
    );
    assert_eq!(s.addr_width, AddrWidth::V4);

    let all = StoreServers::decode(&body("QUERY_STORE_WITH_GROUP_ALL group1")).unwrap();
    assert_eq!(all.servers.len(), 2);
    assert_eq!(all.servers[1].host(), "127.0.0.12");

    let g = GroupStat::decode(&body("SERVER_LIST_ONE_GROUP group1")).unwrap();
    assert_eq!(g.group_name, "group1");
    assert_eq!(g.storage_count, 2);
    assert_eq!(g.storage_port, 23000);
    assert_eq!(g.current_trunk_file_id, -1);

    let st = StorageStats::decode(&body("SERVER_LIST_STORAGE group1")).unwrap();
    assert_eq!(st.storages.len(), 2);
    let s1 = &st.storages[0];
    assert_eq!(s1.status, 7);
    assert_eq!(stat::storage_status::name(s1.status), "ACTIVE");
    assert_eq!(stat::rw_mode_name(s1.rw_mode), "both");
    assert_eq!(s1.addr_width, AddrWidth::V4);
    assert_eq!(s1.id, "127.0.0.11");
    assert_eq!(s1.ip_addr, "127.0.0.11");
    assert_eq!(s1.src_id, "127.0.0.12");
    assert_eq!(s1.version, "6.16.1");
    assert_eq!(s1.storage_port, 23000);
    assert_eq!(s1.subdir_count_per_path, 256);
    assert!(s1.stat.total_upload_count > 0);
    assert!(s1.stat.last_heart_beat_time > 0);
    assert_eq!(st.storages[1].ip_addr, "127.0.0.12");

    let fi = FileInfoReply::decode(&body("QUERY_FILE_INFO appender")).unwrap();
    assert_eq!(fi.file_size, 18);
    assert_eq!(fi.crc32, 0xdd67_03c3);
    assert_eq!(fi.source_ip, "127.0.0.11");

    let m = Metadata::decode(&body("GET_METADATA after merge")).unwrap();
    assert_eq!(m.get("c"), Some("dd"));
    assert_eq!(m.get("width"), Some("160"));
    assert_eq!(m.pairs.len(), 3);

    let up = UploadReply::decode(&body("UPLOAD_SLAVE_FILE prefix _s")).unwrap();
    assert_eq!(up.group, "group1");
    assert!(up.filename.ends_with("_s.txt"));
}

#[test]
fn decoded_fields_from_dumps() {
    let dir = vectors_dir();
    let read = |f: &str| parse_txt(&std::fs::read_to_string(dir.join("pcap").join(f)).unwrap());

    let s = read("tracker_cluster_stat.txt");
    let l = LeaderReply::decode(&s[0].msgs[1].body).unwrap();
    assert_eq!(l.host_port(), Some(("127.0.0.10", 22123)));
    let cs = TrackerClusterStat::decode(&s[1].msgs[1].body).unwrap();
    assert_eq!(cs.trackers.len(), 2);
    assert_eq!(cs.trackers[0].host.text(), "127.0.0.10:22122");
    assert_eq!(cs.trackers[1].host.text(), "127.0.0.10:22123");
    assert_eq!(cs.trackers[1].is_leader, 1);
    assert_eq!(cs.trackers[0].version, "6.16.1");
    assert_eq!(
        TrackerClusterStatRequest::decode(&s[1].msgs[0].body).unwrap(),
        TrackerClusterStatRequest::default()
    );

    let s = read("monitor_list_groups.txt");
    let gs = GroupStats::decode(&s[0].msgs[1].body).unwrap();
    assert_eq!(gs.groups.len(), 2);
    assert_eq!(gs.groups[1].group_name, "group2");
    assert_eq!(gs.groups[1].storage_port, 23002);

    let s = read("query_servers_fetch_all.txt");
    let f = FetchServers::decode(&s[0].msgs[1].body).unwrap();
    assert_eq!(f.group, "group2");
    assert_eq!(
        f.servers,
        vec![fdfs_client::addr::ServerAddr::new("127.0.0.13", 23002)]
    );

    let s = read("upload_and_sync.s1_s2_sync.txt");
    let r = SyncRenameFile::decode(&s[1].msgs[2].body).unwrap();
    assert_eq!(r.group, "group1");
    assert!(r.filename.starts_with("M00/00/00/"));
    assert_ne!(r.filename, r.src_filename);
    let id = ReportServerId::decode(&s[1].msgs[0].body).unwrap();
    assert_eq!(id.storage_id, "127.0.0.11");

    let s = read("setmeta_merge.txt");
    let sm = s
        .iter()
        .flat_map(|st| st.msgs.iter())
        .find(|m| m.request && m.cmd == cmd::SET_METADATA)
        .unwrap();
    assert_eq!(
        SetMetadataRequest::decode(&sm.body).unwrap().op,
        MetaOp::Merge
    );
}

// ---------------------------------------------------------------------------------------------
// hostile input

#[test]
fn huge_declared_length_is_refused_before_allocation() {
    let h = Header::decode(&[0x80, 0, 0, 0, 0, 0, 0, 0, cmd::RESP, 0]);
    assert_eq!(h.body_len, 1 << 63);
    for c in [
        cmd::QUERY_STORE_WITHOUT_GROUP_ONE,
        cmd::QUERY_FETCH_ALL,
        cmd::SERVER_LIST_STORAGE,
        cmd::SERVER_LIST_ALL_GROUPS,
        cmd::UPLOAD_FILE,
        cmd::GET_METADATA,
        cmd::QUERY_FILE_INFO,
        cmd::STORAGE_PARAMETER_REQ,
        cmd::STORAGE_FETCH_STORAGE_IDS,
        cmd::DOWNLOAD_FILE,
        cmd::ACTIVE_TEST,
    ] {
        let max = proto::max_reply_body(c).unwrap();
        assert!(
            matches!(h.expect_reply(max), Err(ProtoError::BodyTooLong { .. })),
            "cmd {c}"
        );
    }
    let h = Header::decode(&[0xff; 10]);
    assert!(h.expect_reply(u64::MAX - 1).is_err());
    assert!(Header::new(cmd::UPLOAD_FILE, 1 << 63)
        .expect_request(cmd::DELETE_FILE, 1000)
        .is_err());
    assert!(matches!(
        Header::new(cmd::DELETE_FILE, 1 << 63)
            .expect_request(cmd::DELETE_FILE, DeleteFile::MAX_BODY),
        Err(ProtoError::BodyTooLong { .. })
    ));
    assert_eq!(proto::max_reply_body(250), None);
}

#[test]
fn huge_inner_lengths_are_errors() {
    // slave/append/modify/set-metadata name lengths of 2^63
    let mut b = vec![0x80, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&[0u8; 60]);
    assert!(UploadSlaveRequest::decode_prefix(cmd::UPLOAD_SLAVE_FILE, &b).is_err());
    assert!(UploadSlaveRequest::prefix_len_from_fixed(&b).is_err());
    assert!(AppendRequest::decode_prefix(cmd::APPEND_FILE, &b).is_err());
    assert!(ModifyRequest::decode_prefix(cmd::MODIFY_FILE, &b).is_err());
    assert!(SetMetadataRequest::decode(&b).is_err());
    assert!(TruncateRequest::decode(&b).is_err());
    assert!(SyncRenameFile::decode(&b).is_err());
    // upload file size with the sign bit
    let mut u = vec![0u8, 0x80, 0, 0, 0, 0, 0, 0, 0];
    u.extend_from_slice(b"jpg\0\0\0");
    assert!(UploadRequest::decode_prefix(cmd::UPLOAD_FILE, &u).is_err());
    // prefix whose length disagrees with the header
    let ok = UploadRequest {
        store_path_index: 0,
        file_size: 10,
        ext: "jpg".into(),
        appender: false,
    };
    let p = ok.encode_prefix();
    assert!(UploadRequest::decode_prefix_checked(&Header::new(cmd::UPLOAD_FILE, 24), &p).is_err());
    assert!(UploadRequest::decode_prefix_checked(&Header::new(cmd::UPLOAD_FILE, 25), &p).is_ok());
}

#[test]
fn truncated_bodies_are_errors() {
    let probes = load_probes(&vectors_dir());
    let mut n = 0;
    for p in &probes {
        let req = unhex(&p.request_hex);
        let h = Header::decode_slice(&req).unwrap();
        let rbody = unhex(&p.response_body_hex);
        if p.resp_status != 0 || rbody.is_empty() {
            continue;
        }
        // every strict prefix of a structured reply is refused
        for cut in 0..rbody.len() {
            let part = &rbody[..cut];
            let r = match h.cmd {
                cmd::QUERY_STORE_WITH_GROUP_ONE => StoreServer::decode(part).map(|_| ()),
                // a list cut at a record boundary is a shorter valid list
                cmd::QUERY_STORE_WITH_GROUP_ALL | cmd::QUERY_STORE_WITHOUT_GROUP_ALL
                    if cut < 17 || (cut - 17) % 23 != 0 =>
                {
                    StoreServers::decode(part).map(|_| ())
                }
                cmd::SERVER_LIST_ONE_GROUP => GroupStat::decode(part).map(|_| ()),
                cmd::SERVER_LIST_STORAGE if cut % 487 != 0 && cut % 517 != 0 => {
                    StorageStats::decode(part).map(|_| ())
                }
                cmd::QUERY_FILE_INFO => FileInfoReply::decode(part).map(|_| ()),
                cmd::UPLOAD_FILE | cmd::UPLOAD_APPENDER_FILE | cmd::UPLOAD_SLAVE_FILE
                    if cut <= 16 =>
                {
                    UploadReply::decode(part).map(|_| ())
                }
                _ => continue,
            };
            assert!(r.is_err(), "{} cut at {cut} decoded", p.name);
            n += 1;
        }
        // and a body that disagrees with its header
        let hh = Header::reply(0, rbody.len() as u64 + 1);
        if let Some(max) = proto::max_reply_body(h.cmd) {
            if h.cmd != cmd::DOWNLOAD_FILE && hh.body_len <= max {
                assert!(proto::check_body_len(&hh, &rbody).is_err());
            }
        }
    }
    assert!(n > 1000, "{n}");
    // truncated requests
    assert!(TrackerClusterStatRequest::decode(&[0, 0]).is_err());
    assert!(QueryStoreWithGroupOne::decode(b"abc").is_err());
    assert!(DownloadRequest::decode(&[0; 31]).is_err());
    assert!(FetchStorageIds::decode(&[0; 3]).is_err());
    assert!(ReportServerId::decode(&[0; 15]).is_err());
    assert!(Header::decode_slice(&[0; 9]).is_err());
}

#[test]
fn wrong_command_is_an_error() {
    let fr = ActiveTest.to_frame();
    let h = Header::decode_slice(&fr).unwrap();
    assert!(matches!(
        h.expect_reply(0),
        Err(ProtoError::UnexpectedCmd {
            expected: 100,
            got: 111
        })
    ));
    assert!(EmptyReply::decode_reply(&h, &[]).is_err());
    assert!(DeleteFile::decode_request(&h, &[]).is_err());
    let up = Header::new(cmd::DELETE_FILE, 15);
    assert!(UploadRequest::decode_prefix_checked(&up, &[0; 15]).is_err());
    assert!(SyncCreateFile::decode_prefix(cmd::UPLOAD_FILE, &[0; 60]).is_err());
    // error status with the right command
    let e = Header::reply(status::ENOENT, 0);
    assert_eq!(
        StoreServer::decode_reply(&e, &[]),
        Err(ProtoError::Status { status: 2 })
    );
    assert_eq!(status::errno_name(e.status), "ENOENT");
    assert!(ProtoError::Status { status: 2 }
        .to_string()
        .contains("ENOENT"));
}

#[test]
fn garbage_is_an_error() {
    let g = [0xffu8; 40];
    assert!(StoreServer::decode(&g).is_err(), "port out of range");
    assert!(FetchServer::decode(&[0u8; 39]).is_err(), "empty group");
    assert!(GroupStats::decode(&[0u8; 114]).is_err());
    assert!(StorageStats::decode(&[0u8; 488]).is_err());
    assert!(TrackerClusterStat::decode(&[5u8; 91]).is_err());
    assert!(FileInfoReply::decode(&[0u8; 41]).is_err());
    assert!(EmptyReply::decode(&[0]).is_err());
    assert!(StorageIds::decode(&[0, 0, 0, 1, 0, 0, 0, 2]).is_err());
    assert!(MetaOp::from_byte(b'X').is_err());
    assert!(UploadReply::decode(&[0u8; 16]).is_err());
    assert!(UploadReply::decode(&[b'g'; 16 + 129]).is_err());
}

// ---------------------------------------------------------------------------------------------
// no panics on random and mutated input

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn decode_everything(cmd_byte: u8, b: &[u8]) {
    let _ = Header::decode_slice(b).map(|h| {
        let _ = h.expect_reply(1 << 20);
        let _ = h.expect_request(cmd_byte, 1 << 20);
    });
    let _ = ActiveTest::decode(b);
    let _ = QueryStoreWithGroupOne::decode(b);
    let _ = QueryFetchOne::decode(b);
    let _ = ListStorage::decode(b);
    let _ = DeleteStorage::decode(b);
    let _ = TrackerClusterStatRequest::decode(b);
    let _ = FetchStorageIds::decode(b);
    let _ = DownloadRequest::decode(b);
    let _ = SetMetadataRequest::decode(b);
    let _ = QueryFileInfo::decode(b);
    let _ = TruncateRequest::decode(b);
    let _ = RegenerateAppenderFilename::decode(b);
    let _ = ReportServerId::decode(b);
    let _ = SyncDeleteFile::decode(b);
    let _ = SyncRenameFile::decode(b);
    let _ = SyncTruncateFile::decode(b);
    let _ = StoreServer::decode(b);
    let _ = StoreServers::decode(b);
    let _ = FetchServer::decode(b);
    let _ = FetchServers::decode(b);
    let _ = GroupStat::decode(b);
    let _ = GroupStats::decode(b);
    let _ = StorageStats::decode(b);
    let _ = TrackerClusterStat::decode(b).map(|t| {
        for x in &t.trackers {
            let _ = x.host.text();
        }
    });
    let _ = LeaderReply::decode(b).map(|l| {
        let _ = l.host_port();
    });
    let _ = StorageParameters::decode(b).map(|p| {
        let _ = p.get("store_path");
    });
    let _ = StorageIds::decode(b).map(|s| s.entries());
    let _ = UploadReply::decode(b);
    let _ = Metadata::decode(b);
    let _ = FileInfoReply::decode(b);
    let _ = UploadRequest::decode_prefix(cmd_byte, b);
    let _ = UploadSlaveRequest::decode_prefix(cmd_byte, b);
    let _ = UploadSlaveRequest::prefix_len_from_fixed(b);
    let _ = AppendRequest::decode_prefix(cmd_byte, b);
    let _ = AppendRequest::prefix_len_from_fixed(b);
    let _ = ModifyRequest::decode_prefix(cmd_byte, b);
    let _ = ModifyRequest::prefix_len_from_fixed(b);
    let _ = SyncCreateFile::decode_prefix(cmd_byte, b);
    let _ = SyncCreateFile::prefix_len_from_fixed(b);
    let _ = SyncModifyFile::decode_prefix(cmd_byte, b);
    let _ = SyncModifyFile::prefix_len_from_fixed(b);
    let mut r = Reader::new(b, "fuzz");
    let _ = stat::StorageStat::read(&mut r, AddrWidth::V6);
}

#[test]
fn header_roundtrips_any_bytes() {
    let mut rng = XorShift(7);
    for _ in 0..10_000 {
        let mut b = [0u8; HEADER_LEN];
        for x in b.iter_mut() {
            *x = rng.next() as u8;
        }
        let h = Header::decode(&b);
        assert_eq!(h.encode(), b);
        let ok = h.expect_reply(1000).is_ok();
        assert_eq!(
            ok,
            h.cmd == cmd::RESP && h.status == 0 && h.body_len <= 1000
        );
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let cmds = [
        cmd::UPLOAD_FILE,
        cmd::UPLOAD_APPENDER_FILE,
        cmd::UPLOAD_SLAVE_FILE,
        cmd::APPEND_FILE,
        cmd::MODIFY_FILE,
        cmd::SYNC_CREATE_FILE,
        cmd::SYNC_APPEND_FILE,
        cmd::RESP,
    ];
    for i in 0..20_000u32 {
        let len = (rng.next() % 600) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // bias towards small length fields so the deeper paths run too
        if i % 3 == 0 && b.len() >= 16 {
            b[..7].fill(0);
            b[8..15].fill(0);
        }
        decode_everything(cmds[i as usize % cmds.len()], &b);
    }
}

#[test]
fn mutated_vectors_never_panic() {
    let probes = load_probes(&vectors_dir());
    let mut rng = XorShift(42);
    for p in &probes {
        for hx in [&p.request_hex, &p.response_body_hex] {
            let orig = unhex(hx);
            let c = orig.get(8).copied().unwrap_or(0);
            for _ in 0..200 {
                let mut b = orig.clone();
                match rng.next() % 3 {
                    0 if !b.is_empty() => {
                        let i = (rng.next() as usize) % b.len();
                        b[i] ^= 1 << (rng.next() % 8);
                    }
                    1 => b.truncate((rng.next() as usize) % (b.len() + 1)),
                    _ => b.push(rng.next() as u8),
                }
                decode_everything(c, &b);
                if b.len() > HEADER_LEN {
                    decode_everything(c, &b[HEADER_LEN..]);
                }
            }
        }
    }
}
