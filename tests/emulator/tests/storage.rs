//! Storage commands over real sockets against a started cluster.

mod common;

use common::{bytes, mode, start_cluster, upload, Conn, LONG};
use fdfs_client::file_id::{FileId, FileKind, Source};
use fdfs_client::proto::{
    self, status, AppendRequest, DeleteFile, DownloadRequest, GetMetadata, MetaOp, Metadata,
    ModifyRequest, QueryFileInfo, RegenerateAppenderFilename, SetMetadataRequest, TruncateRequest,
    UploadReply, UploadRequest, UploadSlaveRequest,
};
use fdfs_emu::{Cluster, StorageInfo};

fn download(c: &mut Conn, group: &str, name: &str, offset: u64, n: u64) -> (u8, Vec<u8>) {
    c.call(&DownloadRequest {
        offset,
        bytes: n,
        group: group.into(),
        filename: name.into(),
    })
}

fn one() -> (Cluster, StorageInfo) {
    common::init_log();
    let c = start_cluster(|b| b);
    let s = c.storages()[0].clone();
    (c, s)
}

#[test]
fn upload_download_delete_normal_file() {
    let (cluster, s) = one();
    let mut c = Conn::connect(s.addr());
    let data = bytes(10 * 1024, 1);
    let r = upload(&mut c, &data, "jpg", false);
    assert_eq!(r.group, "group1");
    assert_eq!(r.filename.len(), 44, "{}", r.filename);
    assert!(r.filename.starts_with("M00/00/00/"));
    assert!(r.filename.ends_with(".jpg"));

    // The id decodes the FastDFS way: source ip, size, crc32.
    let id = FileId::parse(&r.file_id()).unwrap();
    let info = id.decode().unwrap();
    assert_eq!(info.source, Source::Ip(s.ip));
    assert_eq!(info.kind, FileKind::Normal);
    assert_eq!(info.file_size(), Some(10 * 1024));
    assert!(info.size_field.has_random_marker());
    assert_eq!(info.crc32, crc32fast::hash(&data));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((info.timestamp - now).abs() < 120);

    // It lies where FastDFS puts it, readable by others.
    let path = s.store_path().join("data").join(id.logic().true_name());
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(mode(&path), 0o644);
    assert_eq!(mode(path.parent().unwrap()), 0o755);
    assert_eq!(cluster.file_path(&s, &r.file_id()).unwrap(), path);
    assert!(cluster.has_file(&s, &r.file_id()));

    // Whole, range, tail.
    assert_eq!(
        download(&mut c, "group1", &r.filename, 0, 0),
        (0, data.clone())
    );
    assert_eq!(
        download(&mut c, "group1", &r.filename, 100, 50),
        (0, data[100..150].to_vec())
    );
    assert_eq!(
        download(&mut c, "group1", &r.filename, 10_000, 0),
        (0, data[10_000..].to_vec())
    );
    // A length past the end is cut to what remains (a real 6.16 storage does).
    assert_eq!(
        download(&mut c, "group1", &r.filename, 10_000, 1000),
        (0, data[10_000..].to_vec())
    );
    // Errors as FastDFS: offset at or beyond the size, wrong group -> EINVAL.
    assert_eq!(
        download(&mut c, "group1", &r.filename, 20_000, 0).0,
        status::EINVAL
    );
    c.reopen_after_einval();
    assert_eq!(
        download(&mut c, "group1", &r.filename, 10 * 1024, 0).0,
        status::EINVAL
    );
    c.reopen_after_einval();
    assert_eq!(
        download(&mut c, "group2", &r.filename, 0, 0).0,
        status::EINVAL
    );
    c.reopen_after_einval();

    // Delete, delete again, download deleted.
    let del = DeleteFile::new("group1", r.filename.clone());
    assert_eq!(c.call(&del).0, 0);
    assert!(!path.exists());
    assert_eq!(c.call(&del).0, status::ENOENT);
    assert_eq!(
        download(&mut c, "group1", &r.filename, 0, 0).0,
        status::ENOENT
    );
    assert_eq!(
        c.call(&QueryFileInfo {
            group: "group1".into(),
            filename: r.filename.clone(),
            flags: 0
        })
        .0,
        status::ENOENT
    );
}

