//! The signature between peers: `X-Fdfs-Peer-Purge: <unix time>.<base64url HMAC-SHA256>` over
//! `PURGE\n<canonical key>\n<unix time>` with the `[peers]` secret. A peer purge so signed is
//! accepted from any address (the peer need not be in `[purge] allow`) and is not sent on again.

use crate::access::signed::{hmac_b64, hmac_matches};

/// The header a peer purge carries.
pub const HEADER: &str = "X-Fdfs-Peer-Purge";

/// How far the signing time may be from the receiver's clock (a retried purge is signed again
/// when it is sent, so this only bounds a replay).
pub const WINDOW_SECS: i64 = 300;

fn message(key: &str, ts: i64) -> String {
    format!("PURGE\n{key}\n{ts}")
}

/// The header value for a purge of `key` sent at unix time `now`.
pub fn sign(secret: &[u8], key: &str, now: i64) -> String {
    format!("{now}.{}", hmac_b64(secret, &message(key, now)))
}

/// Whether `value` signs a purge of `key`, at unix time `now`.
pub fn verify(secret: &[u8], key: &str, value: &str, now: i64) -> bool {
    let Some((ts, sig)) = value.split_once('.') else {
        return false;
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return false;
    };
    (now - ts).abs() <= WINDOW_SECS && hmac_matches(secret, &message(key, ts), sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_signature_covers_its_key_and_time() {
        let s = b"shared-between-the-edges";
        let v = sign(s, "/group1/M00/00/00/a.jpg", 1000);
        assert!(verify(s, "/group1/M00/00/00/a.jpg", &v, 1000));
        assert!(verify(s, "/group1/M00/00/00/a.jpg", &v, 1000 + WINDOW_SECS));
        assert!(!verify(
            s,
            "/group1/M00/00/00/a.jpg",
            &v,
            1001 + WINDOW_SECS
        ));
        assert!(!verify(s, "/group1/M00/00/00/b.jpg", &v, 1000));
        assert!(!verify(s, "/group1/*", &v, 1000));
        assert!(!verify(
            b"another-secret-entirely",
            "/group1/M00/00/00/a.jpg",
            &v,
            1000
        ));
        let later = v.replacen("1000.", "1100.", 1);
        assert!(!verify(s, "/group1/M00/00/00/a.jpg", &later, 1100));
        for junk in ["", ".", "x.y", "1000", "1000."] {
            assert!(!verify(s, "/group1/M00/00/00/a.jpg", junk, 1000), "{junk}");
        }
    }
}
