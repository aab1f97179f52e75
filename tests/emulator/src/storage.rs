//! The storage server: one accept loop per incarnation, one task per connection.
//!
//! Every request is decoded with `fdfs_client::proto`; file names with `fdfs_client::file_id`.
//! Content is streamed between the socket and the disk (uploads never sit in memory).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fdfs_client::file_id::{
    encode_logic_name, slave_name, FileInfo, FileKind, LogicName, NameSpec, SizeField, SlotType,
    TrunkLocation, TrunkSlotHeader, TRUNK_HEADER_SIZE,
};
use fdfs_client::proto::{
    cmd, status, AppendRequest, DeleteFile, DownloadRequest, FileInfoReply, GetMetadata, Header,
    MetaOp, ModifyRequest, QueryFileInfo, RegenerateAppenderFilename, Request, SetMetadataRequest,
    StreamPrefix, TruncateRequest, UploadReply, UploadRequest, UploadSlaveRequest, HEADER_LEN,
};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, warn};

use crate::state::{bump, Node, Shared, SyncOp};
use crate::store::{self, Located};

/// Largest in-memory request body (metadata, names).
const MAX_SMALL_BODY: u64 = 2 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

struct Ctx<'a> {
    sh: &'a Arc<Shared>,
    idx: usize,
    node: &'a Node,
}

impl Ctx<'_> {
    fn group(&self) -> &str {
        &self.node.info.group
    }
}

/// Serves one connection (the accept loop is `state::accept_loop`, started by `Cluster`).
pub(crate) async fn serve(sh: Arc<Shared>, idx: usize, mut s: TcpStream) -> io::Result<()> {
    let _ = s.set_nodelay(true);
    let Some(node) = sh.nodes.get(idx) else {
        return Ok(());
    };
    let ctx = Ctx { sh: &sh, idx, node };
    let mut hb = [0u8; HEADER_LEN];
    let mut frozen = node.frozen.subscribe();
    loop {
        match s.read_exact(&mut hb).await {
            Ok(_) => crate::state::quick_ack(&s),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        while *frozen.borrow_and_update() {
            if frozen.changed().await.is_err() {
                break;
            }
        }
        let h = Header::decode(&hb);
        debug!(
            storage = idx,
            cmd = h.cmd,
            len = h.body_len,
            "storage request"
        );
        let flow = match h.cmd {
            cmd::UPLOAD_FILE | cmd::UPLOAD_APPENDER_FILE => upload(&ctx, &mut s, h).await?,
            cmd::UPLOAD_SLAVE_FILE => upload_slave(&ctx, &mut s, h).await?,
            cmd::APPEND_FILE | cmd::MODIFY_FILE => append_or_modify(&ctx, &mut s, h).await?,
            cmd::DOWNLOAD_FILE => download(&ctx, &mut s, h).await?,
            cmd::QUIT => return Ok(()),
            _ => {
                let Some(body) = read_small(&mut s, h).await? else {
                    return Ok(());
                };
                let (st, reply) = small(&ctx, h, &body).await;
                send(&mut s, st, &reply).await?;
                Flow::Continue
            }
        };
        if flow == Flow::Close {
            return Ok(());
        }
    }
}

/// Reads a whole small body; on an over-long one replies EINVAL and returns `None` (close).
async fn read_small(s: &mut TcpStream, h: Header) -> io::Result<Option<Vec<u8>>> {
    if h.body_len > MAX_SMALL_BODY {
        send(s, status::EINVAL, &[]).await?;
        return Ok(None);
    }
    let mut body = vec![0u8; usize::try_from(h.body_len).unwrap_or(0)];
    s.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// Sends a reply. Like a FastDFS 6.16 storage (`sock_send_done_callback`), a bare EINVAL reply is
/// followed by closing the connection: the error returned here ends `serve`.
async fn send(s: &mut TcpStream, st: u8, body: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&Header::reply(st, body.len() as u64).encode());
    out.extend_from_slice(body);
    s.write_all(&out).await?;
    if st == status::EINVAL && body.is_empty() {
        let _ = s.shutdown().await;
        return Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "closed after an EINVAL reply, as FastDFS does",
        ));
    }
    Ok(())
}

