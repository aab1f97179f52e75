//! What the commands read besides their flags: upload sources (a file or stdin, of known length) and
//! `NAME=VALUE` metadata pairs.

use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::failure::{fail, Failure};

/// Stdin up to this size is buffered in memory before an upload; beyond, it is spooled to a temp file.
const STDIN_MEM_MAX: usize = 8 * 1024 * 1024;

/// `NAME=VALUE` arguments as pairs; the name must not be empty, the value may (and may hold `=`).
pub fn parse_pairs(pairs: &[String]) -> Result<Vec<(String, String)>, Failure> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(fail(format!("invalid metadata {p:?}: want NAME=VALUE"))),
        })
        .collect()
}

/// An upload source of known length: a file, or stdin (buffered or spooled to an unlinked temp file).
pub struct Input {
    pub reader: Box<dyn AsyncRead + Unpin + Send>,
    pub len: u64,
    /// The extension of the input file's name, as `fdfs_upload_file` takes it.
    pub ext: Option<String>,
}

impl Input {
    /// `input` is a path, or `-` for stdin.
    pub async fn open(input: &str) -> Result<Input, Failure> {
        if input == "-" {
            return Self::stdin().await;
        }
        let path = Path::new(input);
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| fail(format!("cannot open {input}: {e}")))?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| fail(format!("cannot stat {input}: {e}")))?;
        if !meta.is_file() {
            return Err(fail(format!("{input} is not a regular file")));
        }
        // As fdfs_upload_file: `x.tar.gz` is uploaded as `tar.gz`, not `gz`.
        let ext = fdfs_client::file_id::file_ext_name(input)
            .filter(|e| !e.is_empty())
            .map(str::to_owned);
        Ok(Input {
            reader: Box::new(file),
            len: meta.len(),
            ext,
        })
    }

    async fn stdin() -> Result<Input, Failure> {
        let err = |e: std::io::Error| fail(format!("cannot read stdin: {e}"));
        // A regular file redirected to stdin has a length: stream it as it is.
        if let Ok(meta) = std::fs::metadata("/dev/stdin") {
            if meta.is_file() {
                if let Ok(file) = tokio::fs::File::open("/dev/stdin").await {
                    return Ok(Input {
                        reader: Box::new(file),
                        len: meta.len(),
                        ext: None,
                    });
                }
            }
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = stdin.read(&mut chunk).await.map_err(err)?;
            if n == 0 {
                let len = buf.len() as u64;
                return Ok(Input {
                    reader: Box::new(std::io::Cursor::new(buf)),
                    len,
                    ext: None,
                });
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            if buf.len() > STDIN_MEM_MAX {
                break;
            }
        }
        // Too big for memory: spool to a temp file, unlinked at once (it lives while it is open).
        let path = std::env::temp_dir().join(format!(
            "fdfs-stdin-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| fail(format!("cannot create a temp file {}: {e}", path.display())))?;
        let _ = std::fs::remove_file(&path);
        let spool_err =
            |e: std::io::Error| fail(format!("cannot spool stdin to {}: {e}", path.display()));
        file.write_all(&buf).await.map_err(spool_err)?;
        drop(buf);
        tokio::io::copy(&mut stdin, &mut file)
            .await
            .map_err(spool_err)?;
        file.flush().await.map_err(spool_err)?;
        let len = file
            .seek(std::io::SeekFrom::End(0))
            .await
            .map_err(spool_err)?;
        file.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(spool_err)?;
        Ok(Input {
            reader: Box::new(file),
            len,
            ext: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs() {
        let p = parse_pairs(&["a=1".into(), "b=x=y".into(), "c=".into()])
            .ok()
            .unwrap_or_default();
        assert_eq!(
            p,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x=y".into()),
                ("c".into(), "".into())
            ]
        );
        assert!(parse_pairs(&["=1".into()]).is_err());
        assert!(parse_pairs(&["nothing".into()]).is_err());
    }
}
