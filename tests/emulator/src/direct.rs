//! A tiny blocking client over the emulator's own sockets, so suites can put files in place
//! without depending on the async client.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::Duration;

use fdfs_client::proto::{
    DeleteFile, Header, Request, StreamPrefix, UploadReply, UploadRequest, UploadSlaveRequest,
    HEADER_LEN,
};

use crate::EmuError;

fn proto_err(what: &str, e: impl std::fmt::Display) -> EmuError {
    EmuError::Protocol(format!("{what}: {e}"))
}

/// Sends `frame`, returns the reply body (status 0) or an error naming the status.
fn roundtrip(addr: SocketAddrV4, frame: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, EmuError> {
    let mut s = TcpStream::connect(addr).map_err(|e| proto_err(&format!("connect {addr}"), e))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    s.write_all(frame).map_err(|e| proto_err("send", e))?;
    for p in parts {
        s.write_all(p).map_err(|e| proto_err("send", e))?;
    }
    let mut hb = [0u8; HEADER_LEN];
    s.read_exact(&mut hb).map_err(|e| proto_err("receive", e))?;
    let h = Header::decode(&hb);
    let mut body = vec![0u8; usize::try_from(h.body_len.min(1 << 20)).unwrap_or(0)];
    s.read_exact(&mut body)
        .map_err(|e| proto_err("receive", e))?;
    if h.status != 0 {
        return Err(EmuError::Status(h.status));
    }
    Ok(body)
}

pub(crate) fn upload(
    addr: SocketAddrV4,
    data: &[u8],
    ext: &str,
    appender: bool,
) -> Result<String, EmuError> {
    let req = UploadRequest {
        store_path_index: fdfs_client::proto::STORE_PATH_ANY,
        file_size: data.len() as u64,
        ext: ext.to_string(),
        appender,
    };
    let body = roundtrip(addr, &req.frame_prefix(), &[data])?;
    let r = UploadReply::decode(&body).map_err(|e| proto_err("upload reply", e))?;
    Ok(r.file_id())
}

pub(crate) fn upload_slave(
    addr: SocketAddrV4,
    master_id: &str,
    prefix: &str,
    ext: &str,
    data: &[u8],
) -> Result<String, EmuError> {
    let (_, master) = master_id
        .split_once('/')
        .ok_or_else(|| proto_err("master id", master_id))?;
    let req = UploadSlaveRequest {
        master_filename: master.to_string(),
        file_size: data.len() as u64,
        prefix: prefix.to_string(),
        ext: ext.to_string(),
    };
    let body = roundtrip(addr, &req.frame_prefix(), &[data])?;
    let r = UploadReply::decode(&body).map_err(|e| proto_err("upload reply", e))?;
    Ok(r.file_id())
}

pub(crate) fn delete(addr: SocketAddrV4, file_id: &str) -> Result<(), EmuError> {
    let (group, name) = file_id
        .split_once('/')
        .ok_or_else(|| proto_err("file id", file_id))?;
    roundtrip(addr, &DeleteFile::new(group, name).to_frame(), &[])?;
    Ok(())
}