/// Discards `n` bytes of request content.
async fn drain(s: &mut TcpStream, n: u64) -> io::Result<()> {
    let mut sink = tokio::io::sink();
    let copied = tokio::io::copy(&mut (&mut *s).take(n), &mut sink).await?;
    if copied < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Refuses a stream request after its prefix: discards its `content` bytes and replies `st` with no
/// body (a bare EINVAL then closes the connection, see `send`).
async fn refuse(s: &mut TcpStream, content: u64, st: u8) -> io::Result<Flow> {
    drain(s, content).await?;
    send(s, st, &[]).await?;
    Ok(Flow::Continue)
}

/// Reads a stream request's prefix. `Err(flow)` when it already answered (EINVAL) and the
/// connection must close.
async fn read_prefix<P: StreamPrefix>(
    s: &mut TcpStream,
    h: Header,
) -> io::Result<Result<(P, u64), Flow>> {
    if h.body_len < P::FIXED_LEN as u64 {
        if let Some(_body) = read_small(s, h).await? {
            send(s, status::EINVAL, &[]).await?;
            return Ok(Err(Flow::Continue));
        }
        return Ok(Err(Flow::Close));
    }
    let mut buf = vec![0u8; P::FIXED_LEN];
    s.read_exact(&mut buf).await?;
    let total = match P::prefix_len_from_fixed(&buf) {
        Ok(n) if (n as u64) <= h.body_len && n <= P::MAX_PREFIX => n,
        _ => {
            send(s, status::EINVAL, &[]).await?;
            return Ok(Err(Flow::Close));
        }
    };
    let fixed = buf.len();
    buf.resize(total, 0);
    if let Some(rest) = buf.get_mut(fixed..) {
        s.read_exact(rest).await?;
    }
    match P::decode_prefix_checked(&h, &buf) {
        Ok((p, n)) => {
            let content = h.body_len - n as u64;
            Ok(Ok((p, content)))
        }
        Err(e) => {
            debug!(error = %e, "bad stream prefix");
            send(s, status::EINVAL, &[]).await?;
            Ok(Err(Flow::Close))
        }
    }
}

/// Streams `n` bytes from the socket into `f` (at its current position), returning the crc32.
async fn recv_into(s: &mut TcpStream, f: &mut tokio::fs::File, n: u64) -> io::Result<u32> {
    let mut h = crc32fast::Hasher::new();
    let mut left = n;
    let mut buf = vec![0u8; CHUNK];
    while left > 0 {
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let got = s.read(chunk).await?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let data = chunk.get(..got).unwrap_or_default();
        h.update(data);
        f.write_all(data).await?;
        left -= got as u64;
    }
    f.flush().await?;
    Ok(h.finalize())
}

fn random_digits(n: usize) -> String {
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + r.gen_range(0..10u8)))
        .collect()
}

fn random23() -> u32 {
    rand::thread_rng().gen_range(0..=SizeField::RANDOM_MASK)
}

/// FastDFS's `fdfs_validate_filename` on the 6-byte field: letters, digits, `-`, `_` and `.`
/// (`tar.gz` is one extension, as `fdfs_upload_file x.tar.gz` sends it).
fn valid_ext(ext: &str) -> bool {
    fdfs_client::file_id::valid_ext(ext)
}

/// The next `(HH, HH)` sub-directory (FastDFS round robin: rotate every N files).
fn next_subdirs(ctx: &Ctx<'_>) -> (u8, u8) {
    let n = u32::from(ctx.sh.cfg.subdir_count_per_path.max(1));
    let rotate = ctx.sh.cfg.file_distribute_rotate_count.max(1);
    let c = ctx
        .node
        .files_written
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let k = c / rotate;
    let low = k % n;
    let high = (k / n) % n;
    (high as u8, low as u8)
}

fn pick_store_path(ctx: &Ctx<'_>, requested: u8) -> Option<u8> {
    let count = ctx.node.info.store_paths.len();
    if requested == fdfs_client::proto::STORE_PATH_ANY {
        let n = ctx
            .node
            .next_path
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return u8::try_from(n as usize % count.max(1)).ok();
    }
    (usize::from(requested) < count).then_some(requested)
}

struct Target {
    logic: LogicName,
    info: Option<FileInfo>,
    store: PathBuf,
}

impl Target {
    fn data_path(&self) -> PathBuf {
        store::data_path(&self.store, &self.logic)
    }
    fn rel(&self) -> String {
        self.logic.true_name().to_string()
    }
    fn is_appender(&self) -> bool {
        self.info
            .as_ref()
            .is_some_and(|i| i.kind == FileKind::Appender)
    }
    fn locate(&self) -> Option<Located> {
        store::locate(&self.store, &self.logic, self.info.as_ref())
    }
}

