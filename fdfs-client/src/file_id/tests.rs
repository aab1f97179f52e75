//! Unit tests: hostile input, classification edge cases, encoding rules.

use std::net::Ipv4Addr;

use super::*;

const NORMAL: &str = "M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg";
const TRUNK: &str = "M00/00/00/fwAAFWsGWzqIFjW9AAAD6CRqmBIAAAAAQAAAAAAAAQA984.txt";

fn spec(size_field: SizeField, trunk: Option<TrunkLocation>) -> NameSpec<'static> {
    NameSpec {
        source: Source::Ip(Ipv4Addr::new(10, 1, 2, 3)),
        timestamp: 1_700_000_000,
        size_field,
        crc32: 0xdead_beef,
        trunk,
        store_path_index: 0x1a,
        subdirs: (0x0a, 0xff),
        ext: "jpg",
        random_digits: "123",
    }
}

#[test]
fn hostile_ids_never_panic_and_are_rejected() {
    let long = format!("group1/M00/00/00/{}", "A".repeat(200));
    let cases: Vec<(&str, FileIdError)> = vec![
        ("", FileIdError::MissingGroup),
        ("group1", FileIdError::MissingGroup),
        (
            "/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::EmptyGroup,
        ),
        (
            "group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9\0LE570.jpg",
            FileIdError::InvalidChar {
                byte: 0,
                offset: 41,
            },
        ),
        (
            "group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg\r\nX: y",
            FileIdError::InvalidChar {
                byte: b'\r',
                offset: 51,
            },
        ),
        (
            &long,
            FileIdError::TooLong {
                len: 210,
                max: LOGIC_NAME_MAX_LEN,
            },
        ),
        ("group1/M00/00/00/short", FileIdError::TooShort { len: 15 }),
        (
            "group1/M0000/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::BadStorePathPrefix { got: "M000".into() },
        ),
        (
            "group1/MZZ/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::BadStorePathIndex { got: "ZZ".into() },
        ),
        (
            "group1/M+1/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::BadStorePathIndex { got: "+1".into() },
        ),
        (
            "group1/M00/0a/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::BadSubdir {
                got: "0a/00/".into(),
            },
        ),
        (
            "group1/M00/00/0/0fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::BadSubdir {
                got: "00/0/0".into(),
            },
        ),
        (
            "group1/M00/00/00/../../../../../etc/passwd.jpg",
            FileIdError::ExtraSlash,
        ),
        (
            "group1/M00/00/00//fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::ExtraSlash,
        ),
        (
            "group1/M00/../00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::BadSubdir {
                got: "../00/".into(),
            },
        ),
        (
            "group1/..%2F00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::BadSubdir {
                got: "..%2F0".into(),
            },
        ),
        (
            "averyveryverylonggroupname/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
            FileIdError::GroupTooLong { len: 26, max: 16 },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(FileId::parse(input), Err(want), "{input:?}");
    }
    // Non-UTF-8 bytes.
    let mut b = b"group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jp".to_vec();
    b.push(0xff);
    assert_eq!(
        FileId::parse_bytes(&b),
        Err(FileIdError::InvalidChar {
            byte: 0xff,
            offset: 50
        })
    );
    // Lowercase hex is accepted in the store index (strtol), not in the sub dirs.
    let l = LogicName::parse("M1a/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg").unwrap();
    assert_eq!(l.store_path_index(), 0x1a);
    assert!(LogicName::parse("M00/0A/ff/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg").is_err());
    // Every error maps to 400.
    assert_eq!(FileIdError::ExtraSlash.http_status(), 400);
}

