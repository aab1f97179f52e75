//! Every file id captured from the real FastDFS 6.16 cluster (`shared/vectors`) decodes to the recorded
//! fields and encodes back to the same name; trunk slot headers from the real container validate.
//!
//! The vectors directory is found by walking up from this crate until `<ancestor>/shared/vectors`
//! exists, or taken from `FDFS_VECTORS_DIR`.

mod common;
use common::{read_vector_text as read, vectors_dir};

use std::net::Ipv4Addr;

use fdfs_client::base64;
use fdfs_client::file_id::{
    encode_file_id, encode_logic_name, slave_name, FileId, FileIdError, FileInfo, FileKind,
    LogicName, NameSpec, SizeField, SlotType, Source, TrunkSlotError, TrunkSlotHeader,
};
use serde_json::Value;

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn parse_u64_hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// Rebuild the logic name from what was decoded (the random parts are recovered from the id).
fn reencode(id: &FileId, info: &FileInfo) -> String {
    let spec = NameSpec {
        source: info.source,
        timestamp: info.timestamp,
        size_field: info.size_field,
        crc32: info.crc32,
        trunk: info.trunk,
        store_path_index: info.store_path_index,
        subdirs: info.subdirs,
        ext: info.ext(),
        random_digits: info.random_digits(),
    };
    let full = encode_file_id(id.group(), &spec).unwrap();
    assert_eq!(
        full,
        format!("{}/{}", id.group(), encode_logic_name(&spec).unwrap())
    );
    full
}

/// Rebuild the size field from its parts, as the storage composes it.
fn recompose(sf: SizeField) -> SizeField {
    SizeField::compose(
        sf.real_size(),
        sf.is_appender(),
        sf.is_trunk(),
        sf.random_bits(),
    )
}