/// Parses and checks a logic name against this storage; `Err(EINVAL)` for a malformed one.
fn resolve(ctx: &Ctx<'_>, filename: &str) -> Result<Target, u8> {
    let logic = LogicName::parse(filename).map_err(|_| status::EINVAL)?;
    logic
        .check_store_path_index(ctx.node.info.store_paths.len())
        .map_err(|_| status::EINVAL)?;
    let name = logic.file_name();
    if name.is_empty() || name.starts_with('.') || name.contains('/') {
        return Err(status::EINVAL);
    }
    let store = ctx
        .node
        .store_path(logic.store_path_index())
        .cloned()
        .ok_or(status::EINVAL)?;
    let info = FileInfo::decode(&logic).ok();
    Ok(Target { logic, info, store })
}

/// Fields of a new name that vary per call (the rest comes from the storage).
struct NewName<'a> {
    store_idx: u8,
    subdirs: (u8, u8),
    ts: u64,
    size_field: SizeField,
    crc: u32,
    trunk: Option<TrunkLocation>,
    ext: &'a str,
    digits: &'a str,
}

fn encode_name(ctx: &Ctx<'_>, n: NewName<'_>) -> Result<String, u8> {
    encode_logic_name(&NameSpec {
        source: ctx.node.source,
        timestamp: i64::try_from(n.ts).unwrap_or(0),
        size_field: n.size_field,
        crc32: n.crc,
        trunk: n.trunk,
        store_path_index: n.store_idx,
        subdirs: n.subdirs,
        ext: n.ext,
        random_digits: n.digits,
    })
    .map_err(|_| status::EINVAL)
}

fn digits_for(ext: &str) -> String {
    random_digits(if ext.is_empty() { 7 } else { 6 - ext.len() })
}

async fn upload(ctx: &Ctx<'_>, s: &mut TcpStream, h: Header) -> io::Result<Flow> {
    let (req, content) = match read_prefix::<UploadRequest>(s, h).await? {
        Ok(v) => v,
        Err(flow) => return Ok(flow),
    };
    bump(&ctx.node.counters.upload, 1);
    let Some(store_idx) = pick_store_path(ctx, req.store_path_index) else {
        return refuse(s, content, status::EINVAL).await;
    };
    if !valid_ext(&req.ext) {
        return refuse(s, content, status::EINVAL).await;
    }
    let Some(store) = ctx.node.store_path(store_idx).cloned() else {
        return refuse(s, content, status::EINVAL).await;
    };
    let cfg = &ctx.sh.cfg;
    if cfg.trunk && !req.appender && content <= u64::from(cfg.slot_max_size) {
        return upload_trunk(ctx, s, &req.ext, content, store_idx, &store).await;
    }
    let subdirs = next_subdirs(ctx);
    let dir = store::data_dir(&store).join(format!("{:02X}/{:02X}", subdirs.0, subdirs.1));
    let d2 = dir.clone();
    let prepared = tokio::task::spawn_blocking(move || store::ensure_dir(&d2))
        .await
        .map_err(io::Error::other)?;
    if let Err(e) = prepared {
        warn!(error = %e, dir = %dir.display(), "cannot create data dir");
        return refuse(s, content, status::EIO).await;
    }
    let tmp = store::temp_path(&dir);
    let crc = match receive_to_new_file(s, &tmp, content).await {
        Ok(c) => c,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    let ts = ctx.sh.id_time();
    let size_field = if req.appender {
        SizeField::compose(0, true, false, Some(random23()))
    } else if content > u64::from(u32::MAX) {
        SizeField::compose(content, false, false, None)
    } else {
        SizeField::compose(content, false, false, Some(random23()))
    };
    let mut stored = None;
    for _ in 0..16 {
        let digits = digits_for(&req.ext);
        let name = match encode_name(
            ctx,
            NewName {
                store_idx,
                subdirs,
                ts,
                size_field,
                crc,
                trunk: None,
                ext: &req.ext,
                digits: &digits,
            },
        ) {
            Ok(n) => n,
            Err(st) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                send(s, st, &[]).await?;
                return Ok(Flow::Continue);
            }
        };
        let Ok(logic) = LogicName::parse(&name) else {
            continue;
        };
        let path = store::data_path(&store, &logic);
        if tokio::fs::try_exists(&path).await.unwrap_or(true) {
            continue;
        }
        tokio::fs::rename(&tmp, &path).await?;
        stored = Some((logic.true_name().to_string(), name));
        break;
    }
    let Some((rel, filename)) = stored else {
        let _ = tokio::fs::remove_file(&tmp).await;
        send(s, status::EEXIST, &[]).await?;
        return Ok(Flow::Continue);
    };
    let op = SyncOp::Mirror { store_idx, rel };
    uploaded(ctx, s, content, op, filename).await
}