#[test]
fn dotted_extension_as_a_real_storage() {
    // Issue 9 item 19: `fdfs_upload_file x.tar.gz` sends the 6-byte extension `tar.gz`; a real
    // 6.16 storage stores it as `<27 chars>.tar.gz` (no random digits left). It was EINVAL here.
    let (_cluster, s) = one();
    let mut c = Conn::connect(s.addr());
    let r = upload(&mut c, b"gzip bytes", "tar.gz", false);
    assert!(r.filename.ends_with(".tar.gz"), "{}", r.filename);
    assert_eq!(r.filename.len(), 44, "{}", r.filename);
    let id = FileId::parse(&format!("{}/{}", r.group, r.filename)).unwrap();
    assert_eq!(id.decode().unwrap().ext(), "tar.gz");
    assert_eq!(
        download(&mut c, &r.group, &r.filename, 0, 0),
        (0, b"gzip bytes".to_vec())
    );
    let r3 = upload(&mut c, b"x", "a.b", false);
    assert!(r3.filename.ends_with(".a.b"), "{}", r3.filename);
    // A slave may carry a dotted extension too; a bad one is EINVAL like an upload's.
    let slave = UploadSlaveRequest {
        master_filename: r.filename.clone(),
        prefix: "_s".into(),
        ext: "tar.xz".into(),
        file_size: 1,
    };
    let (st, body) = c.stream(&slave, b"s");
    assert_eq!(st, 0);
    let sr = UploadReply::decode(&body).unwrap();
    assert!(sr.filename.ends_with("_s.tar.xz"), "{}", sr.filename);
    let bad = UploadSlaveRequest {
        ext: "a+b".into(),
        ..slave
    };
    assert_eq!(c.stream(&bad, b"s").0, status::EINVAL);
}

#[test]
fn no_extension_large_and_empty_uploads() {
    let (_cluster, s) = one();
    let mut c = Conn::connect(s.addr());
    // No extension: 7 random digits.
    let r = upload(&mut c, b"abcd", "", false);
    let tail = &r.filename[r.filename.len() - 7..];
    assert!(tail.bytes().all(|b| b.is_ascii_digit()), "{}", r.filename);
    // 6-char extension: "." + ext.
    let r6 = upload(&mut c, b"abcd", "tar_gz", false);
    assert!(r6.filename.ends_with(".tar_gz"));
    // Empty file: stored, but a real 6.16 storage refuses to download it (offset 0 is not below
    // the size): EINVAL.
    let r0 = upload(&mut c, b"", "txt", false);
    assert_eq!(
        download(&mut c, "group1", &r0.filename, 0, 0),
        (status::EINVAL, Vec::new())
    );
    c.reopen_after_einval();
    // 20 MiB streams through.
    let big = bytes(20 << 20, 7);
    let rb = upload(&mut c, &big, "bin", false);
    let (st, got) = download(&mut c, "group1", &rb.filename, 0, 0);
    assert_eq!(st, 0);
    assert!(got == big, "20 MiB round trip differs");
    // Store path 255 = storage chooses; an index it does not have = EINVAL.
    let req = UploadRequest {
        store_path_index: 255,
        file_size: 4,
        ext: String::new(),
        appender: false,
    };
    assert_eq!(c.stream(&req, b"abcd").0, 0);
    let req = UploadRequest {
        store_path_index: 3,
        ..req
    };
    assert_eq!(c.stream(&req, b"abcd").0, status::EINVAL);
    c.reopen_after_einval();
    // Extensions as a real 6.16 storage checks them: letters, digits, '-', '_', '.'; anything
    // else is EINVAL.
    let bad_ext = UploadRequest {
        store_path_index: 255,
        ext: "a+b".into(),
        ..req
    };
    assert_eq!(c.stream(&bad_ext, b"abcd").0, status::EINVAL);
    c.reopen_after_einval();
    // A new connection works after the close.
    assert_eq!(c.cmd(proto::cmd::ACTIVE_TEST, &[]).0, 0);
}

