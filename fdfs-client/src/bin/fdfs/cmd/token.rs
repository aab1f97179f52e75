//! `fdfs token FILE_ID`: the anti-steal token parameters, computed locally (no server is asked).

use clap::Args;
use fdfs_client::conf::client::ClientConf;
use serde_json::json;

use crate::failure::{fail, Failure};
use crate::ui::{print_json, print_stdout, Ui};

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The file id (group/M00/...).
    file_id: String,
    /// The secret key (default: http.anti_steal.secret_key of the config).
    #[arg(long)]
    secret: Option<String>,
    /// The timestamp (default: now).
    #[arg(long)]
    ts: Option<i64>,
}

impl TokenArgs {
    /// Whether the config is needed (for its secret key).
    pub fn needs_conf(&self) -> bool {
        self.secret.is_none()
    }
}

pub fn run(ui: &Ui, args: &TokenArgs, conf: Option<&ClientConf>) -> Result<(), Failure> {
    let secret = match (&args.secret, conf) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) if !c.http.anti_steal.secret_key.is_empty() => {
            c.http.anti_steal.secret_key.clone()
        }
        _ => {
            return Err(fail(
                "no secret key: pass --secret or set http.anti_steal.secret_key in the config",
            ))
        }
    };
    let rest = match args.file_id.split_once('/') {
        Some((g, rest)) if !g.is_empty() && !rest.is_empty() => rest,
        _ => {
            return Err(fail(format!(
                "invalid file id {:?}: want group/M00/...",
                args.file_id
            )))
        }
    };
    let ts = match args.ts {
        Some(ts) => ts,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    };
    let tok = fdfs_client::token::generate(rest, &secret, ts);
    if ui.json {
        print_json(
            &json!({ "file_id": args.file_id, "token": tok, "ts": ts, "param": format!("token={tok}&ts={ts}") }),
        );
    } else {
        print_stdout(&format!("token={tok}&ts={ts}\n"));
    }
    Ok(())
}