/// Ends a successful upload: counts its `content` bytes, queues `op` for the group's other
/// storages and answers with the new file's name.
async fn uploaded(
    ctx: &Ctx<'_>,
    s: &mut TcpStream,
    content: u64,
    op: SyncOp,
    filename: String,
) -> io::Result<Flow> {
    bump(&ctx.node.counters.upload_bytes, content);
    ctx.sh.replicate(ctx.idx, op);
    let reply = UploadReply {
        group: ctx.group().to_string(),
        filename,
    };
    send(s, status::OK, &reply.encode()).await?;
    Ok(Flow::Continue)
}

async fn receive_to_new_file(s: &mut TcpStream, path: &Path, n: u64) -> io::Result<u32> {
    let p = path.to_path_buf();
    let f = tokio::task::spawn_blocking(move || store::create_file(&p))
        .await
        .map_err(io::Error::other)??;
    let mut f = tokio::fs::File::from_std(f);
    recv_into(s, &mut f, n).await
}

async fn upload_trunk(
    ctx: &Ctx<'_>,
    s: &mut TcpStream,
    ext: &str,
    content: u64,
    store_idx: u8,
    store: &Path,
) -> io::Result<Flow> {
    let cfg = &ctx.sh.cfg;
    let align = u64::from(cfg.trunk_alloc_alignment_size.max(1));
    let need = (TRUNK_HEADER_SIZE as u64 + content).max(u64::from(cfg.slot_min_size));
    let alloc = need.div_ceil(align) * align;
    let container_size = u64::from(cfg.trunk_file_size);
    let (trunk_id, offset) = {
        let Some(group) = ctx.sh.groups.get(ctx.node.group_idx) else {
            return refuse(s, content, status::EIO).await;
        };
        let Ok(mut t) = group.trunk.lock() else {
            return refuse(s, content, status::EIO).await;
        };
        if t.trunk_id == 0 || t.next_offset + alloc > container_size {
            t.trunk_id += 1;
            t.next_offset = 0;
        }
        let off = t.next_offset;
        t.next_offset += alloc;
        (t.trunk_id, off)
    };
    let ts = ctx.sh.id_time();
    let loc = TrunkLocation {
        trunk_id,
        offset: u32::try_from(offset).unwrap_or(u32::MAX),
        alloc_size: u32::try_from(alloc).unwrap_or(u32::MAX),
    };
    let subdirs = (0u8, 0u8);
    let rel = format!(
        "{:02X}/{:02X}/{}",
        subdirs.0,
        subdirs.1,
        loc.container_name()
    );
    let container = store::data_dir(store).join(&rel);
    let c2 = container.clone();
    let opened = tokio::task::spawn_blocking(move || store::open_container(&c2, container_size))
        .await
        .map_err(io::Error::other)?;
    let f = match opened {
        Ok(f) => f,
        Err(e) => {
            warn!(error = %e, "cannot open trunk container");
            return refuse(s, content, status::EIO).await;
        }
    };
    let mut f = tokio::fs::File::from_std(f);
    f.seek(io::SeekFrom::Start(offset + TRUNK_HEADER_SIZE as u64))
        .await?;
    let crc = recv_into(s, &mut f, content).await?;
    let size_field = SizeField::compose(content, false, true, Some(random23()));
    let digits = digits_for(ext);
    let name = match encode_name(
        ctx,
        NewName {
            store_idx,
            subdirs,
            ts,
            size_field,
            crc,
            trunk: Some(loc),
            ext,
            digits: &digits,
        },
    ) {
        Ok(n) => n,
        Err(st) => {
            send(s, st, &[]).await?;
            return Ok(Flow::Continue);
        }
    };
    let mut formatted_ext = [0u8; 7];
    for (o, c) in formatted_ext
        .iter_mut()
        .zip(name.as_bytes().iter().skip(name.len().saturating_sub(7)))
    {
        *o = *c;
    }
    let header = TrunkSlotHeader {
        slot_type: SlotType::Regular,
        alloc_size: loc.alloc_size,
        file_size: u32::try_from(content).unwrap_or(u32::MAX),
        crc32: crc,
        mtime: u32::try_from(ts).unwrap_or(0),
        formatted_ext,
    };
    f.seek(io::SeekFrom::Start(offset)).await?;
    f.write_all(&header.to_bytes()).await?;
    f.flush().await?;
    let op = SyncOp::TrunkRange {
        store_idx,
        rel,
        offset,
        len: alloc,
    };
    uploaded(ctx, s, content, op, name).await
}

