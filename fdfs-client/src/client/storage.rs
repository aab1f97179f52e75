//! Storage calls: upload, download, delete, metadata, file info, appender operations.
//!
//! Content is streamed in both directions through [`STREAM_BUF_SIZE`] buffers, so the memory a transfer
//! takes does not depend on the file size.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use super::body::{ChunkSource, FromChunks, FromReader, Outgoing};
use super::connection::{Connection, Ctx, STREAM_BUF_SIZE};
use super::error::{Error, ErrorKind, Result, Role};
use super::types::{
    split_file_id, validate_metadata, FileDetails, StorageServer, UploadKind, UploadOptions,
};
use super::Client;
use crate::addr::ServerAddr;
use crate::file_id::{FileId, FileKind, Source};
use crate::proto::{self, MetaOp, Metadata, Reply, StreamPrefix};

/// A progress callback: called with the number of bytes just transferred.
pub type Progress<'a> = &'a mut (dyn FnMut(u64) + Send);

fn no_progress(_: u64) {}

impl Client {
    // ------------------------------------------------------------------------------------------
    // upload

    /// Uploads `data`; returns the file id.
    pub async fn upload(&self, data: &[u8], opts: &UploadOptions) -> Result<String> {
        let mut reader = data;
        self.upload_reader(&mut reader, data.len() as u64, opts)
            .await
    }

    /// Uploads a local file; returns the file id. Without an extension in `opts`, the file's own
    /// extension is used as the FastDFS tools derive it ([`crate::file_id::file_ext_name`]:
    /// `x.tar.gz` gives `tar.gz`; none when the last part is longer than 6 bytes).
    pub async fn upload_file(
        &self,
        path: impl AsRef<Path>,
        opts: &UploadOptions,
    ) -> Result<String> {
        let path = path.as_ref();
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::local(format!("open {}", path.display()), e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| Error::local(format!("stat {}", path.display()), e))?
            .len();
        let mut opts = opts.clone();
        if opts.ext.is_empty() {
            if let Some(ext) = path.to_str().and_then(crate::file_id::file_ext_name) {
                opts.ext = ext.to_owned();
            }
        }
        self.upload_reader(&mut file, len, &opts).await
    }

    /// Uploads exactly `len` bytes read from `reader`; returns the file id.
    pub async fn upload_reader<R: AsyncRead + Unpin + ?Sized>(
        &self,
        reader: &mut R,
        len: u64,
        opts: &UploadOptions,
    ) -> Result<String> {
        self.upload_reader_with_progress(reader, len, opts, &mut no_progress)
            .await
    }

    /// [`Client::upload_reader`] calling `progress` as bytes go out.
    pub async fn upload_reader_with_progress<R: AsyncRead + Unpin + ?Sized>(
        &self,
        reader: &mut R,
        len: u64,
        opts: &UploadOptions,
        progress: Progress<'_>,
    ) -> Result<String> {
        self.upload_body(FromReader(reader), len, opts, progress)
            .await
    }

    /// Uploads exactly `len` bytes handed over in pieces by `chunks`, each written to the storage
    /// as it is (no copy through a buffer); returns the file id. For contents that arrive in
    /// memory anyway, such as an HTTP request body.
    pub async fn upload_chunks<C: ChunkSource + ?Sized>(
        &self,
        chunks: &mut C,
        len: u64,
        opts: &UploadOptions,
    ) -> Result<String> {
        self.upload_body(FromChunks(chunks), len, opts, &mut no_progress)
            .await
    }

