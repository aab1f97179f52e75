//! The error log: `tracing` to stderr (`RUST_LOG`, default `info`), with Pingora's `log` records
//! forwarded into it, less the ones that report normal operation as a problem.

use std::io::IsTerminal;

/// Pingora messages (by prefix) that describe normal operation, and the level they deserve.
///
/// * the cache's header serializer works without a compression dictionary (the headers are
///   small); the warning comes on the first cache write of every process;
/// * a process started with `-u` waits for the running one to get `SIGQUIT` (`sleep 1` in the
///   documented reload) and logs an ERROR every second of that wait.
const NORMAL: &[(&str, log::Level)] = &[
    ("no header compression dictionary loaded", log::Level::Trace),
    ("No incoming socket transfer", log::Level::Debug),
];

/// The level a Pingora record is logged at.
pub fn pingora_level(record_level: log::Level, message: &str) -> log::Level {
    NORMAL
        .iter()
        .find(|(p, _)| message.starts_with(p))
        .map_or(record_level, |(_, l)| *l)
}

/// Forwards `log` records (Pingora's) to `tracing`.
struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let msg = record.args().to_string();
        let level = pingora_level(record.level(), &msg);
        let target = record.target();
        match level {
            log::Level::Error => tracing::error!(target: "pingora", "{target}: {msg}"),
            log::Level::Warn => tracing::warn!(target: "pingora", "{target}: {msg}"),
            log::Level::Info => tracing::info!(target: "pingora", "{target}: {msg}"),
            log::Level::Debug => tracing::debug!(target: "pingora", "{target}: {msg}"),
            log::Level::Trace => tracing::trace!(target: "pingora", "{target}: {msg}"),
        }
    }

    fn flush(&self) {}
}

/// Sets up the error log; call once, before the server starts.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .finish();
    // `finish` + our bridge rather than `init`, which would forward `log` records unfiltered.
    if tracing::subscriber::set_global_default(subscriber).is_ok()
        && log::set_boxed_logger(Box::new(Bridge)).is_ok()
    {
        // Records above the filter's level are not even formatted (Pingora debugs a lot).
        use tracing::level_filters::LevelFilter as T;
        log::set_max_level(match T::current() {
            T::OFF => log::LevelFilter::Off,
            T::ERROR => log::LevelFilter::Error,
            T::WARN => log::LevelFilter::Warn,
            T::INFO => log::LevelFilter::Info,
            T::DEBUG => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_pingora_messages_are_not_warnings() {
        let dict = "no header compression dictionary loaded - use set_compression_dict_content()";
        assert_eq!(pingora_level(log::Level::Warn, dict), log::Level::Trace);
        let wait = "No incoming socket transfer, sleep 1s and try again";
        assert_eq!(pingora_level(log::Level::Error, wait), log::Level::Debug);
        let real = "Unable to send listener sockets to new process: ENOENT";
        assert_eq!(pingora_level(log::Level::Error, real), log::Level::Error);
    }
}