async fn upload_slave(ctx: &Ctx<'_>, s: &mut TcpStream, h: Header) -> io::Result<Flow> {
    let (req, content) = match read_prefix::<UploadSlaveRequest>(s, h).await? {
        Ok(v) => v,
        Err(flow) => return Ok(flow),
    };
    bump(&ctx.node.counters.upload, 1);
    let master = match resolve(ctx, &req.master_filename) {
        Ok(t) => t,
        Err(st) => {
            return refuse(s, content, st).await;
        }
    };
    // The storage checks the slave's extension like an upload's (fdfs_validate_filename).
    if !valid_ext(&req.ext) {
        return refuse(s, content, status::EINVAL).await;
    }
    let ext = (!req.ext.is_empty()).then_some(req.ext.as_str());
    let name = match slave_name(&req.master_filename, &req.prefix, ext) {
        Ok(n) => n,
        Err(_) => {
            return refuse(s, content, status::EINVAL).await;
        }
    };
    let Ok(slave) = resolve(ctx, &name) else {
        return refuse(s, content, status::EINVAL).await;
    };
    let master_present = tokio::task::spawn_blocking(move || master.locate().is_some())
        .await
        .unwrap_or(false);
    if !master_present {
        return refuse(s, content, status::ENOENT).await;
    }
    let path = slave.data_path();
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return refuse(s, content, status::EEXIST).await;
    }
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let d2 = dir.clone();
    tokio::task::spawn_blocking(move || store::ensure_dir(&d2))
        .await
        .map_err(io::Error::other)??;
    let tmp = store::temp_path(&dir);
    if let Err(e) = receive_to_new_file(s, &tmp, content).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    tokio::fs::rename(&tmp, &path).await?;
    let op = SyncOp::Mirror {
        store_idx: slave.logic.store_path_index(),
        rel: slave.rel(),
    };
    uploaded(ctx, s, content, op, name).await
}

async fn append_or_modify(ctx: &Ctx<'_>, s: &mut TcpStream, h: Header) -> io::Result<Flow> {
    let (filename, offset, content) = if h.cmd == cmd::APPEND_FILE {
        bump(&ctx.node.counters.append, 1);
        match read_prefix::<AppendRequest>(s, h).await? {
            Ok((r, c)) => (r.filename, None, c),
            Err(flow) => return Ok(flow),
        }
    } else {
        bump(&ctx.node.counters.modify, 1);
        match read_prefix::<ModifyRequest>(s, h).await? {
            Ok((r, c)) => (r.filename, Some(r.offset), c),
            Err(flow) => return Ok(flow),
        }
    };
    let target = match resolve(ctx, &filename) {
        Ok(t) => t,
        Err(st) => {
            return refuse(s, content, st).await;
        }
    };
    // Like FastDFS: a missing file is ENOENT, then a file whose name is not an appender's EINVAL.
    let path = target.data_path();
    let cur = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => m.len(),
        _ => {
            return refuse(s, content, status::ENOENT).await;
        }
    };
    if !target.is_appender() {
        return refuse(s, content, status::EINVAL).await;
    }
    let pos = offset.unwrap_or(cur);
    if pos > cur {
        return refuse(s, content, status::EINVAL).await;
    }
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .await?;
    f.seek(io::SeekFrom::Start(pos)).await?;
    recv_into(s, &mut f, content).await?;
    drop(f);
    ctx.sh.replicate(
        ctx.idx,
        SyncOp::Mirror {
            store_idx: target.logic.store_path_index(),
            rel: target.rel(),
        },
    );
    send(s, status::OK, &[]).await?;
    Ok(Flow::Continue)
}

