//! `[upload]` in the request path: `PUT`/`POST` store the body in FastDFS, `DELETE` deletes a file
//! (and purges it here and on the peers). Authenticated before a byte of the body is read; the
//! body then flows from the client to the storage through a small channel (`pump` reads it from
//! the client while `gateway::store` writes it to the storage).

use crate::clock::unix_now;
use std::io;

use bytes::Bytes;
use fdfs_client::client::{ErrorKind, MetaOp};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::Result;
use tokio::sync::mpsc;

use super::{client_ip, Ctx, Edge};
use crate::access::{Policy, Request, SignRequest};
use crate::gateway::auth::{self, Refused, Who};
use crate::gateway::digest::{self, Expected, Hasher};
use crate::gateway::store::{self, StoreError, Stored, Target};
use crate::gateway::{self as gw, Busy, ClientSlot, Gateway, Op};

pub(super) fn header<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// How the body arrives.
enum BodyKind {
    Length(u64),
    Chunked,
    Form { boundary: String },
}

/// What an upload needs from the request header, read before the body.
struct UploadRequest {
    body: BodyKind,
    expected: Option<Expected>,
    meta: Vec<(String, String)>,
}

/// The longest multipart boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

fn upload_request(req: &RequestHeader) -> std::result::Result<UploadRequest, String> {
    let ctype = header(req, "content-type").unwrap_or("");
    let body = if req.method == http::Method::POST && ctype.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(ctype).map_err(|_| "multipart without a boundary")?;
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
            return Err("multipart boundary of 1 to 70 characters expected".into());
        }
        BodyKind::Form { boundary }
    } else {
        match header(req, "content-length").map(str::parse::<u64>) {
            Some(Ok(n)) => BodyKind::Length(n),
            Some(Err(_)) => return Err("bad Content-Length".into()),
            None => BodyKind::Chunked,
        }
    };
    let expected = digest::expected(
        header(req, "content-md5"),
        header(req, "repr-digest"),
        header(req, "digest"),
    )?;
    let meta = req
        .headers
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix("x-fdfs-meta-")?;
            Some((name.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect();
    Ok(UploadRequest {
        body,
        expected,
        meta,
    })
}

/// Reads the request body into `tx`, at most `max` bytes; an error ends the body for the reader.
pub(super) async fn pump(
    session: &mut Session,
    tx: mpsc::Sender<io::Result<Bytes>>,
    max: u64,
) -> Result<(), u16> {
    let mut n = 0u64;
    loop {
        match session.read_request_body().await {
            Ok(Some(b)) => {
                n += b.len() as u64;
                if n > max {
                    let _ = tx
                        .send(Err(io::Error::other("over client_max_body_size")))
                        .await;
                    return Err(413);
                }
                if tx.send(Ok(b)).await.is_err() {
                    return Ok(()); // the store gave up first; its error is the answer
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => {
                let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                // 408 after client_body_timeout, as nginx; any other failure of the body is the
                // client's
                let code = if *e.etype() == pingora::ErrorType::ReadTimedout {
                    408
                } else {
                    400
                };
                tracing::info!("upload: request body: {e}");
                return Err(code);
            }
        }
    }
}

/// How long a connection answered before its request body was read goes on reading (and
/// dropping) the rest of the body before it closes.
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// nginx's lingering close: a socket closed with unread bytes sends a reset, which can destroy the
/// early answer (401, 403, 413...) before the client has read it; so what is left of the body is
/// read and dropped first, for at most [`LINGER`].
pub(super) async fn linger(session: &mut Session) {
    if !session.is_body_done() {
        let _ = tokio::time::timeout(LINGER, session.drain_request_body()).await;
    }
}

/// The status of an upload that stored nothing.
fn store_status(e: &StoreError) -> u16 {
    match e {
        StoreError::Body(_) | StoreError::Multipart(_) => 400,
        StoreError::Fdfs(f) => fdfs_status(f),
    }
}

/// The status of a failed call to FastDFS.
pub(super) fn fdfs_status(e: &fdfs_client::client::Error) -> u16 {
    match e.kind() {
        ErrorKind::Timeout => 504,
        ErrorKind::InvalidArgument => 400,
        // ENOSPC: the group is full
        ErrorKind::Status if e.status() == Some(28) => 507,
        ErrorKind::Status if e.is_not_found() => 404,
        _ => 502,
    }
}

impl Edge {
    /// Whether the request is an upload or a delete (with `[upload]`, every PUT, POST and DELETE).
    pub(super) fn is_gateway_request(&self, req: &RequestHeader) -> bool {
        self.gateway.is_some()
            && matches!(
                req.method,
                http::Method::PUT | http::Method::POST | http::Method::DELETE
            )
    }

    pub(super) async fn handle_gateway(
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
        let query = req.uri.query().map(str::to_string);
        let op = match gw::parse(&method, path, query.as_deref()) {
            Ok(op) => op,
            Err(why) => return self.refuse(session, ctx, 400, &why).await,
        };
        if matches!(op, Op::Delete { .. }) && !gw.settings.delete {
            return self
                .refuse(
                    session,
                    ctx,
                    405,
                    "deletes are off ([upload] delete = false)",
                )
                .await;
        }
        let (who, _slot) = match self.admit(session, ctx, gw, path, op.group()).await? {
            Ok(admitted) => admitted,
            Err(answered) => return Ok(answered),
        };
        match op {
            Op::Delete { file_id } => self.delete(session, ctx, gw, &file_id, &who).await,
            Op::Upload { group, ext } => {
                let target = Target {
                    client: &gw.client,
                    group,
                    ext,
                    block: gw.settings.block,
                };
                self.upload(session, ctx, gw, target, &who).await
            }
        }
    }

    /// Who the request is, and its slot within the client's limits; `Err` when it was answered
    /// instead (401, 403, 429).
    pub(super) async fn admit<'g>(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        gw: &'g Gateway,
        path: &str,
        group: &str,
    ) -> Result<std::result::Result<(Who, ClientSlot<'g>), bool>> {
        let req = session.req_header();
        let method = req.method.as_str().to_string();
        let query = req.uri.query().map(str::to_string);
        let client = client_ip(session);
        let request = Request {
            method: &method,
            path,
            query: query.as_deref(),
            client,
        };
        let authz = header(session.req_header(), "authorization");
        let bearers = &gw.settings.bearers;
        let who = match auth::authorize(
            bearers,
            &self.settings.access,
            authz,
            &request,
            group,
            unix_now(),
        ) {
            Ok(who) => who,
            Err(Refused::NoCredentials) => return self.unauthorized(session, ctx).await.map(Err),
            Err(e) => {
                let shown = client.map_or("unknown".into(), |c| c.to_string());
                tracing::warn!("403 {method} {path}: {e} (client {shown})");
                self.metrics.access_denied("upload_refused");
                return self.refuse(session, ctx, 403, "").await.map(Err);
            }
        };
        let ip = client.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        match gw.enter(ip, std::time::Instant::now()) {
            Ok(slot) => Ok(Ok((who, slot))),
            Err(Busy::Concurrent) => {
                let why = "too many uploads in progress from this address";
                self.refuse(session, ctx, 429, why).await.map(Err)
            }
            Err(Busy::Rate(secs)) => {
                tracing::info!("429 {method} {path}: {ip} over requests_per_minute_per_client");
                session.set_keepalive(None);
                let body = "429 Too Many Requests: over the uploads a minute from this address\n";
                let mut h = ResponseHeader::build(429, Some(4))?;
                h.insert_header("Retry-After", secs.to_string())?;
                self.add_cors(session.req_header(), &mut h)?;
                h.insert_header("Content-Type", "text/plain")?;
                h.insert_header("Content-Length", body.len().to_string())?;
                ctx.local_status = Some(429);
                session.write_response_header(Box::new(h), false).await?;
                session
                    .write_response_body(Some(Bytes::from(body)), true)
                    .await?;
                linger(session).await;
                Ok(Err(true))
            }
        }
    }

    async fn upload(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        gw: &Gateway,
        target: Target<'_>,
        who: &Who,
    ) -> Result<bool> {
        let up = match upload_request(session.req_header()) {
            Ok(u) => u,
            Err(why) => return self.refuse(session, ctx, 400, &why).await,
        };
        let max = self.settings.client_max_body_size;
        if matches!(up.body, BodyKind::Length(n) if n > max) {
            return self
                .refuse(session, ctx, 413, "over client_max_body_size")
                .await;
        }
        let mut hasher = Hasher::for_expected(up.expected.as_ref());
        let (stored, mut meta) = match self
            .stream_body(session, &target, up.body, max, &mut hasher)
            .await
        {
            Ok(s) => s,
            Err((code, why)) => return self.refuse(session, ctx, code, &why).await,
        };
        if !hasher.matches(up.expected.as_ref()) {
            store::delete_quietly(&gw.client, &stored.file_id).await;
            tracing::warn!(
                "upload by {who}: checksum mismatch, {} deleted",
                stored.file_id
            );
            return self
                .refuse(
                    session,
                    ctx,
                    400,
                    "checksum mismatch: the file was not stored",
                )
                .await;
        }
        meta.extend(up.meta);
        if !meta.is_empty() {
            if let Err(e) = gw
                .client
                .set_metadata(&stored.file_id, meta, MetaOp::Overwrite)
                .await
            {
                store::delete_quietly(&gw.client, &stored.file_id).await;
                let code = fdfs_status(&e);
                return self
                    .refuse(session, ctx, code, &format!("metadata not stored: {e}"))
                    .await;
            }
        }
        tracing::info!(
            "upload by {who}: {} ({} bytes)",
            stored.file_id,
            stored.size
        );
        self.created(session, ctx, gw, &stored).await
    }

    /// A body of unknown or large size: read from the client while it is written to the storage.
    async fn stream_body(
        &self,
        session: &mut Session,
        target: &Target<'_>,
        body: BodyKind,
        max: u64,
        hasher: &mut Hasher,
    ) -> std::result::Result<(Stored, Vec<(String, String)>), (u16, String)> {
        let (tx, rx) = mpsc::channel(4);
        let work = async {
            match body {
                BodyKind::Length(n) => store::streamed(target, rx, n, hasher)
                    .await
                    .map(|s| (s, vec![])),
                BodyKind::Chunked => store::chunked(target, rx, hasher)
                    .await
                    .map(|s| (s, vec![])),
                BodyKind::Form { boundary } => store::multipart(target, rx, boundary, hasher).await,
            }
        };
        let (pumped, stored) = tokio::join!(pump(session, tx, max), work);
        match (pumped, stored) {
            (Ok(()), Ok(s)) => Ok(s),
            (Err(code), Ok((s, _))) => {
                store::delete_quietly(target.client, &s.file_id).await;
                Err((code, "the request body failed".into()))
            }
            (Err(code), Err(e)) => Err((code, e.to_string())),
            (Ok(()), Err(e)) => {
                let code = store_status(&e);
                tracing::warn!("upload failed ({code}): {e}");
                Err((code, e.to_string()))
            }
        }
    }

    /// 201 with the JSON answer and `Location`.
    async fn created(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        gw: &Gateway,
        s: &Stored,
    ) -> Result<bool> {
        let url = self.download_url(gw, &s.file_id);
        let body = gw::answer(&s.file_id, s.size, &url);
        let mut h = ResponseHeader::build(201, Some(4))?;
        h.insert_header("Content-Type", "application/json")?;
        h.insert_header("Content-Length", body.len().to_string())?;
        h.insert_header("Location", url.as_str())?;
        self.add_cors(session.req_header(), &mut h)?;
        h.insert_header("Cache-Control", "no-store")?;
        ctx.local_status = Some(201);
        session.write_response_header(Box::new(h), false).await?;
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
        Ok(true)
    }

    /// The file's URL on this edge: signed (or with a token) when its downloads need it.
    fn download_url(&self, gw: &Gateway, file_id: &str) -> String {
        let path = format!("/{file_id}");
        let access = &self.settings.access;
        let now = unix_now();
        let query = match access.policy_of(&path) {
            Policy::Public => None,
            Policy::Signed => access.keys.sign(&SignRequest {
                method: "GET",
                path: &path,
                scope: None,
                exp: now.saturating_add(gw.settings.url_ttl),
                ip: None,
                kid: None,
                variant: None,
            }),
            Policy::Token => access
                .token
                .as_ref()
                .map(|t| format!("token={}&ts={now}", t.generate(&path, now))),
        };
        match query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
    }

    async fn delete(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        gw: &Gateway,
        file_id: &str,
        who: &Who,
    ) -> Result<bool> {
        let deleted = gw.client.delete(file_id).await;
        // purged whatever FastDFS said: a cached copy of a missing file is stale too, and so
        // are its query variants (resized pictures, `?filename=` downloads)
        let key = format!("/{file_id}");
        if let Err(e) = self.cache.purge_object(&key) {
            tracing::error!("delete of {file_id}: purge failed: {e}");
        }
        let peers = self.fan_out_purge(&key);
        match deleted {
            Ok(()) => {
                tracing::info!("delete by {who}: {file_id}{peers}");
                ctx.local_status = Some(204);
                let mut h = ResponseHeader::build(204, Some(1))?;
                self.add_cors(session.req_header(), &mut h)?;
                session.write_response_header(Box::new(h), true).await?;
                Ok(true)
            }
            Err(e) => {
                let code = fdfs_status(&e);
                tracing::warn!("delete by {who}: {file_id}: {e}");
                self.refuse(session, ctx, code, &e.to_string()).await
            }
        }
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub(super) async fn unauthorized(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        session.set_keepalive(None);
        let body = "401 Unauthorized: a bearer token or a signed URL is needed\n";
        let mut h = ResponseHeader::build(401, Some(4))?;
        h.insert_header("WWW-Authenticate", "Bearer realm=\"fdfs-edge\"")?;
        self.add_cors(session.req_header(), &mut h)?;
        h.insert_header("Content-Type", "text/plain")?;
        h.insert_header("Content-Length", body.len().to_string())?;
        ctx.local_status = Some(401);
        session.write_response_header(Box::new(h), false).await?;
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
        linger(session).await;
        Ok(true)
    }

    /// An error answer whose body says why (`why` empty: the status alone); the connection is
    /// not reused, since the request body may be unread (what is left of it is read and dropped
    /// for a while: [`linger`]).
    pub(super) async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        code: u16,
        why: &str,
    ) -> Result<bool> {
        session.set_keepalive(None);
        let reason = http::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let body = if why.is_empty() {
            format!("{code} {reason}\n")
        } else {
            format!("{code} {reason}: {why}\n")
        };
        let answered = self.respond(session, ctx, code, &body).await;
        linger(session).await;
        answered
    }
}