    async fn upload_body<O: Outgoing>(
        &self,
        body: O,
        len: u64,
        opts: &UploadOptions,
        progress: Progress<'_>,
    ) -> Result<String> {
        opts.validate()?;
        if len > i64::MAX as u64 {
            return Err(Error::invalid(format!("file too large: {len} bytes")));
        }
        let (storage, id) = match &opts.kind {
            UploadKind::Slave { master, prefix } => {
                let storage = self.query_update(master).await?;
                let m = split_file_id(master)?;
                let req = proto::UploadSlaveRequest {
                    master_filename: m.filename.to_owned(),
                    file_size: len,
                    prefix: prefix.clone(),
                    ext: opts.ext.clone(),
                };
                let op = format!("upload slave {prefix} of {master}");
                let reply: proto::UploadReply = self
                    .stream_request(&storage.addr, &op, &req, body, progress)
                    .await?;
                (storage.addr, reply.file_id())
            }
            kind => {
                let (addr, store_path_index) = match &opts.storage {
                    Some(addr) => (addr.clone(), proto::STORE_PATH_ANY),
                    None => {
                        let s = self.query_store(opts.group.as_deref()).await?;
                        let index = s.store_path_index.unwrap_or(proto::STORE_PATH_ANY);
                        (s.addr, index)
                    }
                };
                let req = proto::UploadRequest {
                    store_path_index,
                    file_size: len,
                    ext: opts.ext.clone(),
                    appender: *kind == UploadKind::Appender,
                };
                let op = if req.appender {
                    "upload appender"
                } else {
                    "upload"
                };
                let reply: proto::UploadReply =
                    self.stream_request(&addr, op, &req, body, progress).await?;
                (addr, reply.file_id())
            }
        };
        tracing::debug!(file_id = %id, storage = %storage, len, "uploaded");
        // `opts.validate()` above checked the metadata: a bad pair is refused before the file is
        // stored, not after.
        if !opts.metadata.is_empty() {
            let p = split_file_id(&id)?;
            let req = proto::SetMetadataRequest {
                group: p.group.to_owned(),
                filename: p.filename.to_owned(),
                op: MetaOp::Overwrite,
                meta: Metadata::new(opts.metadata.iter().cloned()),
            };
            let op = format!("set metadata of {id}");
            self.request_on(Role::Storage, &storage, &op, &req, true)
                .await?;
        }
        Ok(id)
    }

    /// Sends a streamed request (prefix + `content_len` bytes from `reader`) and reads its reply.
    async fn stream_request<P, Rep, O>(
        &self,
        addr: &ServerAddr,
        op: &str,
        req: &P,
        mut body: O,
        progress: Progress<'_>,
    ) -> Result<Rep>
    where
        P: StreamPrefix,
        Rep: Reply,
        O: Outgoing,
    {
        let pool = self.pool();
        let mut conn = pool.get(Role::Storage, addr, op).await?.conn;
        let ctx = conn.ctx(op);
        let sent = body
            .send(
                &mut conn,
                &ctx,
                &req.frame_prefix(),
                req.content_len(),
                progress,
            )
            .await;
        if let Err(e) = sent {
            // A storage that refuses a request (bad name, no space...) may answer with a status and
            // close before reading the content: report its status rather than the broken pipe.
            if e.kind() == ErrorKind::Io {
                if let Err(status) = conn.recv_header(&ctx).await {
                    if status.kind() == ErrorKind::Status {
                        return Err(status);
                    }
                }
            }
            return Err(e);
        }
        let reply = conn.recv_reply::<Rep>(&ctx).await;
        release(pool, conn, &reply);
        reply
    }

    // ------------------------------------------------------------------------------------------
    // download

    /// Downloads a whole file into memory. For large files use [`Client::download_to`] or
    /// [`Client::download_stream`].
    pub async fn download(&self, file_id: &str) -> Result<Vec<u8>> {
        self.download_range(file_id, 0, None).await
    }

