//! Request decoding, as a server (the emulator) does it: the header checked with
//! `expect_request` against `max_request_body`, then the request type decoded; stream requests
//! (uploads, append, modify, sync) through `prefix_len_from_fixed` + `decode_prefix_checked`.
//! Nothing here may panic; whatever decodes must survive encode + decode unchanged.
//!
//! Input: `[cmd][flags][len 8][body...]`. With `flags & 1` the header's `body_len` is the real
//! body length, else the 8 bytes (big endian) are used as the declared length.
#![no_main]

use std::fmt::Debug;

use fdfs_client::proto::{
    is_stream_request, max_request_body, ActiveTest, AppendRequest, DeleteFile, DeleteStorage,
    DownloadRequest, FetchStorageIds, GetLeader, GetMetadata, Header, ListAllGroups, ListOneGroup,
    ListStorage, ModifyRequest, QueryFetchAll, QueryFetchOne, QueryFileInfo,
    QueryStoreWithGroupAll, QueryStoreWithGroupOne, QueryStoreWithoutGroupAll,
    QueryStoreWithoutGroupOne, QueryUpdate, Quit, RegenerateAppenderFilename, ReportServerId,
    Request, SetMetadataRequest, StorageClusterStatRequest, StorageParameterReq, StreamPrefix,
    SyncCreateFile, SyncDeleteFile, SyncModifyFile, SyncRenameFile, SyncTruncateFile,
    TrackerClusterStatRequest, TruncateRequest, UploadRequest, UploadSlaveRequest,
    VolumeStatRequest,
};
use libfuzzer_sys::fuzz_target;

fn lossless<T: Debug>(v: &T) -> bool {
    !format!("{v:?}").contains('\u{fffd}')
}

fn request<T: Request + Debug>(h: &Header, body: &[u8]) {
    if let Ok(v) = T::decode(body) {
        if lossless(&v) {
            // Encoding is a fixed point: what was encoded decodes and encodes to the same bytes.
            // (Not `decode(encode(v)) == v`: some decoded values have no encoding of their own,
            // e.g. LIST_STORAGE with an all-NUL storage id decodes to `Some("")`, which encodes
            // like `None`, as the C client sends it.)
            let bytes = v.encode();
            match T::decode(&bytes) {
                Ok(again) => assert_eq!(again.encode(), bytes, "{}", std::any::type_name::<T>()),
                Err(e) => panic!("{} re-decode failed: {e}", std::any::type_name::<T>()),
            }
            // A frame built from a decoded request passes the server checks.
            let frame = v.to_frame();
            if let Ok(fh) = Header::decode_slice(&frame) {
                assert_eq!(fh.cmd, T::CMD);
                let _ = T::decode_request(&fh, &frame[10..]);
            }
        }
    }
    if h.cmd == T::CMD {
        if let Ok(v) = T::decode_request(h, body) {
            assert!(h.body_len <= T::MAX_BODY);
            let _ = v.header_status();
        }
    }
}

fn stream<T: StreamPrefix + Debug>(h: &Header, body: &[u8]) {
    if body.len() >= T::FIXED_LEN {
        if let Ok(n) = T::prefix_len_from_fixed(&body[..T::FIXED_LEN]) {
            assert!(
                n >= T::FIXED_LEN && n <= T::MAX_PREFIX,
                "prefix_len_from_fixed {n}"
            );
        }
    }
    if let Ok((v, n)) = T::decode_prefix(h.cmd, body) {
        assert!(n <= body.len());
        // Names are decoded lossily: a non-UTF-8 name becomes longer (U+FFFD is 3 bytes), so
        // `prefix_len()` matches the bytes consumed only for lossless values.
        if lossless(&v) {
            assert_eq!(n, v.prefix_len(), "{}", std::any::type_name::<T>());
            let bytes = v.encode_prefix();
            assert_eq!(bytes.len(), v.prefix_len());
            match T::decode_prefix(v.cmd(), &bytes) {
                Ok((again, m)) => {
                    assert_eq!(m, bytes.len());
                    let again = again.encode_prefix();
                    assert_eq!(again, bytes, "{}", std::any::type_name::<T>());
                }
                Err(e) => panic!("{} re-decode failed: {e}", std::any::type_name::<T>()),
            }
            let _ = v.frame_prefix();
        }
    }
    if let Ok((v, _)) = T::decode_prefix_checked(h, body) {
        assert_eq!(v.body_len(), h.body_len);
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let (c, flags) = (data[0], data[1]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&data[2..10]);
    let body = &data[10..];
    let body_len = if flags & 1 != 0 {
        body.len() as u64
    } else {
        u64::from_be_bytes(len)
    };
    let h = Header::new(c, body_len);
    if let Some(max) = max_request_body(c) {
        let _ = h.expect_request(c, max);
    }
    let _ = is_stream_request(c);

    request::<ActiveTest>(&h, body);
    request::<Quit>(&h, body);
    request::<QueryStoreWithoutGroupOne>(&h, body);
    request::<QueryStoreWithGroupOne>(&h, body);
    request::<QueryStoreWithoutGroupAll>(&h, body);
    request::<QueryStoreWithGroupAll>(&h, body);
    request::<QueryFetchOne>(&h, body);
    request::<QueryUpdate>(&h, body);
    request::<QueryFetchAll>(&h, body);
    request::<ListOneGroup>(&h, body);
    request::<ListAllGroups>(&h, body);
    request::<ListStorage>(&h, body);
    request::<DeleteStorage>(&h, body);
    request::<GetLeader>(&h, body);
    request::<TrackerClusterStatRequest>(&h, body);
    request::<StorageClusterStatRequest>(&h, body);
    request::<VolumeStatRequest>(&h, body);
    request::<StorageParameterReq>(&h, body);
    request::<FetchStorageIds>(&h, body);
    request::<ReportServerId>(&h, body);
    request::<DownloadRequest>(&h, body);
    request::<DeleteFile>(&h, body);
    request::<GetMetadata>(&h, body);
    request::<SetMetadataRequest>(&h, body);
    request::<QueryFileInfo>(&h, body);
    request::<TruncateRequest>(&h, body);
    request::<RegenerateAppenderFilename>(&h, body);
    request::<SyncDeleteFile>(&h, body);
    request::<SyncRenameFile>(&h, body);
    request::<SyncTruncateFile>(&h, body);
    if let Ok(d) = DownloadRequest::decode(body) {
        assert!(d.max_reply_body() >= d.bytes);
    }

    stream::<UploadRequest>(&h, body);
    stream::<UploadSlaveRequest>(&h, body);
    stream::<AppendRequest>(&h, body);
    stream::<ModifyRequest>(&h, body);
    stream::<SyncCreateFile>(&h, body);
    stream::<SyncModifyFile>(&h, body);
});