async fn download(ctx: &Ctx<'_>, s: &mut TcpStream, h: Header) -> io::Result<Flow> {
    let Some(body) = read_small(s, h).await? else {
        return Ok(Flow::Close);
    };
    bump(&ctx.node.counters.download, 1);
    let req = match DownloadRequest::decode_request(&h, &body) {
        Ok(r) => r,
        Err(_) => {
            send(s, status::EINVAL, &[]).await?;
            return Ok(Flow::Continue);
        }
    };
    if req.group != ctx.group() {
        send(s, status::EINVAL, &[]).await?;
        return Ok(Flow::Continue);
    }
    let target = match resolve(ctx, &req.filename) {
        Ok(t) => t,
        Err(st) => {
            send(s, st, &[]).await?;
            return Ok(Flow::Continue);
        }
    };
    let Some(loc) = tokio::task::spawn_blocking(move || target.locate())
        .await
        .ok()
        .flatten()
    else {
        send(s, status::ENOENT, &[]).await?;
        return Ok(Flow::Continue);
    };
    let size = loc.len();
    // FastDFS: an offset at or past the end is EINVAL (so is any download of an empty file), and a
    // length past the end is cut to what remains.
    if req.offset >= size {
        send(s, status::EINVAL, &[]).await?;
        return Ok(Flow::Continue);
    }
    let rest = size - req.offset;
    let n = if req.bytes == 0 {
        rest
    } else {
        req.bytes.min(rest)
    };
    let (path, base) = loc.source();
    let mut f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => {
            send(s, status::ENOENT, &[]).await?;
            return Ok(Flow::Continue);
        }
    };
    f.seek(io::SeekFrom::Start(base + req.offset)).await?;
    s.write_all(&Header::reply(status::OK, n).encode()).await?;
    let copied = tokio::io::copy(&mut f.take(n), s).await?;
    if copied < n {
        // The file shrank under us: the peer is owed bytes we do not have.
        return Ok(Flow::Close);
    }
    bump(&ctx.node.counters.download_bytes, n);
    Ok(Flow::Continue)
}

/// Commands whose whole body is in memory.
async fn small(ctx: &Ctx<'_>, h: Header, body: &[u8]) -> (u8, Vec<u8>) {
    let r = match h.cmd {
        cmd::ACTIVE_TEST => {
            if body.is_empty() {
                Ok(Vec::new())
            } else {
                Err(status::EINVAL)
            }
        }
        cmd::DELETE_FILE => delete(ctx, h, body).await,
        cmd::SET_METADATA => set_metadata(ctx, h, body).await,
        cmd::GET_METADATA => get_metadata(ctx, h, body).await,
        cmd::QUERY_FILE_INFO => query_file_info(ctx, h, body).await,
        cmd::TRUNCATE_FILE => truncate(ctx, h, body).await,
        cmd::REGENERATE_APPENDER_FILENAME => regenerate(ctx, h, body).await,
        _ => Err(status::EINVAL),
    };
    match r {
        Ok(b) => (status::OK, b),
        Err(st) => (st, Vec::new()),
    }
}

fn check_group(ctx: &Ctx<'_>, group: &str) -> Result<(), u8> {
    if group == ctx.group() {
        Ok(())
    } else {
        Err(status::EINVAL)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, u8> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| status::EIO)
}

async fn delete(ctx: &Ctx<'_>, h: Header, body: &[u8]) -> Result<Vec<u8>, u8> {
    bump(&ctx.node.counters.delete, 1);
    let req = DeleteFile::decode_request(&h, body).map_err(|_| status::EINVAL)?;
    check_group(ctx, &req.group)?;
    let t = resolve(ctx, &req.filename)?;
    let store_idx = t.logic.store_path_index();
    let rel = t.rel();
    let ops = blocking(move || -> Result<Vec<SyncOp>, u8> {
        match t.locate() {
            None => Err(status::ENOENT),
            Some(Located::Plain { path, .. }) => {
                std::fs::remove_file(&path).map_err(|_| status::ENOENT)?;
                let _ = std::fs::remove_file(store::meta_path(&path));
                Ok(vec![SyncOp::Mirror { store_idx, rel }])
            }
            Some(Located::Trunk { container, .. }) => {
                let info = t.info.as_ref().ok_or(status::EINVAL)?;
                let loc = info.trunk.ok_or(status::EINVAL)?;
                zero_slot(&container, loc).map_err(|_| status::EIO)?;
                let _ = std::fs::remove_file(store::meta_path(&t.data_path()));
                let crel = store::container_rel(info).ok_or(status::EINVAL)?;
                Ok(vec![
                    SyncOp::TrunkRange {
                        store_idx,
                        rel: crel,
                        offset: u64::from(loc.offset),
                        len: u64::from(loc.alloc_size),
                    },
                    // Its metadata file is a plain file: mirror its removal too.
                    SyncOp::Mirror { store_idx, rel },
                ])
            }
        }
    })
    .await??;
    for op in ops {
        ctx.sh.replicate(ctx.idx, op);
    }
    Ok(Vec::new())
}

