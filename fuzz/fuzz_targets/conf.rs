//! Configuration text: the libfastcommon ini dialect (`#include`, sections, repeated keys) and the
//! typed configs built on it (mod_fastdfs.conf, http.conf, client.conf, storage_ids.conf,
//! mime.types), plus the value readers. Nothing here may panic on any input.
//!
//! Input: UTF-8 (lossily converted) text. A NUL byte splits it into the main file and the text
//! every `#include` returns (read from memory, never from disk; at most 8 reads per input so
//! include fan-out cannot blow up).
#![no_main]

use std::path::Path;

use fdfs_client::conf::ini::{
    is_recognised_bool, parse_bool, parse_duration_secs, parse_int, parse_size, parse_time_of_day,
    resolve_relative,
};
use fdfs_client::conf::storage_ids::parse_server_id;
use fdfs_client::conf::{
    ClientConf, HttpConf, Ini, MimeTypes, ModFastdfsConf, AddrSpec, StorageIdsConf,
};
use libfuzzer_sys::fuzz_target;

const NAME: &str = "/etc/fdfs/fuzz.conf";

fn values(ini: &Ini) {
    for section in &ini.sections {
        for e in &section.entries {
            let v = e.value.as_str();
            let _ = parse_bool(v);
            let _ = is_recognised_bool(v);
            let _ = parse_int(v);
            let _ = parse_size(v);
            let _ = parse_duration_secs(v);
            let _ = parse_time_of_day(v);
            let _ = parse_server_id(v);
            let _ = AddrSpec::parse(v).map(|a| (a.host().len(), a.port_or(22122)));
            let _ = AddrSpec::parse_list(v);
            let _ = e.as_int();
            let _ = e.as_size();
            let _ = e.as_duration_secs();
            let _ = resolve_relative(NAME, v);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (main, included) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let main = String::from_utf8_lossy(main);
    let included = String::from_utf8_lossy(included);

    let mut reads = 0u32;
    let mut reader = |_: &Path| -> std::io::Result<String> {
        reads += 1;
        if reads > 8 {
            return Err(std::io::Error::other("fuzz: too many includes"));
        }
        Ok(included.to_string())
    };
    match Ini::parse_str_with(&main, NAME, &mut reader) {
        Ok(ini) => {
            values(&ini);
            for w in &ini.warnings {
                let _ = w.to_string();
            }
            let _ = ini.global().get_bool("http.disabled", false);
            let _ = ini.dir();
            match ModFastdfsConf::from_ini(&ini) {
                Ok(c) => {
                    let _ = c.is_multi_group();
                    let _ = c.group("group1");
                    let _ = format!("{c:?}");
                }
                Err(e) => {
                    let _ = (e.to_string(), e.file().len(), e.line(), e.key());
                }
            }
            match HttpConf::from_ini(&ini) {
                Ok(c) => {
                    let _ = c.needs_mime_types();
                    let _ = c.validate(&ini).map_err(|e| e.to_string());
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            let _ = ClientConf::from_ini(&ini).map_err(|e| e.to_string());
        }
        Err(e) => {
            let _ = (e.to_string(), e.file().len(), e.line(), e.key());
        }
    }

    match StorageIdsConf::parse_str(&main, NAME) {
        Ok(ids) => {
            for id in [0, 1, 100_001, 16_777_215] {
                let _ = ids.get(id);
                let _ = ids.first_ip(id);
            }
            let _ = ids.group("group1").count();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match MimeTypes::parse_str(&main, "/etc/fdfs/mime.types") {
        Ok(m) => {
            let _ = (m.len(), m.is_empty(), m.get("jpg"), m.get_or("", "x/y"));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
