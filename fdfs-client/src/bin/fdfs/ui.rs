//! What the user sees besides errors: the progress bar on stderr and the results on stdout, as text or
//! as one JSON object (`--json`).

use std::io::Write as _;

use serde_json::{json, Value};

/// Transfers at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN: u64 = 4 * 1024 * 1024;

/// How results are shown: `--json` or text, and whether a progress bar may be drawn.
pub struct Ui {
    pub json: bool,
    pub progress: bool,
}

impl Ui {
    /// A progress bar for a transfer of `len` bytes; a hidden one for small transfers, `--no-progress`
    /// or a stderr that is not a terminal.
    pub fn bar(&self, len: u64) -> indicatif::ProgressBar {
        if !self.progress || len < PROGRESS_MIN {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(len),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            pb.set_style(style);
        }
        pb
    }

    /// Prints `v` in JSON mode; nothing otherwise (commands that succeed silently, like the C tools).
    pub fn print_json(&self, v: Value) {
        if self.json {
            print_json(&v);
        }
    }

    /// A new file id: the id alone on a line, or `{"file_id": ...}`.
    pub fn print_id(&self, id: &str) {
        if self.json {
            print_json(&json!({ "file_id": id }));
        } else {
            print_stdout(&format!("{id}\n"));
        }
    }
}

/// One JSON object on a line of stdout.
pub fn print_json(v: &Value) {
    print_stdout(&format!("{v}\n"));
}

/// `s` on stdout, flushed.
pub fn print_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not worth a panic.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}
