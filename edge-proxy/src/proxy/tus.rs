//! tus 1.0 under `/tus/` (`gateway::tus` reads the requests): creation, offsets, appends,
//! termination and expiry, each carried out on the upload's appender file through the trackers.

use bytes::Bytes;
use fdfs_client::client::{MetaOp, UploadKind, UploadOptions};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;
use tokio::sync::mpsc;

use super::gateway::{fdfs_status, header, linger, pump};
use super::{Ctx, Edge};
use crate::clock::unix_now;
use crate::gateway::auth::{self, Who};
use crate::gateway::tus::{self, TusOp};
use crate::gateway::{store, Gateway};

/// An upload in progress as FastDFS holds it.
struct Progress {
    length: u64,
    expires: i64,
    offset: u64,
    /// The application's metadata (the `tus-*` keys left out).
    meta: Vec<(String, String)>,
}

/// The group a request on an existing upload is authorized for: its file's, or `auto` for the
/// bearer that created it through `auto` (the trackers may have put it in a group the bearer
/// holds no grant for; it may still finish or terminate its own upload). The upload's metadata
/// is read only for a known bearer holding `auto` and not the file's group, and handed on with
/// an `auto` grant so that the request does not read it again.
async fn tus_grant(gw: &Gateway, authorization: Option<&str>, file_id: &str) -> Grant {
    let group = file_id.split('/').next().unwrap_or("");
    if let Some(Ok(b)) = auth::bearer_of(&gw.settings.bearers, authorization) {
        if !b.may_act_on(group) && b.may_act_on("auto") {
            if let Ok(meta) = gw.client.get_metadata(file_id).await {
                if tus::owner_of(&meta) == Some(b.id.as_str()) {
                    return Grant {
                        group: "auto".into(),
                        meta: Some(meta),
                    };
                }
            }
        }
    }
    Grant {
        group: group.to_string(),
        meta: None,
    }
}

/// What [`tus_grant`] found.
struct Grant {
    group: String,
    /// The upload's metadata, when it was read to find its owner.
    meta: Option<Vec<(String, String)>>,
}

fn http_date(unix: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    httpdate::fmt_http_date(t)
}

impl Edge {
    /// Whether the request is for a tus upload (`/tus/` with `[upload]`).
    pub(super) fn is_tus_request(&self, path: &str) -> bool {
        self.gateway.is_some() && path.starts_with(tus::PREFIX)
    }

    pub(super) async fn handle_tus(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        path: &str,
    ) -> Result<bool> {
        let Some(gw) = self.gateway.as_ref() else {
            return Ok(false);
        };
        let req = session.req_header();
        let method = req.method.as_str().to_string();
        let op = match tus::parse(&method, path) {
            Ok(op) => op,
            Err((code, why)) => return self.tus_answer(session, ctx, code, &[], &why).await,
        };
        if op == TusOp::Options {
            let h = [
                ("Tus-Version", tus::VERSION.to_string()),
                ("Tus-Extension", tus::EXTENSIONS.to_string()),
                ("Tus-Max-Size", gw.settings.tus.max_size.to_string()),
            ];
            return self.tus_answer(session, ctx, 204, &h, "").await;
        }
        if header(req, "tus-resumable") != Some(tus::VERSION) {
            let h = [("Tus-Version", tus::VERSION.to_string())];
            return self
                .tus_answer(session, ctx, 412, &h, "Tus-Resumable: 1.0.0 expected")
                .await;
        }
        let grant = match &op {
            TusOp::Head { file_id } | TusOp::Patch { file_id } | TusOp::Delete { file_id } => {
                let authz = header(session.req_header(), "authorization");
                tus_grant(gw, authz, file_id).await
            }
            _ => Grant {
                group: op.group().to_string(),
                meta: None,
            },
        };
        let (who, _slot) = match self.admit(session, ctx, gw, path, &grant.group).await? {
            Ok(admitted) => admitted,
            Err(answered) => return Ok(answered),
        };
        let known = grant.meta;
        match op {
            TusOp::Create { group } => self.tus_create(session, ctx, gw, group, &who).await,
            TusOp::Head { file_id } => self.tus_head(session, ctx, gw, &file_id, known).await,
            TusOp::Patch { file_id } => {
                self.tus_patch(session, ctx, gw, &file_id, known, &who)
                    .await
            }
            TusOp::Delete { file_id } => {
                self.tus_terminate(session, ctx, gw, &file_id, known).await
            }
            TusOp::Options => Ok(false),
        }
    }