#[test]
fn file_vectors_json() {
    let v = json("file_vectors.json");
    let arr = v.as_array().unwrap();
    assert!(
        arr.len() >= 12,
        "expected at least 12 vectors, got {}",
        arr.len()
    );
    let mut masters = std::collections::HashMap::new();
    let mut slaves = Vec::new();
    for e in arr {
        let label = e["label"].as_str().unwrap();
        let fid = e["file_id"].as_str().unwrap();
        let d = &e["decoded"];
        let id = FileId::parse(fid).unwrap_or_else(|err| panic!("{label}: {err}"));
        assert_eq!(id.group(), d["group"].as_str().unwrap(), "{label}");
        assert_eq!(id.logic().store_path_index(), 0, "{label}");
        assert_eq!(
            id.logic().subdir_path(),
            d["subdir"].as_str().unwrap(),
            "{label}"
        );
        assert_eq!(
            id.logic().file_name(),
            d["filename"].as_str().unwrap(),
            "{label}"
        );
        let info = id.decode().unwrap_or_else(|err| panic!("{label}: {err}"));
        assert_eq!(hex(&info.raw), d["raw20_hex"].as_str().unwrap(), "{label}");
        assert_eq!(
            base64::encode(&info.raw),
            d["b64_27"].as_str().unwrap(),
            "{label}"
        );
        let ip: Ipv4Addr = d["source_ip"].as_str().unwrap().parse().unwrap();
        assert_eq!(info.source, Source::Ip(ip), "{label}");
        assert_eq!(info.timestamp, d["timestamp"].as_i64().unwrap(), "{label}");
        assert_eq!(
            info.size_field.raw(),
            parse_u64_hex(d["size_field_hex"].as_str().unwrap()),
            "{label}"
        );
        assert_eq!(
            info.size_field.real_size(),
            d["size_low32"].as_u64().unwrap(),
            "{label}"
        );
        assert_eq!(
            u64::from(info.crc32),
            parse_u64_hex(d["crc32_field"].as_str().unwrap()),
            "{label}"
        );
        assert!(info.size_field.has_random_marker(), "{label}");
        assert_eq!(recompose(info.size_field), info.size_field, "{label}");

        // The classification fdfs_file_info printed.
        let fi = e["fdfs_file_info"].as_str().unwrap_or("");
        if let Some(t) = fi.lines().find_map(|l| l.strip_prefix("file type: ")) {
            let want = match t.trim() {
                "normal" => FileKind::Normal,
                "appender" => FileKind::Appender,
                "slave" => FileKind::Slave,
                other => panic!("{label}: unknown file type {other}"),
            };
            assert_eq!(info.kind, want, "{label}");
        }
        if label.starts_with("appender") && !label.ends_with("after_regen") {
            assert_eq!(info.kind, FileKind::Appender, "{label}");
        }
        match info.kind {
            FileKind::Slave | FileKind::Appender => assert_eq!(info.file_size(), None, "{label}"),
            _ => {
                assert_eq!(
                    info.file_size(),
                    Some(d["size_low32"].as_u64().unwrap()),
                    "{label}"
                );
                if label != "appender2_after_regen" {
                    assert_eq!(info.file_size(), e["local_size"].as_u64(), "{label}");
                }
            }
        }
        // Where the storages kept it.
        if let Some(disk) = e["on_disk"].as_object() {
            for (who, loc) in disk {
                let p = loc["path"].as_str().unwrap();
                if who.contains("metadata") {
                    assert!(
                        p.ends_with(&format!("/store/{}", id.logic().metadata_local_path())),
                        "{label}: {p}"
                    );
                    continue;
                }
                assert!(
                    p.ends_with(&format!("/store/{}", id.logic().local_path())),
                    "{label} on {who}: {p} vs {}",
                    id.logic().local_path()
                );
            }
        }

        if info.kind == FileKind::Slave {
            slaves.push((label.to_owned(), id));
            continue;
        }
        assert_eq!(
            &info.formatted_ext[..],
            d["suffix_after_b64"].as_str().unwrap().as_bytes(),
            "{label}"
        );
        assert_eq!(reencode(&id, &info), fid, "{label}");
        masters.insert(d["b64_27"].as_str().unwrap().to_owned(), id);
    }
    assert!(!slaves.is_empty());
    for (label, slave) in slaves {
        let b64 = slave.logic().file_name().get(..27).unwrap();
        let master = masters
            .get(b64)
            .unwrap_or_else(|| panic!("{label}: no master"));
        let built = slave_name(master.logic().as_str(), "_big", None).unwrap();
        assert_eq!(built, slave.logic().as_str(), "{label}");
        let built = slave_name(master.logic().as_str(), "_big", Some("jpg")).unwrap();
        assert_eq!(built, slave.logic().as_str(), "{label}");
        // The slave carries the master's fields.
        let (mi, si) = (master.decode().unwrap(), slave.decode().unwrap());
        assert_eq!(
            (mi.raw, mi.source, mi.timestamp),
            (si.raw, si.source, si.timestamp)
        );
    }
}

#[test]
fn file_ids_tsv() {
    let text = read("file_ids.tsv");
    let mut n = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (label, fid) = (cols[0], *cols.last().unwrap());
        let id = FileId::parse(fid).unwrap_or_else(|e| panic!("{label}: {e}"));
        let info = id.decode().unwrap();
        if info.kind != FileKind::Slave {
            assert_eq!(reencode(&id, &info), fid, "{label}");
        }
        n += 1;
    }
    assert!(n >= 12, "{n} ids");
}

#[test]
fn proxy_test_file_id() {
    let fid = read("proxy_test_file_id.txt");
    let id = FileId::parse(fid.trim()).unwrap();
    let info = id.decode().unwrap();
    assert_eq!(info.source, Source::Ip(Ipv4Addr::new(127, 0, 0, 12)));
    assert_eq!(reencode(&id, &info), fid.trim());
}

