//! Replays `vectors/raw_probe.json` (requests captured against FastDFS 6.16) against the emulator:
//! the same statuses, the same reply lengths, and the same bytes where they do not depend on time
//! or randomness. File names the real cluster generated are mapped to the emulator's as they appear.

mod common;

use common::{start_cluster, upload, vectors_dir, Conn};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn replace_all(hay: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= hay.len() {
        if &hay[i..i + from.len()] == from {
            hay[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

#[test]
fn raw_probe_replay() {
    let dir = vectors_dir();
    common::init_log();
    let probes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("raw_probe.json")).unwrap())
            .unwrap();
    // group1 with two storages, the first on 127.0.0.11 like s1 of the capture.
    let c = start_cluster(|b| b.storages_per_group(2));
    let mut tracker = Conn::connect(c.trackers()[0]);
    let mut storage = Conn::connect(c.storages()[0].addr());
    // (their name, our name), same lengths.
    let mut names: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut checked = 0;
    for p in probes.as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let to_tracker = p["server"].as_str().unwrap().ends_with(":22122");
        let mut req = unhex(p["request_hex"].as_str().unwrap());
        for (theirs, ours) in &names {
            replace_all(&mut req, theirs, ours);
        }
        let want_status = p["resp_status"].as_u64().unwrap() as u8;
        let want_body = unhex(p["response_body_hex"].as_str().unwrap());
        let conn = if to_tracker {
            &mut tracker
        } else {
            &mut storage
        };
        let (h, body) = conn.raw(&req);
        assert_eq!(h.status, want_status, "{name}: status");
        assert_eq!(body.len(), want_body.len(), "{name}: reply length");
        checked += 1;
        // A real storage closes the connection after a bare EINVAL reply; so does the emulator.
        if !to_tracker && h.status == fdfs_client::proto::status::EINVAL && body.is_empty() {
            storage.reopen_after_einval();
        }
        // Replies carrying a new file name: remember the mapping.
        if !to_tracker && want_status == 0 && want_body.len() > 16 && name.starts_with("UPLOAD") {
            assert_eq!(&body[..16], &want_body[..16], "{name}: group");
            names.push((want_body[16..].to_vec(), body[16..].to_vec()));
            continue;
        }
        match name {
            n if n.starts_with("DOWNLOAD_FILE") || n.starts_with("GET_METADATA") => {
                assert_eq!(body, want_body, "{name}: body");
            }
            n if n.starts_with("QUERY_FILE_INFO") && want_status == 0 => {
                // size, crc32 (sign-extended) and source ip; the timestamp differs.
                assert_eq!(body[..8], want_body[..8], "{name}: size");
                assert_eq!(body[16..], want_body[16..], "{name}: crc32 + ip");
            }
            n if n.starts_with("QUERY_STORE") && want_status == 0 => {
                assert_eq!(body[..16], want_body[..16], "{name}: group");
                let ip = String::from_utf8_lossy(&body[16..31])
                    .trim_end_matches('\0')
                    .to_string();
                assert!(
                    c.storages().iter().any(|s| s.ip.to_string() == ip),
                    "{name}: {ip}"
                );
            }
            _ => {}
        }
    }
    assert!(checked >= 30, "only {checked} probes replayed");
}

/// Uploads the inputs of `vectors/trunk` in the same order: the slot headers match the real ones
/// byte for byte except the mtime and the random digits of the formatted extension, and the
/// trunk blocks of the ids are identical.
#[test]
fn trunk_vectors_same_slots() {
    let dir = vectors_dir();
    let tv: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("trunk/trunk_vectors.json")).unwrap(),
    )
    .unwrap();
    let c = start_cluster(|b| b.trunk(true));
    let s = &c.storages()[0];
    let mut k = Conn::connect(s.addr());
    let container = s.store_path().join("data/00/00/000001");
    let mut n = 0;
    for f in tv["files"].as_array().unwrap() {
        let input = f["input"].as_str().unwrap();
        let data = std::fs::read(dir.join("trunk").join(input)).unwrap();
        let fname = input.rsplit('/').next().unwrap();
        let ext = fname.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        let ours = upload(&mut k, &data, ext, false).filename;
        let theirs = f["file_id"].as_str().unwrap().split_once('/').unwrap().1;
        assert_eq!(ours.len(), theirs.len(), "{input}");
        if f["id"]["is_trunk"].as_bool() != Some(true) {
            continue;
        }
        // Trunk block (chars 37..53 of the logic name) identical.
        assert_eq!(&ours[37..53], &theirs[37..53], "{input}: trunk block");
        let want = unhex(f["trunk"]["slot_header_hex"].as_str().unwrap());
        let off = f["trunk"]["slot_offset"].as_u64().unwrap() as usize;
        let got = std::fs::read(&container).unwrap()[off..off + 24].to_vec();
        assert_eq!(got[..13], want[..13], "{input}: type, alloc, size, crc32");
        // The extension part of the formatted ext ("." + ext) is the same.
        let dot = ext.len() + usize::from(!ext.is_empty());
        assert_eq!(got[24 - dot..], want[24 - dot..], "{input}: ext");
        n += 1;
    }
    assert_eq!(n, 4);
}

/// Uploads `vectors/files/small_10k.jpg` and `noext_5k` to a storage on 127.0.0.11, as the real
/// s1: the ids carry the same source, size and crc32 as the captured ones, and lie at the same
/// relative place on disk, on both storages of the group once replicated.
#[test]
fn normal_file_vectors_same_fields_and_place() {
    use fdfs_client::file_id::FileId;

    let dir = vectors_dir();
    let fv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("file_vectors.json")).unwrap())
            .unwrap();
    let c = start_cluster(|b| b.storages_per_group(2));
    let (s1, s2) = (&c.storages()[0], &c.storages()[1]);
    let mut k = Conn::connect(s1.addr());
    for label in ["small_10k", "noext_5k"] {
        let v = fv
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["label"] == label)
            .unwrap();
        let file = v["local_file"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        let data = std::fs::read(dir.join("files").join(file)).unwrap();
        let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        let ours = upload(&mut k, &data, ext, false).file_id();
        let theirs = v["file_id"].as_str().unwrap();
        assert_eq!(ours.len(), theirs.len());
        let (a, b) = (
            FileId::parse(&ours).unwrap().decode().unwrap(),
            FileId::parse(theirs).unwrap().decode().unwrap(),
        );
        assert_eq!(a.source, b.source, "{label}: source");
        assert_eq!(a.crc32, b.crc32, "{label}: crc32");
        assert_eq!(a.size_field.real_size(), b.size_field.real_size());
        assert_eq!(a.kind, b.kind);
        assert_eq!(
            a.size_field.raw() & 0xFC00_0000_0000_0000,
            b.size_field.raw() & 0xFC00_0000_0000_0000,
            "{label}: flag bits"
        );
        assert_eq!(a.ext(), b.ext(), "{label}: extension");
        let rel = ours.split_once('/').unwrap().1.replacen("M00/", "data/", 1);
        assert!(rel.starts_with("data/00/00/"));
        assert!(s1.store_path().join(&rel).is_file());
        assert!(c.wait_for_file(s2, &ours, true, common::LONG));
        assert_eq!(std::fs::read(s2.store_path().join(&rel)).unwrap(), data);
    }
}