    /// An answer with `Tus-Resumable` and `headers`; `body` as text (none when empty).
    async fn tus_answer(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        code: u16,
        headers: &[(&str, String)],
        body: &str,
    ) -> Result<bool> {
        if code >= 400 {
            session.set_keepalive(None);
        }
        let body = if body.is_empty() {
            String::new()
        } else {
            format!("{code}: {body}\n")
        };
        let mut h = ResponseHeader::build(code, Some(headers.len() + 4))?;
        h.insert_header("Tus-Resumable", tus::VERSION)?;
        h.insert_header("Cache-Control", "no-store")?;
        self.add_cors(session.req_header(), &mut h)?;
        for (k, v) in headers {
            h.insert_header(k.to_string(), v.as_str())?;
        }
        let head = session.req_header().method == http::Method::HEAD;
        if code != 204 && !head {
            h.insert_header("Content-Length", body.len().to_string())?;
            h.insert_header("Content-Type", "text/plain")?;
        }
        ctx.local_status = Some(code);
        let no_body = body.is_empty() || head || code == 204;
        session.write_response_header(Box::new(h), no_body).await?;
        if !no_body {
            session
                .write_response_body(Some(Bytes::from(body)), true)
                .await?;
        }
        if code >= 400 {
            linger(session).await;
        }
        Ok(true)
    }

    /// The upload's state, or the status that says why there is none (404: not a tus upload in
    /// progress; 410: expired, and deleted). Its metadata is read unless `known`.
    async fn tus_progress(
        &self,
        gw: &Gateway,
        file_id: &str,
        known: Option<Vec<(String, String)>>,
    ) -> std::result::Result<Progress, (u16, String)> {
        let meta = match known {
            Some(meta) => meta,
            None => gw
                .client
                .get_metadata(file_id)
                .await
                .map_err(|e| (fdfs_status(&e), e.to_string()))?,
        };
        let Some((length, expires)) = tus::progress_of(&meta) else {
            return Err((404, "not an upload in progress".into()));
        };
        if unix_now() > expires {
            store::delete_quietly(&gw.client, file_id).await;
            return Err((410, "the upload expired".into()));
        }
        let info = gw
            .client
            .file_info(file_id)
            .await
            .map_err(|e| (fdfs_status(&e), e.to_string()))?;
        let meta = meta
            .into_iter()
            .filter(|(k, _)| !k.starts_with("tus-"))
            .collect();
        Ok(Progress {
            length,
            expires,
            offset: info.file_size,
            meta,
        })
    }