#[test]
fn trunk_vectors() {
    let v = json("trunk/trunk_vectors.json");
    let container =
        std::fs::read(vectors_dir().join("trunk/containers/data_00_00_000001.first20k")).unwrap();
    let files = v["files"].as_array().unwrap();
    let mut trunks = 0;
    for f in files {
        let fid = f["file_id"].as_str().unwrap();
        let d = &f["id"];
        let id = FileId::parse(fid).unwrap();
        assert_eq!(
            id.logic().len(),
            d["len_after_group"].as_u64().unwrap() as usize
        );
        let info = id.decode().unwrap();
        assert_eq!(
            hex(&info.raw),
            d["decoded20_hex"].as_str().unwrap(),
            "{fid}"
        );
        let ip: Ipv4Addr = d["source_ip"].as_str().unwrap().parse().unwrap();
        assert_eq!(info.source, Source::Ip(ip));
        assert_eq!(info.timestamp, d["timestamp"].as_i64().unwrap());
        let sf = parse_u64_hex(d["size_field_hex"].as_str().unwrap());
        assert_eq!(info.size_field.raw(), sf);
        let flags = &d["size_field_flags"];
        assert_eq!(
            info.size_field.is_trunk(),
            flags["bit59_trunk(FDFS_TRUNK_FILE_MARK_SIZE)"]
                .as_bool()
                .unwrap()
        );
        assert_eq!(
            info.size_field.is_appender(),
            flags["bit58_appender(INFINITE_FILE_SIZE)"]
                .as_bool()
                .unwrap()
        );
        assert_eq!(
            info.size_field.random_bits(),
            Some(
                u32::from_str_radix(flags["rand23_hex(hi32 & 0x007FFFFF)"].as_str().unwrap(), 16)
                    .unwrap()
            )
        );
        assert_eq!(info.file_size(), flags["low32_file_size"].as_u64());
        assert_eq!(info.file_size(), f["input_size"].as_u64());
        assert_eq!(
            format!("{:08x}", info.crc32),
            d["crc32_hex"].as_str().unwrap()
        );
        assert_eq!(recompose(info.size_field), info.size_field);
        assert_eq!(info.is_trunk(), d["is_trunk"].as_bool().unwrap(), "{fid}");
        assert_eq!(reencode(&id, &info), fid);
        if !info.is_trunk() {
            assert_eq!(info.kind, FileKind::Normal);
            assert_eq!(info.trunk, None);
            assert_eq!(info.trunk_container_path(), None);
            continue;
        }
        trunks += 1;
        assert_eq!(info.kind, FileKind::Trunk);
        assert_eq!(
            &info.formatted_ext[..],
            d["formatted_ext_7"].as_str().unwrap().as_bytes()
        );
        let t = info.trunk.unwrap();
        assert_eq!(t.encode(), d["trunk_block_16"].as_str().unwrap());
        assert_eq!(hex(&t.to_bytes()), d["trunk_block_hex"].as_str().unwrap());
        assert_eq!(u64::from(t.trunk_id), d["trunk_id"].as_u64().unwrap());
        assert_eq!(u64::from(t.offset), d["trunk_offset"].as_u64().unwrap());
        assert_eq!(
            u64::from(t.alloc_size),
            d["trunk_alloc_size"].as_u64().unwrap()
        );
        let tr = &f["trunk"];
        assert_eq!(
            info.trunk_container_path().unwrap(),
            tr["container_path"].as_str().unwrap()
        );
        // The recorded header and the bytes of the real container.
        let hh = unhex(tr["slot_header_hex"].as_str().unwrap());
        let off = t.offset as usize;
        assert_eq!(&container[off..off + 24], &hh[..]);
        let h = TrunkSlotHeader::parse(&container[off..]).unwrap();
        assert_eq!(h.slot_type, SlotType::Regular);
        assert_eq!(h.to_bytes().to_vec(), hh);
        assert_eq!(h.validate(&info), Ok(SlotType::Regular));
        assert_eq!(TrunkSlotHeader::expected_for(&info), Some(h));
        assert_eq!(t.data_offset(), off as u64 + 24);
        // A header of another slot does not match.
        let other = if off == 0 { 1024 } else { 0 };
        assert!(matches!(
            TrunkSlotHeader::parse(&container[other..])
                .unwrap()
                .validate(&info),
            Err(TrunkSlotError::Mismatch { .. })
        ));
    }
    assert_eq!(trunks, 4);

    // The deleted slot: valid before, free after.
    let x = &v["extra_deleted_slot"];
    let id = FileId::parse(x["file_id"].as_str().unwrap()).unwrap();
    let info = id.decode().unwrap();
    let before = unhex(x["slot_before_delete"]["header_hex"].as_str().unwrap());
    let after = unhex(x["slot_after_delete"]["header_hex"].as_str().unwrap());
    assert_eq!(
        TrunkSlotHeader::parse(&before).unwrap().validate(&info),
        Ok(SlotType::Regular)
    );
    assert_eq!(
        TrunkSlotHeader::parse(&after).unwrap().validate(&info),
        Err(TrunkSlotError::FreeSlot)
    );
    assert_eq!(
        u64::from(info.trunk.unwrap().offset),
        x["slot_before_delete"]["offset"].as_u64().unwrap()
    );
}

