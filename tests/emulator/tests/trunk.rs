//! Trunk mode: small files packed into `data/00/00/000001` with the 24-byte slot header.

mod common;

use common::{bytes, start_cluster, upload, Conn, LONG};
use fdfs_client::file_id::{FileId, FileKind, SlotType, TrunkSlotHeader, TRUNK_HEADER_SIZE};
use fdfs_client::proto::{
    status, DeleteFile, DownloadRequest, GetMetadata, GroupStat, ListOneGroup, MetaOp, Metadata,
    QueryFileInfo, SetMetadataRequest,
};

fn read_at(p: &std::path::Path, off: u64, n: usize) -> Vec<u8> {
    let all = std::fs::read(p).unwrap();
    all[off as usize..off as usize + n].to_vec()
}

#[test]
fn small_files_are_packed_like_fastdfs() {
    common::init_log();
    let c = start_cluster(|b| b.storages_per_group(2).trunk(true));
    let (s1, s2) = (&c.storages()[0], &c.storages()[1]);
    let mut k = Conn::connect(s1.addr());
    // The sizes of vectors/trunk: 1000 -> slot 1024 at 0, 5000 -> 5120 at 1024,
    // 10240 -> 10496 at 6144, 3000 (no ext) -> 3072 at 16640.
    let inputs = [
        (1000usize, "txt"),
        (5000, "jpg"),
        (10240, "jpg"),
        (3000, ""),
    ];
    let expect = [(0u32, 1024u32), (1024, 5120), (6144, 10496), (16640, 3072)];
    let container = s1.store_path().join("data/00/00/000001");
    let mut ids = Vec::new();
    for (i, ((n, ext), (off, alloc))) in inputs.iter().zip(expect).enumerate() {
        let data = bytes(*n, 101 + i as u32);
        let r = upload(&mut k, &data, ext, false);
        assert_eq!(r.filename.len(), 60, "{}", r.filename);
        let id = FileId::parse(&r.file_id()).unwrap();
        let info = id.decode().unwrap();
        assert_eq!(info.kind, FileKind::Trunk);
        assert!(info.size_field.is_trunk() && info.size_field.has_random_marker());
        assert_eq!(info.file_size(), Some(*n as u64));
        assert_eq!(info.crc32, crc32fast::hash(&data));
        let t = info.trunk.unwrap();
        assert_eq!((t.trunk_id, t.offset, t.alloc_size), (1, off, alloc));
        assert_eq!(c.file_path(s1, &r.file_id()).unwrap(), container);
        assert_eq!(std::fs::metadata(&container).unwrap().len(), 4 << 20);
        assert_eq!(common::mode(&container), 0o644);

        // Header bytes: 'F', alloc, size, crc, mtime (= id timestamp), last 7 chars.
        let hb = read_at(&container, u64::from(off), TRUNK_HEADER_SIZE);
        assert_eq!(hb[0], b'F');
        assert_eq!(&hb[1..5], &alloc.to_be_bytes());
        assert_eq!(&hb[5..9], &(*n as u32).to_be_bytes());
        assert_eq!(&hb[9..13], &crc32fast::hash(&data).to_be_bytes());
        assert_eq!(&hb[13..17], &(info.timestamp as u32).to_be_bytes());
        assert_eq!(&hb[17..24], &r.filename.as_bytes()[53..]);
        let h = TrunkSlotHeader::parse(&hb).unwrap();
        assert_eq!(h.validate(&info).unwrap(), SlotType::Regular);
        assert_eq!(read_at(&container, u64::from(off) + 24, *n), data);
        // Padding stays zero.
        let pad = read_at(
            &container,
            u64::from(off) + 24 + *n as u64,
            alloc as usize - 24 - n,
        );
        assert!(pad.iter().all(|&b| b == 0));

        let (st, got) = k.call(&DownloadRequest {
            offset: 10,
            bytes: 0,
            group: "group1".into(),
            filename: r.filename.clone(),
        });
        assert_eq!((st, got), (0, data[10..].to_vec()));
        ids.push((r, data));
    }
    // The group reports the current trunk file id.
    let mut t = Conn::connect(c.trackers()[0]);
    let (_, body) = t.call(&ListOneGroup::new("group1"));
    assert_eq!(GroupStat::decode(&body).unwrap().current_trunk_file_id, 1);

    // Slots replicate to s2 at the same offsets.
    for (r, data) in &ids {
        assert!(c.wait_for_file(s2, &r.file_id(), true, LONG));
        let (st, got) = Conn::connect(s2.addr()).call(&DownloadRequest {
            offset: 0,
            bytes: 0,
            group: "group1".into(),
            filename: r.filename.clone(),
        });
        assert_eq!((st, &got), (0, data));
    }

    // File info comes from the id.
    let (r0, d0) = &ids[0];
    let (st, body) = k.call(&QueryFileInfo {
        group: "group1".into(),
        filename: r0.filename.clone(),
        flags: 0,
    });
    assert_eq!(st, 0);
    let fi = fdfs_client::proto::FileInfoReply::decode(&body).unwrap();
    assert_eq!(
        (fi.file_size, fi.crc32),
        (d0.len() as u64, crc32fast::hash(d0))
    );

    // Metadata on a trunk file.
    let set = SetMetadataRequest {
        group: "group1".into(),
        filename: r0.filename.clone(),
        op: MetaOp::Overwrite,
        meta: Metadata::new([("k", "v")]),
    };
    assert_eq!(k.call(&set).0, 0);
    assert_eq!(
        k.call(&GetMetadata::new("group1", r0.filename.clone())),
        (0, b"k\x02v".to_vec())
    );

    // Delete zeroes the whole slot (vectors/trunk/extra_delete.json), here and on s2.
    let (r1, _) = &ids[1];
    assert_eq!(k.call(&DeleteFile::new("group1", r1.filename.clone())).0, 0);
    assert!(read_at(&container, 1024, 5120).iter().all(|&b| b == 0));
    assert_eq!(
        k.call(&DeleteFile::new("group1", r1.filename.clone())).0,
        status::ENOENT
    );
    assert!(c.wait_for_file(s2, &r1.file_id(), false, LONG));
    let c2 = s2.store_path().join("data/00/00/000001");
    assert!(read_at(&c2, 1024, 5120).iter().all(|&b| b == 0));
    // Neighbours untouched.
    assert_eq!(read_at(&container, 24, 1000), ids[0].1);

    // Above slot_max_size (1 MiB): a normal file.
    let big = bytes(2 << 20, 105);
    let rb = upload(&mut k, &big, "bin", false);
    assert_eq!(rb.filename.len(), 44);
    let info = FileId::parse(&rb.file_id()).unwrap().decode().unwrap();
    assert_eq!(info.kind, FileKind::Normal);
    assert!(!info.size_field.is_trunk());
}

#[test]
fn trunk_containers_roll_over() {
    common::init_log();
    let c = start_cluster(|b| b.trunk(true));
    let s = &c.storages()[0];
    let mut k = Conn::connect(s.addr());
    // 5 x ~1 MiB slots do not fit one 4 MiB container.
    let mut trunk_ids = Vec::new();
    for i in 0..5 {
        let data = bytes(1 << 20, i);
        let r = upload(&mut k, &data, "bin", false);
        let info = FileId::parse(&r.file_id()).unwrap().decode().unwrap();
        trunk_ids.push(info.trunk.unwrap().trunk_id);
        let (st, got) = k.call(&DownloadRequest {
            offset: 0,
            bytes: 0,
            group: "group1".into(),
            filename: r.filename.clone(),
        });
        assert_eq!(st, 0);
        assert!(got == data);
    }
    assert_eq!(trunk_ids, [1, 1, 1, 2, 2]);
    assert!(s.store_path().join("data/00/00/000002").is_file());
}