#[test]
fn fuzz_like_inputs_do_not_panic() {
    let seeds = [
        NORMAL,
        TRUNK,
        "M00/00/00/ab",
        "00/00/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ];
    let junk = ["", "/", "\0", "é", "..", "M", "%", "ÿÿ", "\u{feff}"];
    for s in seeds {
        for cut in 0..=s.len() {
            for j in junk {
                let Some(head) = s.get(..cut) else { continue };
                let Some(tail) = s.get(cut..) else { continue };
                let x = format!("{head}{j}{tail}");
                if let Ok(l) = LogicName::parse(&x) {
                    let _ = l.decode();
                    let _ = l.http_extension();
                    let _ = l.local_path();
                }
                let _ = FileId::parse(&format!("g/{x}"));
            }
        }
    }
}

#[test]
fn legacy_names_have_index_zero() {
    let l = LogicName::parse("0A/1F/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg").unwrap();
    assert!(l.is_legacy());
    assert_eq!(l.store_path_index(), 0);
    assert_eq!(l.subdirs(), (0x0a, 0x1f));
    assert_eq!(l.true_name(), l.as_str());
    assert_eq!(
        l.local_path(),
        "data/0A/1F/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg"
    );
}

#[test]
fn accessors() {
    let l = LogicName::parse("M0F/0A/1F/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg").unwrap();
    assert_eq!(l.store_path_index(), 15);
    assert_eq!(l.subdirs(), (0x0a, 0x1f));
    assert_eq!(l.subdir_path(), "0A/1F");
    assert_eq!(l.true_name(), "0A/1F/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg");
    assert_eq!(l.file_name(), "fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg");
    assert_eq!(l.http_extension(), Some("jpg"));
    assert_eq!(l.check_store_path_index(16), Ok(()));
    assert!(l.check_store_path_index(15).is_err());
    assert!(!l.is_empty());
}

#[test]
fn http_extension_rules() {
    assert_eq!(http_extension("abc.jpg"), Some("jpg"));
    assert_eq!(http_extension("abc.jpeg"), Some("jpeg"));
    assert_eq!(http_extension("abc.tar.gz"), Some("gz"));
    // The dot must be within the last 6 chars: at most a 5-char extension.
    assert_eq!(http_extension("abc.abcde"), Some("abcde"));
    assert_eq!(http_extension("abc.abcdef"), None);
    assert_eq!(http_extension("8571469"), None);
    assert_eq!(http_extension("x."), Some(""));
    assert_eq!(http_extension(""), None);
}

#[test]
fn source_quirks() {
    assert_eq!(
        Source::from_bytes([127, 0, 0, 11]),
        Source::Ip(Ipv4Addr::new(127, 0, 0, 11))
    );
    assert_eq!(
        Source::from_bytes([0xa1, 0x86, 0x01, 0]),
        Source::StorageId(100_001)
    );
    // a.b.c.0 reads as an id (C quirk).
    assert_eq!(
        Source::from_bytes([192, 168, 1, 0]),
        Source::StorageId(0x0001_a8c0)
    );
    assert_eq!(
        Source::from_bytes([0, 0, 0, 0]),
        Source::Ip(Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(Source::StorageId(100_001).to_bytes(), [0xa1, 0x86, 0x01, 0]);
    assert_eq!(Source::StorageId(100_001).to_string(), "100001");
    assert_eq!(
        Source::Ip(Ipv4Addr::LOCALHOST).ip(),
        Some(Ipv4Addr::LOCALHOST)
    );
}

#[test]
fn size_field_rules() {
    let sf = SizeField::compose(10240, false, false, Some(0x105fb5));
    assert_eq!(sf.raw(), 0x8010_5fb5_0000_2800);
    assert_eq!(sf.random_bits(), Some(0x105fb5));
    assert_eq!(sf.real_size(), 10240);
    // Random bits are masked to 23.
    assert_eq!(
        SizeField::compose(1, false, false, Some(u32::MAX)).raw(),
        0x807f_ffff_0000_0001
    );
    // Files >= 4 GiB are stored unmasked.
    let big = SizeField::compose(5 << 30, false, false, None);
    assert_eq!(big.real_size(), 5 << 30);
    assert!(!big.has_random_marker());
    // Trunk: low 32 bits even without the marker.
    let t = SizeField(SizeField::TRUNK | (7 << 32) | 99);
    assert_eq!(t.real_size(), 99);
    // V5 appender: unmasked INFINITE_FILE_SIZE.
    let a = SizeField::compose(0, true, false, None);
    assert!(a.is_appender());
    assert_eq!(a.raw(), SizeField::APPENDER);
}

#[test]
fn classification() {
    let enc =
        |sf: SizeField, trunk: Option<TrunkLocation>| encode_logic_name(&spec(sf, trunk)).unwrap();
    let normal = enc(SizeField::compose(5, false, false, Some(1)), None);
    assert_eq!(normal.len(), NORMAL_LOGIC_NAME_LEN);
    let info = LogicName::parse(&normal).unwrap().decode().unwrap();
    assert_eq!(info.kind, FileKind::Normal);
    assert_eq!(info.file_size(), Some(5));

    let loc = TrunkLocation {
        trunk_id: 12,
        offset: 4096,
        alloc_size: 512,
    };
    let trunk = enc(SizeField::compose(5, false, true, Some(1)), Some(loc));
    assert_eq!(trunk.len(), TRUNK_LOGIC_NAME_LEN);
    let info = LogicName::parse(&trunk).unwrap().decode().unwrap();
    assert_eq!(info.kind, FileKind::Trunk);
    assert_eq!(info.trunk, Some(loc));
    assert_eq!(
        info.trunk_container_path().as_deref(),
        Some("data/0A/FF/000012")
    );

    let appender = enc(SizeField::compose(0, true, false, Some(1)), None);
    let info = LogicName::parse(&appender).unwrap().decode().unwrap();
    assert_eq!(info.kind, FileKind::Appender);
    assert_eq!(info.file_size(), None);

    // A 44-char master + prefix: slave; trunk bit on a 60-char non-trunk layout with a 16-char
    // prefix is still "normal" by length (C rule), a longer one is a slave.
    let slave = slave_name(&normal, "_s", None).unwrap();
    let info = LogicName::parse(&slave).unwrap().decode().unwrap();
    assert_eq!(info.kind, FileKind::Slave);
    assert_eq!(info.file_size(), None);
    let slave_of_trunk = slave_name(&trunk, "_s", None).unwrap();
    let info = LogicName::parse(&slave_of_trunk).unwrap().decode().unwrap();
    assert_eq!(info.kind, FileKind::Slave);
    // 44 chars with the trunk bit: normal, not trunk (no trunk block).
    let mut s = spec(SizeField::compose(5, false, true, Some(1)), None);
    s.trunk = None;
    assert_eq!(encode_logic_name(&s), Err(EncodeError::TrunkFlagMismatch));
}

#[test]
fn encode_is_deterministic_and_checked() {
    let sp = spec(SizeField::compose(1234, false, false, Some(0x42)), None);
    let a = encode_logic_name(&sp).unwrap();
    assert_eq!(a, encode_logic_name(&sp).unwrap());
    assert!(a.starts_with("M1A/0A/FF/"));
    assert!(a.ends_with("123.jpg"));
    let info = LogicName::parse(&a).unwrap().decode().unwrap();
    assert_eq!(info.source, sp.source);
    assert_eq!(info.timestamp, sp.timestamp);
    assert_eq!(info.crc32, sp.crc32);
    assert_eq!(info.size_field, sp.size_field);
    assert_eq!((info.ext(), info.random_digits()), ("jpg", "123"));

    assert_eq!(format_ext("", "1234567").unwrap(), "1234567");
    assert_eq!(format_ext("jpeg", "12").unwrap(), "12.jpeg");
    // A real storage takes a dotted extension of up to 6 bytes (issue 9 item 19).
    assert_eq!(format_ext("tar.gz", "").unwrap(), ".tar.gz");
    assert_eq!(format_ext("a.b", "123").unwrap(), "123.a.b");
    assert_eq!(
        format_ext("tar/gz", ""),
        Err(EncodeError::BadExtension("tar/gz".into()))
    );
    assert_eq!(
        format_ext("abcdefg", ""),
        Err(EncodeError::BadExtension("abcdefg".into()))
    );
    assert_eq!(
        format_ext("jpg", "12"),
        Err(EncodeError::BadRandomDigits {
            got: "12".into(),
            expected: 3
        })
    );
    assert!(format_ext("jpg", "12a").is_err());
    let mut s = sp.clone();
    s.source = Source::StorageId(0x0100_0000);
    assert_eq!(
        encode_logic_name(&s),
        Err(EncodeError::BadStorageId(0x0100_0000))
    );
    s.source = Source::StorageId(0);
    assert_eq!(encode_logic_name(&s), Err(EncodeError::BadStorageId(0)));
    let t = spec(
        SizeField::compose(1, false, false, Some(1)),
        Some(TrunkLocation {
            trunk_id: 1,
            offset: 0,
            alloc_size: 256,
        }),
    );
    assert_eq!(encode_logic_name(&t), Err(EncodeError::TrunkFlagMismatch));
    assert_eq!(
        encode_file_id("", &sp),
        Err(EncodeError::BadGroup(String::new()))
    );
    assert!(encode_file_id("a/b", &sp).is_err());
    assert!(encode_file_id("group1", &sp)
        .unwrap()
        .starts_with("group1/M1A/"));
    // Storage-id names round-trip.
    let mut s = sp.clone();
    s.source = Source::StorageId(100_002);
    let n = encode_logic_name(&s).unwrap();
    assert_eq!(
        LogicName::parse(&n).unwrap().decode().unwrap().source,
        Source::StorageId(100_002)
    );
}

#[test]
fn slave_names() {
    let m = "M00/00/00/fwAADWsGUvGAP1M_AAAQAOUbKh8697.jpg";
    assert_eq!(
        slave_name(m, "_big", None).unwrap(),
        "M00/00/00/fwAADWsGUvGAP1M_AAAQAOUbKh8697_big.jpg"
    );
    assert_eq!(
        slave_name(m, "_big", Some("png")).unwrap(),
        "M00/00/00/fwAADWsGUvGAP1M_AAAQAOUbKh8697_big.png"
    );
    assert_eq!(
        slave_name(m, "_big", Some(".png")).unwrap(),
        "M00/00/00/fwAADWsGUvGAP1M_AAAQAOUbKh8697_big.png"
    );
    assert_eq!(
        slave_name(m, "_big", Some("")).unwrap(),
        "M00/00/00/fwAADWsGUvGAP1M_AAAQAOUbKh8697_big"
    );
    // Empty prefix only with a different extension.
    assert_eq!(
        slave_name(m, "", Some("png")).unwrap(),
        "M00/00/00/fwAADWsGUvGAP1M_AAAQAOUbKh8697.png"
    );
    assert!(slave_name(m, "", None).is_err());
    assert!(slave_name(m, "", Some("jpg")).is_err());
    // A master without extension.
    let m2 = "M00/00/00/fwAAC2sGUuiAHWRGAAATiCtT8lM8571469";
    assert_eq!(slave_name(m2, "_t", None).unwrap(), format!("{m2}_t"));
    assert!(slave_name("short.jpg", "_x", None).is_err());
    assert!(slave_name(m, "a/b", None).is_err());
    assert!(slave_name(m, "_x", Some("toolong")).is_err());
    assert!(slave_name(m, &"p".repeat(17), None).is_err());
}

#[test]
fn trunk_header_errors() {
    let l = LogicName::parse(TRUNK).unwrap();
    let info = l.decode().unwrap();
    let good = TrunkSlotHeader::expected_for(&info).unwrap();
    assert_eq!(good.validate(&info), Ok(SlotType::Regular));
    let mut link = good;
    link.slot_type = SlotType::Link;
    assert_eq!(link.validate(&info), Ok(SlotType::Link));
    let mut bad = good;
    bad.slot_type = SlotType::Unknown(b'X');
    assert_eq!(bad.validate(&info), Err(TrunkSlotError::BadType(b'X')));
    let mut bad = good;
    bad.crc32 ^= 1;
    assert!(matches!(
        bad.validate(&info),
        Err(TrunkSlotError::Mismatch { field: "crc32", .. })
    ));
    let mut bad = good;
    bad.formatted_ext[0] = b'x';
    assert!(matches!(
        bad.validate(&info),
        Err(TrunkSlotError::Mismatch {
            field: "formatted_ext",
            ..
        })
    ));
    assert_eq!(
        TrunkSlotHeader::parse(&[0u8; 23]),
        Err(TrunkSlotError::HeaderTooShort(23))
    );
    assert_eq!(TrunkSlotHeader::parse(&good.to_bytes()), Ok(good));
    // Not a trunk id.
    let n = LogicName::parse(NORMAL).unwrap().decode().unwrap();
    assert_eq!(good.validate(&n), Err(TrunkSlotError::NotTrunk));
    assert_eq!(TrunkSlotHeader::expected_for(&n), None);
}

#[test]
fn link_targets() {
    let l = parse_link_target(
        b"M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg\0\0",
        "group1",
    )
    .unwrap();
    assert_eq!(l.as_str(), NORMAL);
    // Another group's prefix is not a logic name.
    assert!(parse_link_target(
        b"group1/M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE570.jpg",
        "group2"
    )
    .is_err());
    assert!(parse_link_target(b"", "group1").is_err());
    assert!(parse_link_target(&[0xff; 60], "group1").is_err());
    // Moved from the module (`logic::parse_link`, now this function): the container's own group
    // may prefix the name, which ends at the first NUL; paths outside the store are refused.
    let with_group = format!("group1/{NORMAL}\0\0");
    assert_eq!(
        parse_link_target(with_group.as_bytes(), "group1").ok(),
        Some(l)
    );
    assert!(parse_link_target(b"../../etc/passwd", "group1").is_err());
    let padded = format!(" {NORMAL}\n\0junk");
    assert_eq!(
        parse_link_target(padded.as_bytes(), "group1").map(|l| l.as_str().to_owned()),
        Ok(NORMAL.to_owned())
    );
}

#[test]
fn dotted_extensions_as_fastdfs() {
    // fdfs_validate_filename on the 6-byte field: letters, digits, '-', '_', '.'.
    for ok in ["", "jpg", "tar.gz", "a-b_c", "JPEG", ".gz"] {
        assert!(valid_ext(ok), "{ok:?}");
    }
    for bad in ["toolong", "a b", "a+b", "a/b", "é", "tar.gz2"] {
        assert!(!valid_ext(bad), "{bad:?}");
    }
    // fdfs_get_file_ext_name (two-part form), as fdfs_upload_file derives it.
    let cases = [
        ("x.tar.gz", Some("tar.gz")),
        ("/tmp/x.tar.gz", Some("tar.gz")),
        ("photo.jpg", Some("jpg")),
        ("a.b.c.d", Some("c.d")),
        ("x.tar.bz2", Some("bz2")),
        ("x.jpeg2000", None),
        ("noext", None),
        ("dir.d/file", None),
        ("dir.x/f.gz", Some("gz")),
        ("x.", Some("")),
        (".tar.gz", Some("gz")),
        ("ab.tar.gz", Some("tar.gz")),
    ];
    for (name, want) in cases {
        assert_eq!(file_ext_name(name), want, "{name:?}");
    }
    // The logic name of a `tar.gz` upload decodes back to that extension.
    let name = format!("M00/00/00/{}.tar.gz", "A".repeat(27));
    let info = LogicName::parse(&name).unwrap().decode().unwrap();
    assert_eq!((info.ext(), info.random_digits()), ("tar.gz", ""));
    let slave = slave_name(&name, "_s", None).unwrap();
    assert!(slave.ends_with("_s.tar.gz"), "{slave}");
    assert!(slave_name(&name, "_s", "tar.xz")
        .unwrap()
        .ends_with("_s.tar.xz"));
}

#[test]
fn formatted_ext_is_the_names_last_seven_bytes() {
    // "é" is two bytes, so the last 7 bytes of this name begin inside the "é" of "éé": C copies
    // them as they are, and a trunk slot's header holds the same bytes.
    let name = "M00/00/00/fwAAC2sGUuSAEF-1AAAoAFc9-LE5.éé.jpg";
    let info = LogicName::parse(name).unwrap().decode().unwrap();
    assert_eq!(&info.formatted_ext[..], &name.as_bytes()[name.len() - 7..]);
    assert_eq!(info.ext(), "jpg");
    assert_eq!(info.random_digits(), "", "not UTF-8 before the dot");
    let info = LogicName::parse(NORMAL).unwrap().decode().unwrap();
    assert_eq!(&info.formatted_ext, b"570.jpg");
}
