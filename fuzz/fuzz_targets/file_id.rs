//! File ids from URLs: split, validate, decode, trunk slot headers, link targets, the FastDFS base64
//! variant and the anti-steal token check. Nothing here may panic on any input.
//!
//! Input: the bytes of a candidate file id (as a URL path would carry it). When the input is at
//! least 24 bytes long its first 24 bytes are also tried as a trunk slot header.
#![no_main]

use fdfs_client::file_id::{
    check_data_filename, http_extension, parse_link_target, split_store_path, FileId, LogicName,
    TrunkSlotHeader,
};
use fdfs_client::{base64, token};
use libfuzzer_sys::fuzz_target;

fn exercise_logic(logic: &LogicName, slot: Option<&TrunkSlotHeader>) {
    let _ = logic.local_path();
    let _ = logic.metadata_local_path();
    let _ = logic.subdir_path();
    let _ = logic.http_extension();
    let _ = logic.is_legacy();
    for count in [0, 1, 2, 256] {
        let _ = logic.check_store_path_index(count);
    }
    // A validated name re-parses to itself.
    match LogicName::parse(logic.as_str()) {
        Ok(again) => assert_eq!(&again, logic, "logic name does not re-parse to itself"),
        Err(e) => panic!(
            "validated logic name {:?} fails to re-parse: {e}",
            logic.as_str()
        ),
    }
    if let Ok(info) = logic.decode() {
        let _ = info.file_size();
        let _ = info.ext();
        let _ = info.random_digits();
        let _ = info.trunk_container_path();
        let _ = format!("{info:?}");
        // The 20 raw bytes survive the FastDFS base64 both ways.
        let enc = base64::encode(&info.raw);
        assert_eq!(base64::decode_array::<20>(&enc), info.raw);
        if let Some(expected) = TrunkSlotHeader::expected_for(&info) {
            assert_eq!(expected.validate(&info).ok(), Some(expected.slot_type));
            let bytes = expected.to_bytes();
            assert_eq!(TrunkSlotHeader::parse(&bytes).ok(), Some(expected));
        }
        if let Some(h) = slot {
            let _ = h.validate(&info);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let slot = TrunkSlotHeader::parse(data).ok();
    if let Some(h) = &slot {
        // Serialisation is the inverse of parsing.
        assert_eq!(&h.to_bytes()[..], &data[..24]);
    }

    match FileId::parse_bytes(data) {
        Ok(id) => {
            let shown = id.to_string();
            match FileId::parse(&shown) {
                Ok(again) => assert_eq!(again, id, "file id does not re-parse to itself"),
                Err(e) => panic!("validated file id {shown:?} fails to re-parse: {e}"),
            }
            exercise_logic(id.logic(), slot.as_ref());
        }
        Err(e) => {
            let _ = e.http_status();
            let _ = e.to_string();
        }
    }
    if let Ok(logic) = LogicName::parse_bytes(data) {
        exercise_logic(&logic, slot.as_ref());
    }
    if let Ok(logic) = parse_link_target(data, "group1") {
        exercise_logic(&logic, None);
    }
    let _ = split_store_path(data);
    let _ = check_data_filename(data);

    // base64: lenient decode, exact C decode into short and long buffers.
    let _ = base64::decode(data);
    let mut small = [0u8; 12];
    let _ = base64::decode_auto_into(data, &mut small);
    let mut big = [0u8; 20];
    let _ = base64::decode_auto_into(data, &mut big);
    let _ = base64::decode_array::<20>(data);

    if let Ok(s) = std::str::from_utf8(data) {
        let _ = http_extension(s);
        // `token=...&ts=...` as raw query values: split the input on '&' into rest/token/ts.
        let mut it = s.splitn(3, '&');
        let rest = it.next().unwrap_or("");
        let tok = it.next();
        let ts = it.next();
        let _ = token::atoi(rest);
        let _ = token::check(rest, "FastDFS1234567890", tok, ts, 900, 1_795_576_548);
        let t = token::generate(rest, "FastDFS1234567890", token::atoi(ts.unwrap_or("0")));
        assert_eq!(t.len(), 32);
    }
});