#[test]
fn metadata_overwrite_merge_and_file() {
    let (_cluster, s) = one();
    let mut c = Conn::connect(s.addr());
    let r = upload(&mut c, b"hello", "txt", false);
    let get = GetMetadata::new("group1", r.filename.clone());
    // No metadata yet: ENOENT, as a real 6.16 storage answers (checked against one).
    assert_eq!(c.call(&get), (status::ENOENT, Vec::new()));
    let set = |op, pairs: &[(&str, &str)]| SetMetadataRequest {
        group: "group1".into(),
        filename: r.filename.clone(),
        op,
        meta: Metadata::new(pairs.iter().copied()),
    };
    assert_eq!(
        c.call(&set(MetaOp::Overwrite, &[("a", "b"), ("width", "160")]))
            .0,
        0
    );
    assert_eq!(c.call(&get), (0, b"a\x02b\x01width\x02160".to_vec()));
    assert_eq!(c.call(&set(MetaOp::Merge, &[("c", "dd")])).0, 0);
    // Same bytes as raw_probe "GET_METADATA after merge".
    let (st, body) = c.call(&get);
    assert_eq!(st, 0);
    assert_eq!(hex(&body), "610262016302646401776964746802313630");
    // The -m file holds the same bytes.
    let id = FileId::parse(&r.file_id()).unwrap();
    let meta_file = s
        .store_path()
        .join("data")
        .join(format!("{}-m", id.logic().true_name()));
    assert_eq!(std::fs::read(&meta_file).unwrap(), body);
    assert_eq!(mode(&meta_file), 0o644);

    // raw_probe: meta_size field 5 with 4 meta bytes -> EINVAL.
    let mut bad = set(MetaOp::Merge, &[("c", "dd")]).encode();
    bad[15] = 5;
    assert_eq!(c.cmd(proto::cmd::SET_METADATA, &bad).0, status::EINVAL);
    c.reopen_after_einval();
    // Missing file.
    let mut missing = set(MetaOp::Merge, &[("c", "dd")]);
    missing.filename = r.filename.replace("M00/00/00/", "M00/00/01/");
    assert_eq!(c.call(&missing).0, status::ENOENT);
    let mut get_missing = get.clone();
    get_missing.filename = missing.filename.clone();
    assert_eq!(c.call(&get_missing).0, status::ENOENT);
}