#[test]
fn trunk_file_ids_tsv() {
    let text = read("trunk/file_ids.tsv");
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let id = FileId::parse(cols[1]).unwrap();
        let info = id.decode().unwrap();
        assert_eq!(reencode(&id, &info), cols[1]);
        n += 1;
    }
    assert_eq!(n, 5);
}

#[test]
fn idmode_storage_ids() {
    let text = read("idmode/README.txt");
    let mut n = 0;
    for line in text.lines() {
        let Some((fid, rest)) = line.split_once(" raw20= ") else {
            continue;
        };
        let (raw_hex, first4) = rest.split_once(" first4 as int= ").unwrap();
        let id = FileId::parse(fid).unwrap();
        let info = id.decode().unwrap();
        assert_eq!(hex(&info.raw), raw_hex.trim());
        // The "first4 as int" of the README is the big-endian reading; the id is the little-endian one.
        let be = u32::from_be_bytes(info.raw[..4].try_into().unwrap());
        assert_eq!(be.to_string(), first4.trim());
        let Source::StorageId(sid) = info.source else {
            panic!("{fid}: expected a storage id, got {:?}", info.source)
        };
        assert!(sid == 100001 || sid == 100002, "{sid}");
        assert_eq!(info.source.storage_id(), Some(sid.to_string()));
        assert_eq!(reencode(&id, &info), fid);
        n += 1;
    }
    assert_eq!(n, 2);
    // fdfs_file_info printed the ids in the same order.
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("source storage id: "))
        .collect();
    assert_eq!(ids, ["100001", "100002"]);
}

#[test]
fn hostile_ids_from_c_module_transcript() {
    // D8: too short.
    assert_eq!(
        FileId::parse("group1/M00/00/00/abc.jpg").unwrap_err(),
        FileIdError::TooShort { len: 17 }
    );
    // D9: 27 chars outside the alphabet decode leniently (zero-filled) like the C code.
    let id = FileId::parse("group1/M00/00/00/!!!!!!!!!!!!!!!!!!!!!!!!!!!123.jpg").unwrap();
    let info = id.decode().unwrap();
    assert_eq!(info.raw, [0u8; 20]);
    assert_eq!(info.source, Source::Ip(Ipv4Addr::UNSPECIFIED));
    // D10: M01 with store_path_count = 1.
    let id = FileId::parse("group1/M01/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg").unwrap();
    assert_eq!(
        id.logic().check_store_path_index(1),
        Err(FileIdError::StorePathIndexOutOfRange { index: 1, count: 1 })
    );
    assert_eq!(id.logic().check_store_path_index(2), Ok(()));
    // D11: bad subdir.
    assert!(matches!(
        FileId::parse("group1/M00/00/ZZ/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg"),
        Err(FileIdError::BadSubdir { .. })
    ));
    // D18: traversal.
    assert_eq!(
        FileId::parse("group1/M00/00/00/../../../../etc/passwd").unwrap_err(),
        FileIdError::ExtraSlash
    );
    // D19: trailing slash.
    assert_eq!(
        FileId::parse("group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg/").unwrap_err(),
        FileIdError::ExtraSlash
    );
    // D20: wrong extension still decodes (then 404 on disk).
    let id = FileId::parse("group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.png").unwrap();
    assert_eq!(id.decode().unwrap().ext(), "png");
    // D21: no random digits/ext: 37 chars.
    let id = FileId::parse("group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE").unwrap();
    assert_eq!(
        id.decode().unwrap_err(),
        FileIdError::NameTooShort { len: 37 }
    );
}

#[test]
fn logic_name_parse_matches_file_id() {
    let l = LogicName::parse("M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg").unwrap();
    let f = FileId::parse("group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg").unwrap();
    assert_eq!(&l, f.logic());
    assert_eq!(l.decode().unwrap(), f.decode().unwrap());
    assert_eq!(
        f.to_string(),
        "group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg"
    );
}