    async fn tus_create(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        gw: &Gateway,
        group: Option<String>,
        who: &Who,
    ) -> Result<bool> {
        let req = session.req_header();
        if req.headers.contains_key("upload-defer-length") {
            return self
                .tus_answer(
                    session,
                    ctx,
                    400,
                    &[],
                    "Upload-Defer-Length is not supported",
                )
                .await;
        }
        let length = match tus::number(header(req, "upload-length"), "Upload-Length") {
            Ok(n) => n,
            Err(why) => return self.tus_answer(session, ctx, 400, &[], &why).await,
        };
        if length > gw.settings.tus.max_size {
            return self
                .tus_answer(session, ctx, 413, &[], "over Tus-Max-Size")
                .await;
        }
        let meta = match tus::metadata(header(req, "upload-metadata")) {
            Ok(m) => m,
            Err(why) => return self.tus_answer(session, ctx, 400, &[], &why).await,
        };
        let ext = meta
            .iter()
            .find(|(k, _)| k == "filename")
            .and_then(|(_, v)| fdfs_client::file_id::file_ext_name(v))
            .filter(|e| e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or("")
            .to_string();
        let opts = UploadOptions {
            ext,
            group,
            kind: UploadKind::Appender,
            ..UploadOptions::default()
        };
        let id = match gw.client.upload(&[], &opts).await {
            Ok(id) => id,
            Err(e) => {
                return self
                    .tus_answer(session, ctx, fdfs_status(&e), &[], &e.to_string())
                    .await
            }
        };
        let expires = unix_now().saturating_add(gw.settings.tus.expires);
        let mut all = meta.clone();
        all.push((tus::META_LENGTH.into(), length.to_string()));
        all.push((tus::META_EXPIRES.into(), expires.to_string()));
        if let Who::Bearer(id) = who {
            all.push((tus::META_OWNER.into(), id.clone()));
        }
        if let Err(e) = gw.client.set_metadata(&id, all, MetaOp::Overwrite).await {
            store::delete_quietly(&gw.client, &id).await;
            return self
                .tus_answer(session, ctx, fdfs_status(&e), &[], &e.to_string())
                .await;
        }
        tracing::info!("tus upload by {who}: {id} created ({length} bytes expected)");
        let mut h = vec![
            ("Location", format!("{}{id}", tus::PREFIX)),
            ("Upload-Expires", http_date(expires)),
            ("Upload-Offset", "0".to_string()),
        ];
        if length == 0 {
            match self.tus_finish(gw, &id, meta).await {
                Ok(done) => h.push(("X-Fdfs-File-Id", done)),
                Err((code, why)) => return self.tus_answer(session, ctx, code, &[], &why).await,
            }
        }
        self.tus_answer(session, ctx, 201, &h, "").await
    }

    async fn tus_head(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        gw: &Gateway,
        file_id: &str,
        known: Option<Vec<(String, String)>>,
    ) -> Result<bool> {
        match self.tus_progress(gw, file_id, known).await {
            Ok(p) => {
                let h = [
                    ("Upload-Offset", p.offset.to_string()),
                    ("Upload-Length", p.length.to_string()),
                    ("Upload-Expires", http_date(p.expires)),
                ];
                self.tus_answer(session, ctx, 200, &h, "").await
            }
            Err((code, why)) => self.tus_answer(session, ctx, code, &[], &why).await,
        }
    }

    async fn tus_patch(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        gw: &Gateway,
        file_id: &str,
        known: Option<Vec<(String, String)>>,
        who: &Who,
    ) -> Result<bool> {
        let req = session.req_header();
        if header(req, "content-type") != Some(tus::PATCH_TYPE) {
            let why = format!("Content-Type: {} expected", tus::PATCH_TYPE);
            return self.tus_answer(session, ctx, 415, &[], &why).await;
        }
        let offset = match tus::number(header(req, "upload-offset"), "Upload-Offset") {
            Ok(n) => n,
            Err(why) => return self.tus_answer(session, ctx, 400, &[], &why).await,
        };
        let Ok(len) = tus::number(header(req, "content-length"), "Content-Length") else {
            return self
                .tus_answer(session, ctx, 411, &[], "a PATCH needs a Content-Length")
                .await;
        };
        let p = match self.tus_progress(gw, file_id, known).await {
            Ok(p) => p,
            Err((code, why)) => return self.tus_answer(session, ctx, code, &[], &why).await,
        };
        if offset != p.offset {
            let h = [("Upload-Offset", p.offset.to_string())];
            let why = format!("the upload is at offset {}", p.offset);
            return self.tus_answer(session, ctx, 409, &h, &why).await;
        }
        if offset.saturating_add(len) > p.length {
            return self
                .tus_answer(session, ctx, 413, &[], "past Upload-Length")
                .await;
        }
        if len > self.settings.client_max_body_size {
            return self
                .tus_answer(session, ctx, 413, &[], "PATCH over client_max_body_size")
                .await;
        }
        let (tx, rx) = mpsc::channel(4);
        let append = async {
            // owned here, so that it closes when the append ends: a pump still reading for an
            // append that failed stops at its next send instead of waiting on a full channel
            let mut rx = rx;
            gw.client.append_chunks(file_id, &mut rx, len).await
        };
        let (pumped, appended) = tokio::join!(pump(session, tx, len), append);
        if let Err(code) = pumped {
            // what reached the storage stays: the next HEAD gives the offset to resume from
            return self
                .tus_answer(session, ctx, code, &[], "the request body failed")
                .await;
        }
        if let Err(e) = appended {
            return self
                .tus_answer(session, ctx, fdfs_status(&e), &[], &e.to_string())
                .await;
        }
        let now_at = offset + len;
        let mut h = vec![
            ("Upload-Offset", now_at.to_string()),
            ("Upload-Expires", http_date(p.expires)),
        ];
        if now_at == p.length {
            match self.tus_finish(gw, file_id, p.meta).await {
                Ok(done) => {
                    tracing::info!(
                        "tus upload by {who}: {file_id} complete, {done} ({now_at} bytes)"
                    );
                    h.push(("X-Fdfs-File-Id", done));
                }
                Err((code, why)) => return self.tus_answer(session, ctx, code, &[], &why).await,
            }
        }
        self.tus_answer(session, ctx, 204, &h, "").await
    }

    /// A complete upload: renamed to a normal id (unless `tus_rename = false`), its metadata the
    /// application's alone; the file id it ends with.
    async fn tus_finish(
        &self,
        gw: &Gateway,
        file_id: &str,
        meta: Vec<(String, String)>,
    ) -> std::result::Result<String, (u16, String)> {
        let fail = |e: fdfs_client::client::Error| (fdfs_status(&e), e.to_string());
        let done = if gw.settings.tus.rename {
            gw.client
                .regenerate_appender_filename(file_id)
                .await
                .map_err(fail)?
        } else {
            file_id.to_string()
        };
        gw.client
            .set_metadata(&done, meta, MetaOp::Overwrite)
            .await
            .map_err(fail)?;
        Ok(done)
    }

    async fn tus_terminate(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        gw: &Gateway,
        file_id: &str,
        known: Option<Vec<(String, String)>>,
    ) -> Result<bool> {
        if let Err((code, why)) = self.tus_progress(gw, file_id, known).await {
            return self.tus_answer(session, ctx, code, &[], &why).await;
        }
        match gw.client.delete(file_id).await {
            Ok(()) => self.tus_answer(session, ctx, 204, &[], "").await,
            Err(e) => {
                self.tus_answer(session, ctx, fdfs_status(&e), &[], &e.to_string())
                    .await
            }
        }
    }
}