#[test]
fn appender_append_modify_truncate_regenerate() {
    let (_cluster, s) = one();
    let mut c = Conn::connect(s.addr());
    let r = upload(&mut c, b"hello world\n", "txt", true);
    let info = FileId::parse(&r.file_id()).unwrap().decode().unwrap();
    assert_eq!(info.kind, FileKind::Appender);
    let name = r.filename.clone();

    let append = AppendRequest {
        filename: name.clone(),
        file_size: 6,
    };
    assert_eq!(c.stream(&append, b"again\n").0, 0);
    let modify = ModifyRequest {
        filename: name.clone(),
        offset: 0,
        file_size: 5,
    };
    assert_eq!(c.stream(&modify, b"HELLO").0, 0);
    // raw_probe: offset beyond size -> EINVAL.
    let beyond = ModifyRequest {
        filename: name.clone(),
        offset: 100,
        file_size: 1,
    };
    assert_eq!(c.stream(&beyond, b"X").0, status::EINVAL);
    c.reopen_after_einval();
    assert_eq!(
        download(&mut c, "group1", &name, 0, 0),
        (0, b"HELLO world\nagain\n".to_vec())
    );
    // QUERY_FILE_INFO of an appender: real size and crc32 of the content (raw_probe values).
    let (st, body) = c.call(&QueryFileInfo {
        group: "group1".into(),
        filename: name.clone(),
        flags: 0,
    });
    assert_eq!(st, 0);
    assert_eq!(body.len(), 40);
    assert_eq!(hex(&body[..8]), "0000000000000012");
    assert_eq!(hex(&body[16..24]), "ffffffffdd6703c3");
    assert_eq!(&body[24..34], b"127.0.0.11");
    let fi = proto::FileInfoReply::decode(&body).unwrap();
    assert_eq!(fi.create_timestamp as i64, info.timestamp);

    let trunc = TruncateRequest {
        filename: name.clone(),
        truncated_size: 5,
    };
    assert_eq!(c.call(&trunc).0, 0);
    assert_eq!(
        download(&mut c, "group1", &name, 0, 0),
        (0, b"HELLO".to_vec())
    );
    // Checked against a real 6.16 storage: truncating past the end extends the file with zeros...
    let grow = TruncateRequest {
        filename: name.clone(),
        truncated_size: 8,
    };
    assert_eq!(c.call(&grow), (0, Vec::new()));
    assert_eq!(
        download(&mut c, "group1", &name, 0, 0),
        (0, b"HELLO\0\0\0".to_vec())
    );
    // ... and truncating to the current size answers status 0 with the request body echoed back.
    assert_eq!(c.call(&grow), (0, grow.encode()));
    assert_eq!(c.call(&trunc), (0, Vec::new()));

    // Appending to / modifying / truncating a normal file: EINVAL (a real 6.16 storage); a missing
    // file: ENOENT first.
    let normal = upload(&mut c, b"abc", "txt", false);
    // Each sends its request for `filename` and returns the reply status.
    type SendFor = fn(&mut Conn, String) -> u8;
    let refused: [(&str, SendFor); 3] = [
        ("append", |c, filename| {
            c.stream(
                &AppendRequest {
                    filename,
                    file_size: 1,
                },
                b"x",
            )
            .0
        }),
        ("modify", |c, filename| {
            let req = ModifyRequest {
                filename,
                offset: 0,
                file_size: 1,
            };
            c.stream(&req, b"x").0
        }),
        ("truncate", |c, filename| {
            c.call(&TruncateRequest {
                filename,
                truncated_size: 0,
            })
            .0
        }),
    ];
    for (what, send) in refused {
        let st = send(&mut c, normal.filename.clone());
        assert_eq!(st, status::EINVAL, "{what} on a normal file");
        c.reopen_after_einval();
    }
    let gone = AppendRequest {
        filename: normal.filename.replace("M00/00/00/", "M00/00/01/"),
        file_size: 1,
    };
    assert_eq!(c.stream(&gone, b"x").0, status::ENOENT);

    // Regenerate: a normal name with the same formatted extension; the old name is gone.
    let (st, body) = c.call(&RegenerateAppenderFilename {
        filename: name.clone(),
    });
    assert_eq!(st, 0);
    let rr = UploadReply::decode(&body).unwrap();
    assert_eq!(rr.group, "group1");
    assert_ne!(rr.filename, name);
    assert_eq!(
        &rr.filename[rr.filename.len() - 7..],
        &name[name.len() - 7..]
    );
    let ninfo = FileId::parse(&rr.file_id()).unwrap().decode().unwrap();
    assert_eq!(ninfo.kind, FileKind::Normal);
    assert_eq!(ninfo.file_size(), Some(5));
    assert_eq!(ninfo.crc32, crc32fast::hash(b"HELLO"));
    assert_eq!(
        download(&mut c, "group1", &rr.filename, 0, 0),
        (0, b"HELLO".to_vec())
    );
    assert_eq!(download(&mut c, "group1", &name, 0, 0).0, status::ENOENT);
    // A normal file cannot be regenerated.
    let (st, _) = c.call(&RegenerateAppenderFilename {
        filename: rr.filename.clone(),
    });
    assert_ne!(st, 0);
}