    /// Downloads `len` bytes (or up to the end) from `offset` into memory.
    pub async fn download_range(
        &self,
        file_id: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Vec<u8>> {
        let mut stream = self.download_stream(file_id, offset, len).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Downloads `len` bytes (or up to the end) from `offset` into `writer`; returns the bytes written.
    pub async fn download_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        file_id: &str,
        offset: u64,
        len: Option<u64>,
        writer: &mut W,
    ) -> Result<u64> {
        let stream = self.download_stream(file_id, offset, len).await?;
        stream.copy_to(writer, &mut no_progress).await
    }

    /// Starts a download: asks a tracker where the file is, sends the request and reads the reply
    /// header; the content is then read from the returned [`DownloadStream`].
    pub async fn download_stream(
        &self,
        file_id: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<DownloadStream> {
        self.download_stream_from(None, file_id, offset, len).await
    }

    /// [`Client::download_stream`] from a given storage (e.g. the source server from
    /// [`Client::query_update`], which sees an appender file's changes first), or from the one a
    /// tracker picks when `storage` is `None`.
    pub async fn download_stream_from(
        &self,
        storage: Option<&ServerAddr>,
        file_id: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<DownloadStream> {
        let p = split_file_id(file_id)?;
        if len == Some(0) {
            return Err(Error::invalid(
                "download length must not be 0 (use None for 'to the end')",
            ));
        }
        if offset > i64::MAX as u64 || len.is_some_and(|l| l > i64::MAX as u64) {
            return Err(Error::invalid("download offset or length out of range"));
        }
        let storage = match storage {
            Some(addr) => StorageServer {
                group: p.group.to_owned(),
                addr: addr.clone(),
                store_path_index: None,
            },
            None => self.query_fetch(file_id).await?,
        };
        let req = proto::DownloadRequest {
            offset,
            bytes: len.unwrap_or(0),
            group: p.group.to_owned(),
            filename: p.filename.to_owned(),
        };
        self.download_from(&storage, file_id, &req).await
    }

    async fn download_from(
        &self,
        storage: &StorageServer,
        file_id: &str,
        req: &proto::DownloadRequest,
    ) -> Result<DownloadStream> {
        let op = format!("download {file_id}");
        let pool = self.pool();
        let mut conn = pool.get(Role::Storage, &storage.addr, &op).await?.conn;
        let ctx = conn.ctx(&op);
        conn.write_all(&ctx, &proto::Request::to_frame(req)).await?;
        let header = match conn.recv_header(&ctx).await {
            Ok(h) => h,
            Err(e) => {
                if e.kind() != ErrorKind::Status {
                    return Err(e);
                }
                // FastDFS refuses an offset at the end of the file with EINVAL, so an empty file
                // cannot be downloaded at all; ask the same storage for its size and give the empty
                // content when it is 0 (what the storage would have sent).
                // (The storage closes this connection after EINVAL: the pool drops it.)
                pool.put(conn);
                if e.status() == Some(proto::status::EINVAL) && req.offset == 0 {
                    let q = proto::QueryFileInfo {
                        group: req.group.clone(),
                        filename: req.filename.clone(),
                        flags: proto::QueryFileInfo::FLAG_NOT_CALC_CRC32,
                    };
                    let qop = format!("query file info of {file_id}");
                    if let Ok(info) = self
                        .request_on(Role::Storage, &storage.addr, &qop, &q, true)
                        .await
                    {
                        if info.file_size == 0 {
                            return Ok(DownloadStream {
                                client: self.clone(),
                                conn: None,
                                ctx,
                                total: 0,
                                left: 0,
                            });
                        }
                    }
                }
                return Err(e);
            }
        };
        let max = req.max_reply_body();
        header
            .check_len("download reply", max)
            .map_err(|e| ctx.protocol(e))?;
        Ok(DownloadStream {
            client: self.clone(),
            conn: Some(conn),
            ctx,
            total: header.body_len,
            left: header.body_len,
        })
    }

    // ------------------------------------------------------------------------------------------
    // delete, metadata, info

    /// Deletes a file.
    pub async fn delete(&self, file_id: &str) -> Result<()> {
        let p = split_file_id(file_id)?;
        let storage = self.query_update(file_id).await?;
        let op = format!("delete {file_id}");
        self.request_on(
            Role::Storage,
            &storage.addr,
            &op,
            &proto::DeleteFile::new(p.group, p.filename),
            false,
        )
        .await?;
        Ok(())
    }

    /// Sets metadata: [`MetaOp::Overwrite`] replaces all pairs, [`MetaOp::Merge`] adds and updates.
    pub async fn set_metadata<N, V>(
        &self,
        file_id: &str,
        pairs: impl IntoIterator<Item = (N, V)>,
        mode: MetaOp,
    ) -> Result<()>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let p = split_file_id(file_id)?;
        let meta = Metadata::new(pairs);
        validate_metadata(&meta.pairs)?;
        let storage = self.query_update(file_id).await?;
        let req = proto::SetMetadataRequest {
            group: p.group.to_owned(),
            filename: p.filename.to_owned(),
            op: mode,
            meta,
        };
        let op = format!("set metadata of {file_id}");
        self.request_on(Role::Storage, &storage.addr, &op, &req, true)
            .await?;
        Ok(())
    }

    /// The metadata of a file. FastDFS answers ENOENT ([`Error::is_not_found`]) both for a missing
    /// file and for a file that has no metadata.
    pub async fn get_metadata(&self, file_id: &str) -> Result<Vec<(String, String)>> {
        let p = split_file_id(file_id)?;
        let storage = self.query_fetch(file_id).await?;
        let op = format!("get metadata of {file_id}");
        let meta = self
            .request_on(
                Role::Storage,
                &storage.addr,
                &op,
                &proto::GetMetadata::new(p.group, p.filename),
                true,
            )
            .await?;
        Ok(meta.pairs)
    }

    /// Size, creation time, crc32 and source of a file: decoded from the id when FastDFS does (normal
    /// and trunk files with an IP source), asked from a storage otherwise (appender, slave, storage-id
    /// source), following `fdfs_get_file_info_ex`.
    pub async fn file_info(&self, file_id: &str) -> Result<FileDetails> {
        let p = split_file_id(file_id)?;
        let parsed = FileId::parse(file_id)
            .map_err(|e| Error::invalid(format!("invalid file id {file_id:?}: {e}")))?;
        let decoded = parsed
            .decode()
            .map_err(|e| Error::invalid(format!("invalid file id {file_id:?}: {e}")))?;
        let source_storage_id = decoded.source.storage_id();
        let local = matches!(decoded.kind, FileKind::Normal | FileKind::Trunk);
        if let (true, Source::Ip(ip), Some(size)) = (local, decoded.source, decoded.file_size()) {
            return Ok(FileDetails {
                kind: decoded.kind,
                from_server: false,
                source_storage_id,
                source_ip: ip.to_string(),
                create_timestamp: decoded.timestamp,
                file_size: size,
                crc32: decoded.crc32,
            });
        }
        let info = self.query_file_info(file_id).await?;
        let _ = p;
        Ok(FileDetails {
            kind: decoded.kind,
            from_server: true,
            source_storage_id,
            source_ip: info.source_ip,
            create_timestamp: i64::try_from(info.create_timestamp).unwrap_or(i64::MAX),
            file_size: info.file_size,
            crc32: info.crc32,
        })
    }

    /// QUERY_FILE_INFO: what a storage says of a file (works for every kind of file).
    pub async fn query_file_info(&self, file_id: &str) -> Result<proto::FileInfoReply> {
        let p = split_file_id(file_id)?;
        let storage = self.query_fetch(file_id).await?;
        let op = format!("query file info of {file_id}");
        let req = proto::QueryFileInfo {
            group: p.group.to_owned(),
            filename: p.filename.to_owned(),
            flags: 0,
        };
        self.request_on(Role::Storage, &storage.addr, &op, &req, true)
            .await
    }

    // ------------------------------------------------------------------------------------------
    // appender files

    /// Appends `data` to an appender file.
    pub async fn append(&self, file_id: &str, data: &[u8]) -> Result<()> {
        let mut reader = data;
        self.append_reader(file_id, &mut reader, data.len() as u64)
            .await
    }

    /// Appends `len` bytes read from `reader` to an appender file.
    pub async fn append_reader<R: AsyncRead + Unpin + ?Sized>(
        &self,
        file_id: &str,
        reader: &mut R,
        len: u64,
    ) -> Result<()> {
        self.append_reader_with_progress(file_id, reader, len, &mut no_progress)
            .await
    }

    /// [`Client::append_reader`] calling `progress` as bytes go out.
    pub async fn append_reader_with_progress<R: AsyncRead + Unpin + ?Sized>(
        &self,
        file_id: &str,
        reader: &mut R,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<()> {
        self.append_body(file_id, FromReader(reader), len, progress)
            .await
    }

    /// Appends `len` bytes handed over in pieces by `chunks` ([`Client::upload_chunks`]).
    pub async fn append_chunks<C: ChunkSource + ?Sized>(
        &self,
        file_id: &str,
        chunks: &mut C,
        len: u64,
    ) -> Result<()> {
        self.append_body(file_id, FromChunks(chunks), len, &mut no_progress)
            .await
    }

    async fn append_body<O: Outgoing>(
        &self,
        file_id: &str,
        body: O,
        len: u64,
        progress: Progress<'_>,
    ) -> Result<()> {
        let p = split_file_id(file_id)?;
        let storage = self.query_update(file_id).await?;
        let req = proto::AppendRequest {
            filename: p.filename.to_owned(),
            file_size: len,
        };
        let op = format!("append to {file_id}");
        let _: proto::EmptyReply = self
            .stream_request(&storage.addr, &op, &req, body, progress)
            .await?;
        Ok(())
    }

    /// Overwrites an appender file with `data` from `offset` (at most up to its end + data).
    pub async fn modify(&self, file_id: &str, offset: u64, data: &[u8]) -> Result<()> {
        let mut reader = data;
        self.modify_reader(file_id, offset, &mut reader, data.len() as u64)
            .await
    }

    /// Overwrites an appender file from `offset` with `len` bytes read from `reader`.
    pub async fn modify_reader<R: AsyncRead + Unpin + ?Sized>(
        &self,
        file_id: &str,
        offset: u64,
        reader: &mut R,
        len: u64,
    ) -> Result<()> {
        let p = split_file_id(file_id)?;
        let storage = self.query_update(file_id).await?;
        let req = proto::ModifyRequest {
            filename: p.filename.to_owned(),
            offset,
            file_size: len,
        };
        let op = format!("modify {file_id} at {offset}");
        let _: proto::EmptyReply = self
            .stream_request(
                &storage.addr,
                &op,
                &req,
                FromReader(reader),
                &mut no_progress,
            )
            .await?;
        Ok(())
    }

    /// Truncates an appender file to `size` bytes.
    pub async fn truncate(&self, file_id: &str, size: u64) -> Result<()> {
        let p = split_file_id(file_id)?;
        let storage = self.query_update(file_id).await?;
        let req = proto::TruncateRequest {
            filename: p.filename.to_owned(),
            truncated_size: size,
        };
        let op = format!("truncate {file_id} to {size}");
        let pool = self.pool();
        let mut conn = pool.get(Role::Storage, &storage.addr, &op).await?.conn;
        let ctx = conn.ctx(&op);
        let frame = proto::Request::to_frame(&req);
        conn.write_all(&ctx, &frame).await?;
        let header = match conn.recv_header(&ctx).await {
            Ok(h) => h,
            Err(e) => {
                if e.kind() == ErrorKind::Status {
                    pool.put(conn);
                }
                return Err(e);
            }
        };
        // FastDFS 6.16 answers a truncate to the current size with status 0 and the request body
        // sent back (it returns without resetting its buffer): accept a body of exactly that length
        // and drop it; any other length is a protocol error.
        let body_len = frame.len().saturating_sub(proto::HEADER_LEN) as u64;
        if header.body_len != 0 && header.body_len != body_len {
            return Err(ctx.protocol(proto::ProtoError::BadLength {
                what: "truncate reply",
                got: header.body_len,
            }));
        }
        conn.recv_body(&ctx, &header, "truncate reply", body_len)
            .await?;
        pool.put(conn);
        Ok(())
    }

    /// Turns an appender file into a normal file with a new name; returns the new file id.
    pub async fn regenerate_appender_filename(&self, file_id: &str) -> Result<String> {
        let p = split_file_id(file_id)?;
        let storage = self.query_update(file_id).await?;
        let req = proto::RegenerateAppenderFilename {
            filename: p.filename.to_owned(),
        };
        let op = format!("regenerate the name of {file_id}");
        let reply = self
            .request_on(Role::Storage, &storage.addr, &op, &req, false)
            .await?;
        Ok(reply.file_id())
    }
}

/// Gives the connection back to the pool after a complete reply (success or status); drops it otherwise.
fn release<T>(pool: &super::pool::Pool, conn: Connection, reply: &Result<T>) {
    match reply {
        Ok(_) => pool.put(conn),
        Err(e) if e.kind() == ErrorKind::Status => pool.put(conn),
        Err(_) => {}
    }
}

/// The content of a download, read chunk by chunk. Dropping it before the end closes the connection.
#[derive(Debug)]
pub struct DownloadStream {
    client: Client,
    conn: Option<Connection>,
    ctx: Ctx,
    total: u64,
    left: u64,
}

impl DownloadStream {
    /// The content length the storage announced.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True for an empty file (or range).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.client.pool().put(conn);
        }
    }

    /// Reads the next chunk into `buf`; 0 at the end.
    pub async fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.left == 0 || buf.is_empty() {
            self.finish();
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let Some(conn) = self.conn.as_mut() else {
            return Err(self
                .ctx
                .io(std::io::Error::other("download already failed")));
        };
        let chunk = buf.get_mut(..want).unwrap_or_default();
        match conn.read_some(&self.ctx, chunk).await {
            Ok(n) => {
                self.left -= n as u64;
                if self.left == 0 {
                    self.finish();
                }
                Ok(n)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    /// The next chunk (at most [`STREAM_BUF_SIZE`] bytes), or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.left == 0 {
            self.finish();
            return Ok(None);
        }
        let size = STREAM_BUF_SIZE.min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let mut buf = BytesMut::zeroed(size);
        let n = self.read_chunk(&mut buf).await?;
        buf.truncate(n);
        Ok(Some(buf.freeze()))
    }

    /// Copies the rest into `writer`; returns the bytes copied.
    pub async fn copy_to<W: AsyncWrite + Unpin + ?Sized>(
        mut self,
        writer: &mut W,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let left = self.left;
        if left == 0 {
            self.finish();
            return Ok(0);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(self
                .ctx
                .io(std::io::Error::other("download already failed")));
        };
        match conn.copy_body_to(&self.ctx, left, writer, progress).await {
            Ok(n) => {
                self.left = 0;
                self.finish();
                Ok(n)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}
