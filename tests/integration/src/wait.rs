//! The one way the suites wait for something another process or thread does (a server listening, a log
//! line, replication, a child exiting): poll until it holds, up to a generous deadline.
//!
//! Not a timed assertion: the deadline only bounds how long a broken test hangs, nothing checks how
//! fast the condition came true. Poll results are [`Outcome`]s: `bool`, `Option<T>` (`Some` = done), or
//! `Result<T, E>` (`Err` says why not yet; the last one is in the panic message).

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is checked again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What a poll returns: done with a value, or not yet (with a reason for the failure message).
pub trait Outcome {
    type Value;
    fn into_result(self) -> Result<Self::Value, String>;
}

impl Outcome for bool {
    type Value = ();
    fn into_result(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err(String::new())
        }
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

impl<T, E: Display> Outcome for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Calls `check` until it is done or `within` has passed; `Err` holds the last "not yet" reason.
pub fn poll<O: Outcome>(
    within: Duration,
    mut check: impl FnMut() -> O,
) -> Result<O::Value, String> {
    let deadline = Instant::now() + within;
    loop {
        let last = match check().into_result() {
            Ok(v) => return Ok(v),
            Err(why) => why,
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// [`poll`], panicking with `what` (and the last "not yet" reason) when the deadline passes.
#[track_caller]
pub fn eventually<O: Outcome>(
    within: Duration,
    what: impl Display,
    check: impl FnMut() -> O,
) -> O::Value {
    match poll(within, check) {
        Ok(v) => v,
        Err(why) => panic!("{}", failure(&what, within, &why)),
    }
}

/// [`poll`] for async checks (the suites on tokio): sleeps with tokio between checks.
pub async fn poll_async<O: Outcome, F: Future<Output = O>>(
    within: Duration,
    mut check: impl FnMut() -> F,
) -> Result<O::Value, String> {
    let deadline = Instant::now() + within;
    loop {
        let last = match check().await.into_result() {
            Ok(v) => return Ok(v),
            Err(why) => why,
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`eventually`] for async checks.
pub async fn eventually_async<O: Outcome, F: Future<Output = O>>(
    within: Duration,
    what: impl Display,
    check: impl FnMut() -> F,
) -> O::Value {
    match poll_async(within, check).await {
        Ok(v) => v,
        Err(why) => panic!("{}", failure(&what, within, &why)),
    }
}

fn failure(what: &dyn Display, within: Duration, why: &str) -> String {
    if why.is_empty() {
        format!("{what} (waited {within:?})")
    } else {
        format!("{what} (waited {within:?}): {why}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        let mut n = 0;
        assert_eq!(
            poll(Duration::from_secs(5), || {
                n += 1;
                n >= 3
            }),
            Ok(())
        );
        assert_eq!(poll(Duration::ZERO, || Some(7)), Ok(7));
        assert_eq!(
            poll(Duration::ZERO, || Err::<(), _>("not yet")),
            Err("not yet".to_owned())
        );
        assert_eq!(poll(Duration::ZERO, || None::<u8>), Err(String::new()));
    }

    #[test]
    #[should_panic(expected = "the thing never happened")]
    fn eventually_panics_with_what() {
        eventually(Duration::ZERO, "the thing never happened", || false);
    }
}