#[test]
fn slave_files() {
    let (_cluster, s) = one();
    let mut c = Conn::connect(s.addr());
    let master = upload(&mut c, &bytes(4096, 3), "jpg", false);
    let slave_data = bytes(1000, 4);
    let req = UploadSlaveRequest {
        master_filename: master.filename.clone(),
        file_size: 1000,
        prefix: "_big".into(),
        ext: "jpg".into(),
    };
    let (st, body) = c.stream(&req, &slave_data);
    assert_eq!(st, 0);
    let sr = UploadReply::decode(&body).unwrap();
    let stem = &master.filename[..master.filename.len() - 4];
    assert_eq!(sr.filename, format!("{stem}_big.jpg"));
    let info = FileId::parse(&sr.file_id()).unwrap().decode().unwrap();
    assert_eq!(info.kind, FileKind::Slave);
    assert_eq!(
        download(&mut c, "group1", &sr.filename, 0, 0),
        (0, slave_data.clone())
    );
    // File info of a slave: its own size and crc, the master's timestamp and source.
    let (st, body) = c.call(&QueryFileInfo {
        group: "group1".into(),
        filename: sr.filename.clone(),
        flags: 0,
    });
    assert_eq!(st, 0);
    let fi = proto::FileInfoReply::decode(&body).unwrap();
    assert_eq!(fi.file_size, 1000);
    assert_eq!(fi.crc32, crc32fast::hash(&slave_data));
    assert_eq!(fi.source_ip, "127.0.0.11");
    // Same slave again: EEXIST; missing master: ENOENT.
    assert_eq!(c.stream(&req, &slave_data).0, status::EEXIST);
    let orphan = UploadSlaveRequest {
        master_filename: master.filename.replace("M00/00/00/", "M00/00/02/"),
        ..req.clone()
    };
    assert_eq!(c.stream(&orphan, &slave_data).0, status::ENOENT);
    // No ext: the master's is kept.
    let no_ext = UploadSlaveRequest {
        prefix: "_s".into(),
        ext: String::new(),
        file_size: 2,
        ..req
    };
    let (st, body) = c.stream(&no_ext, b"xy");
    assert_eq!(st, 0);
    assert_eq!(
        UploadReply::decode(&body).unwrap().filename,
        format!("{stem}_s.jpg")
    );
}

#[test]
fn bad_requests_and_pipelining() {
    let (_cluster, s) = one();
    let mut c = Conn::connect(s.addr());
    // Unknown command -> EINVAL (raw_probe "storage unknown cmd 250").
    let (h, b) = c.raw(&hex_bytes("0000000000000000fa00"));
    assert_eq!((h.status, b.len()), (status::EINVAL, 0));
    c.reopen_after_einval();
    // ACTIVE_TEST.
    let (h, _) = c.raw(&hex_bytes("00000000000000006f00"));
    assert_eq!(h.status, 0);
    // Malformed names.
    for bad in [
        "M00/00/00/../../../etc/passwd",
        "M09/00/00/abc",
        "nonsense",
        "",
    ] {
        let (st, _) = download(&mut c, "group1", bad, 0, 0);
        assert!(st == status::EINVAL || st == status::ENOENT, "{bad}: {st}");
        if st == status::EINVAL {
            c.reopen_after_einval();
        }
    }
    // Several requests in one write are answered in order.
    let mut frame = proto::ActiveTest.to_frame_vec();
    frame.extend(proto::ActiveTest.to_frame_vec());
    let (h1, _) = c.raw(&frame);
    let (h2, _) = c.read_reply();
    assert_eq!((h1.status, h2.status), (0, 0));
    // A huge declared body is refused and the connection closed.
    let (h, _) = c.raw(&proto::Header::new(proto::cmd::GET_METADATA, 1 << 40).encode());
    assert_eq!(h.status, status::EINVAL);
}

trait FrameVec {
    fn to_frame_vec(&self) -> Vec<u8>;
}
impl<R: proto::Request> FrameVec for R {
    fn to_frame_vec(&self) -> Vec<u8> {
        self.to_frame()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn two_store_paths() {
    let cluster = start_cluster(|b| b.store_path_count(2));
    let s = &cluster.storages()[0];
    assert_eq!(s.store_paths.len(), 2);
    let mut c = Conn::connect(s.addr());
    let req = UploadRequest {
        store_path_index: 1,
        file_size: 3,
        ext: "txt".into(),
        appender: false,
    };
    let (st, body) = c.stream(&req, b"abc");
    assert_eq!(st, 0);
    let r = UploadReply::decode(&body).unwrap();
    assert!(r.filename.starts_with("M01/"), "{}", r.filename);
    let p = cluster.file_path(s, &r.file_id()).unwrap();
    assert!(p.starts_with(&s.store_paths[1]));
    assert_eq!(std::fs::read(p).unwrap(), b"abc");
    let _ = LONG;
}