fn zero_slot(container: &Path, loc: TrunkLocation) -> io::Result<()> {
    use std::io::{Seek, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(container)?;
    f.seek(io::SeekFrom::Start(u64::from(loc.offset)))?;
    let zeros = vec![0u8; usize::try_from(loc.alloc_size).unwrap_or(0)];
    f.write_all(&zeros)?;
    Ok(())
}

async fn set_metadata(ctx: &Ctx<'_>, h: Header, body: &[u8]) -> Result<Vec<u8>, u8> {
    bump(&ctx.node.counters.set_meta, 1);
    let req = SetMetadataRequest::decode_request(&h, body).map_err(|_| status::EINVAL)?;
    check_group(ctx, &req.group)?;
    let t = resolve(ctx, &req.filename)?;
    let mut meta = Vec::new();
    req.meta.encode_into(&mut meta);
    let op = req.op;
    let store_idx = t.logic.store_path_index();
    let rel = t.rel();
    blocking(move || -> Result<(), u8> {
        if t.locate().is_none() {
            return Err(status::ENOENT);
        }
        let mpath = store::meta_path(&t.data_path());
        let new = match op {
            MetaOp::Overwrite => store::sort_meta(&meta),
            MetaOp::Merge => {
                let old = std::fs::read(&mpath).unwrap_or_default();
                store::merge_meta(&old, &meta)
            }
        };
        if new.is_empty() {
            let _ = std::fs::remove_file(&mpath);
            Ok(())
        } else {
            store::write_atomic(&mpath, &new).map_err(|_| status::EIO)
        }
    })
    .await??;
    ctx.sh.replicate(ctx.idx, SyncOp::Mirror { store_idx, rel });
    Ok(Vec::new())
}

async fn get_metadata(ctx: &Ctx<'_>, h: Header, body: &[u8]) -> Result<Vec<u8>, u8> {
    bump(&ctx.node.counters.get_meta, 1);
    let req = GetMetadata::decode_request(&h, body).map_err(|_| status::EINVAL)?;
    check_group(ctx, &req.group)?;
    let t = resolve(ctx, &req.filename)?;
    blocking(move || -> Result<Vec<u8>, u8> {
        // FastDFS answers ENOENT for a file without a metadata file too, not an empty list.
        if t.locate().is_none() {
            return Err(status::ENOENT);
        }
        std::fs::read(store::meta_path(&t.data_path())).map_err(|_| status::ENOENT)
    })
    .await?
}

async fn query_file_info(ctx: &Ctx<'_>, h: Header, body: &[u8]) -> Result<Vec<u8>, u8> {
    let req = QueryFileInfo::decode_request(&h, body).map_err(|_| status::EINVAL)?;
    check_group(ctx, &req.group)?;
    let t = resolve(ctx, &req.filename)?;
    let info = t.info.clone();
    let calc = req.flags & QueryFileInfo::FLAG_NOT_CALC_CRC32 == 0;
    let (size, crc, info) = blocking(move || -> Result<(u64, u32, _), u8> {
        // FastDFS looks for the file first: a name that does not decode is ENOENT when absent.
        let loc = t.locate().ok_or(status::ENOENT)?;
        let info = info.ok_or(status::EINVAL)?;
        match info.kind {
            FileKind::Normal | FileKind::Trunk => {
                Ok((info.size_field.real_size(), info.crc32, info))
            }
            FileKind::Appender | FileKind::Slave => {
                let crc = if calc {
                    let (p, off) = loc.source();
                    store::crc32_of(p, off, loc.len()).map_err(|_| status::EIO)?
                } else {
                    0
                };
                Ok((loc.len(), crc, info))
            }
        }
    })
    .await??;
    let source_ip = ctx
        .sh
        .source_ip(info.source)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let reply = FileInfoReply {
        file_size: size,
        create_timestamp: u64::try_from(info.timestamp).unwrap_or(0),
        crc32: crc,
        source_ip,
        addr_width: Default::default(),
    };
    Ok(reply.encode())
}

async fn truncate(ctx: &Ctx<'_>, h: Header, body: &[u8]) -> Result<Vec<u8>, u8> {
    bump(&ctx.node.counters.truncate, 1);
    let req = TruncateRequest::decode_request(&h, body).map_err(|_| status::EINVAL)?;
    let t = resolve(ctx, &req.filename)?;
    let size = req.truncated_size;
    let store_idx = t.logic.store_path_index();
    let rel = t.rel();
    let appender = t.is_appender();
    // As FastDFS 6.16: missing file ENOENT, not an appender EINVAL; a size past the end extends the
    // file with zeros; the current size changes nothing and the reply (status 0) carries the
    // request body back, because the C storage returns without resetting its send buffer.
    let changed = blocking(move || -> Result<bool, u8> {
        let path = t.data_path();
        let cur = std::fs::metadata(&path).map_err(|_| status::ENOENT)?.len();
        if !appender {
            return Err(status::EINVAL);
        }
        if size == cur {
            return Ok(false);
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|_| status::ENOENT)?;
        f.set_len(size).map_err(|_| status::EIO)?;
        Ok(true)
    })
    .await??;
    if !changed {
        return Ok(body.to_vec());
    }
    ctx.sh.replicate(ctx.idx, SyncOp::Mirror { store_idx, rel });
    Ok(Vec::new())
}

async fn regenerate(ctx: &Ctx<'_>, h: Header, body: &[u8]) -> Result<Vec<u8>, u8> {
    let req = RegenerateAppenderFilename::decode_request(&h, body).map_err(|_| status::EINVAL)?;
    let t = resolve(ctx, &req.filename)?;
    if !t.is_appender() {
        return Err(status::EINVAL);
    }
    let info = t.info.clone().ok_or(status::EINVAL)?;
    let old_path = t.data_path();
    let p2 = old_path.clone();
    let (size, crc) = blocking(move || -> Result<(u64, u32), u8> {
        let len = std::fs::metadata(&p2).map_err(|_| status::ENOENT)?.len();
        let crc = store::crc32_of(&p2, 0, len).map_err(|_| status::EIO)?;
        Ok((len, crc))
    })
    .await??;
    let store_idx = t.logic.store_path_index();
    let ext = info.ext().to_string();
    let digits = info.random_digits().to_string();
    let ts = ctx.sh.id_time();
    let mut new_name = None;
    for _ in 0..16 {
        let sf = if size > u64::from(u32::MAX) {
            SizeField::compose(size, false, false, None)
        } else {
            SizeField::compose(size, false, false, Some(random23()))
        };
        let name = encode_name(
            ctx,
            NewName {
                store_idx,
                subdirs: info.subdirs,
                ts,
                size_field: sf,
                crc,
                trunk: None,
                ext: &ext,
                digits: &digits,
            },
        )?;
        let logic = LogicName::parse(&name).map_err(|_| status::EINVAL)?;
        let p = store::data_path(&t.store, &logic);
        if !tokio::fs::try_exists(&p).await.unwrap_or(true) {
            new_name = Some((name, logic, p));
            break;
        }
    }
    let (name, logic, new_path) = new_name.ok_or(status::EEXIST)?;
    let (op2, np2) = (old_path.clone(), new_path.clone());
    blocking(move || -> Result<(), u8> {
        std::fs::rename(&op2, &np2).map_err(|_| status::ENOENT)?;
        let om = store::meta_path(&op2);
        if om.is_file() {
            let _ = std::fs::rename(&om, store::meta_path(&np2));
        }
        Ok(())
    })
    .await??;
    ctx.sh.replicate(
        ctx.idx,
        SyncOp::Mirror {
            store_idx,
            rel: t.rel(),
        },
    );
    ctx.sh.replicate(
        ctx.idx,
        SyncOp::Mirror {
            store_idx,
            rel: logic.true_name().to_string(),
        },
    );
    Ok(UploadReply {
        group: ctx.group().to_string(),
        filename: name,
    }
    .encode())
}
