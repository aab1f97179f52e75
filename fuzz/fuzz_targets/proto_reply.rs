//! Reply decoding, as a client does it: the 10-byte header checked with `expect_reply` against
//! `max_reply_body(request command)` before the body is touched, then the reply type of that
//! command decoded from the body. Every reply type's `decode` is also run on the body directly.
//! Nothing here may panic; whatever decodes must survive encode + decode unchanged.
//!
//! Input: `[request cmd][flags][header 10][body...]`. With `flags & 1` the header's `body_len` is
//! replaced by the real body length (so most inputs get past the length check).
#![no_main]

use std::fmt::Debug;

use fdfs_client::proto::{
    self, check_body_len, cmd, max_reply_body, DownloadReply, EmptyReply, FetchServer,
    FetchServers, FileInfoReply, GroupStat, GroupStats, Header, LeaderReply, Metadata, Reply,
    StorageClusterStat, StorageIds, StorageParameters, StorageStats, StoreServer, StoreServers,
    TrackerClusterStat, UploadReply, VolumeStats, HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

/// Decodes `body` as `T`; whatever decodes must encode to bytes that decode and re-encode to
/// themselves (a fixed point; not `decode(encode(v)) == v`, since a few decoded values have no
/// encoding of their own). Text fields are decoded lossily (invalid UTF-8 becomes U+FFFD), so
/// only lossless values are checked.
fn direct<T: Reply + Debug>(body: &[u8]) {
    let Ok(v) = T::decode(body) else { return };
    if format!("{v:?}").contains('\u{fffd}') {
        return;
    }
    let bytes = v.encode();
    match T::decode(&bytes) {
        Ok(again) => assert_eq!(again.encode(), bytes, "{}", std::any::type_name::<T>()),
        Err(e) => panic!("{} re-decode failed: {e}", std::any::type_name::<T>()),
    }
}

/// The client path: header check against the bound for the request, then `decode_reply`.
fn client<T: Reply + Debug>(h: &Header, body: &[u8], bound: u64) {
    assert!(T::MAX_BODY <= bound || bound == i64::MAX as u64);
    if let Ok(v) = T::decode_reply(h, body) {
        // decode_reply only succeeds on a RESP, status 0, length-consistent, bounded frame.
        assert!(h.is_ok());
        assert_eq!(h.body_len, body.len() as u64);
        assert!(h.body_len <= T::MAX_BODY);
        let _ = format!("{v:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 + HEADER_LEN {
        return;
    }
    let (req_cmd, flags) = (data[0], data[1]);
    let Ok(mut h) = Header::decode_slice(&data[2..]) else {
        return;
    };
    let body = &data[2 + HEADER_LEN..];
    if flags & 1 != 0 {
        h.body_len = body.len() as u64;
    }
    // Header round trip and checks.
    assert_eq!(Header::decode(&h.encode()), h);
    let _ = check_body_len(&h, body);
    let _ = h.expect_request(req_cmd, 1024);
    let _ = proto::status::describe(h.status);
    let _ = proto::status::errno_name(h.status);
    let _ = cmd::name_or_unknown(req_cmd);

    if let Some(bound) = max_reply_body(req_cmd) {
        match h.expect_reply(bound) {
            Ok(()) => assert!(h.body_len <= bound && h.is_ok()),
            Err(e) => {
                let _ = e.to_string();
            }
        }
        use cmd::*;
        match req_cmd {
            QUERY_STORE_WITHOUT_GROUP_ONE | QUERY_STORE_WITH_GROUP_ONE => {
                client::<StoreServer>(&h, body, bound)
            }
            QUERY_STORE_WITHOUT_GROUP_ALL | QUERY_STORE_WITH_GROUP_ALL => {
                client::<StoreServers>(&h, body, bound)
            }
            QUERY_FETCH_ONE | QUERY_UPDATE => client::<FetchServer>(&h, body, bound),
            QUERY_FETCH_ALL => client::<FetchServers>(&h, body, bound),
            SERVER_LIST_ONE_GROUP => client::<GroupStat>(&h, body, bound),
            SERVER_LIST_ALL_GROUPS => client::<GroupStats>(&h, body, bound),
            SERVER_LIST_STORAGE => client::<StorageStats>(&h, body, bound),
            SERVER_GET_LEADER => client::<LeaderReply>(&h, body, bound),
            SERVER_TRACKER_CLUSTER_STAT => client::<TrackerClusterStat>(&h, body, bound),
            SERVER_STORAGE_CLUSTER_STAT => client::<StorageClusterStat>(&h, body, bound),
            SERVER_STORAGE_VOLUMN_STAT => client::<VolumeStats>(&h, body, bound),
            STORAGE_PARAMETER_REQ => client::<StorageParameters>(&h, body, bound),
            STORAGE_FETCH_STORAGE_IDS => client::<StorageIds>(&h, body, bound),
            UPLOAD_FILE
            | UPLOAD_APPENDER_FILE
            | UPLOAD_SLAVE_FILE
            | REGENERATE_APPENDER_FILENAME => client::<UploadReply>(&h, body, bound),
            DOWNLOAD_FILE => client::<DownloadReply>(&h, body, bound),
            GET_METADATA => client::<Metadata>(&h, body, bound),
            QUERY_FILE_INFO => client::<FileInfoReply>(&h, body, bound),
            _ => client::<EmptyReply>(&h, body, bound),
        }
    }

    direct::<EmptyReply>(body);
    direct::<StoreServer>(body);
    direct::<StoreServers>(body);
    direct::<FetchServer>(body);
    direct::<FetchServers>(body);
    direct::<GroupStat>(body);
    direct::<GroupStats>(body);
    direct::<StorageStats>(body);
    direct::<LeaderReply>(body);
    direct::<TrackerClusterStat>(body);
    direct::<StorageClusterStat>(body);
    direct::<VolumeStats>(body);
    direct::<StorageParameters>(body);
    direct::<StorageIds>(body);
    direct::<UploadReply>(body);
    direct::<Metadata>(body);
    direct::<FileInfoReply>(body);
    // Accessors on decoded values that derive more from the bytes.
    if let Ok(l) = LeaderReply::decode(body) {
        let _ = l.host_port();
    }
    // The one storage-id parser (also behind StorageIdsConf) on the reply text.
    if let Ok(ids) = StorageIds::decode(body) {
        match ids.entries() {
            Ok(entries) => {
                for e in entries {
                    assert!((1..=0xFF_FFFF).contains(&e.id));
                    assert!(!e.addrs.is_empty());
                    let _ = (e.first_ip(), e.option("rw"));
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let Ok(p) = StorageParameters::decode(body) {
        let _ = p.pairs().count();
        let _ = p.get("storage_sync_file_max_delay");
    }
    if let Ok(u) = UploadReply::decode(body) {
        let _ = u.file_id();
    }
    if let Ok(m) = Metadata::decode(body) {
        let _ = (m.get("width"), m.encoded_len(), m.is_empty());
    }
    if let Ok(s) = StorageStats::decode(body) {
        for st in &s.storages {
            let _ = proto::stat::storage_status::name(st.status);
            let _ = proto::stat::rw_mode_name(st.rw_mode);
        }
    }
});
