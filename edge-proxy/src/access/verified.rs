//! Signatures already verified: a hot signed URL costs one HMAC, then a lookup for each request
//! until it expires (the bench measured the HMAC and its parsing at a quarter of a 10 KiB hit).
//! Only successes are kept, under the exact method line, path and query they were checked for;
//! the expiry and the `ip` rule are still applied to every request.

use std::collections::HashMap;

use ipnet::IpNet;
use parking_lot::Mutex;

/// At most this many URLs are kept (about 200 bytes each); when full, the table starts over.
const CAPACITY: usize = 16_384;

/// What a verified signature allows.
#[derive(Debug, Clone)]
pub struct Entry {
    pub exp: i64,
    pub ip: Option<IpNet>,
    /// The query without the signature's parameters.
    pub rest: Option<String>,
}

#[derive(Debug, Default)]
pub struct Verified {
    map: Mutex<HashMap<Box<str>, Entry>>,
}

/// The lookup key of a request: what the signature was checked against.
pub fn key(method_line: &str, path: &str, query: &str) -> String {
    let mut k = String::with_capacity(method_line.len() + path.len() + query.len() + 2);
    k.push_str(method_line);
    k.push('\n');
    k.push_str(path);
    k.push('?');
    k.push_str(query);
    k
}

impl Verified {
    pub fn get(&self, key: &str) -> Option<Entry> {
        self.map.lock().get(key).cloned()
    }

    pub fn insert(&self, key: String, e: Entry) {
        let mut m = self.map.lock();
        if m.len() >= CAPACITY {
            m.clear();
        }
        m.insert(key.into_boxed_str(), e);
    }
}
