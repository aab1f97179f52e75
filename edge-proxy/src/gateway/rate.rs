//! Uploads and deletes per client address and minute (`[upload] requests_per_minute_per_client`):
//! a token bucket per address holding a minute's worth, refilled continuously. Decisions only; the
//! caller passes `now`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Addresses tracked before the idle ones (with a full bucket) are forgotten.
const TRACKED: usize = 10_000;

#[derive(Debug)]
pub struct RateLimit {
    per_minute: f64,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl RateLimit {
    /// `per_minute` requests a minute per address (0: no limit).
    pub fn new(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute: f64::from(per_minute),
            buckets: HashMap::new(),
        }
    }

    /// Takes one request of `ip` at `now`; `Err` is how long until the next one is allowed.
    pub fn take(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0.0 {
            return Ok(());
        }
        let per_sec = self.per_minute / 60.0;
        if self.buckets.len() >= TRACKED {
            let full = self.per_minute;
            self.buckets
                .retain(|_, (t, at)| *t + now.duration_since(*at).as_secs_f64() * per_sec < full);
        }
        let (tokens, at) = self.buckets.entry(ip).or_insert((self.per_minute, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(self.per_minute);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_of_requests_then_the_refill() {
        let mut r = RateLimit::new(60);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..60 {
            assert!(r.take(a, t0).is_ok());
        }
        let wait = r.take(a, t0).expect_err("the 61st");
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(r.take(b, t0).is_ok(), "another address has its own");
        assert!(
            r.take(a, t0 + Duration::from_secs(1)).is_ok(),
            "one a second comes back"
        );
        assert!(r.take(a, t0 + Duration::from_secs(1)).is_err());
        assert!(RateLimit::new(0).take(a, t0).is_ok());
    }
}
