//! How a lookup reads its files: waiting for the disk (on the blocking pool, or on the worker with
//! `aio_threads = false`), or from the page cache only, on the worker. A hit whose files are in
//! the page cache is answered on the worker without the pool's hand-over, which cost a fifth of
//! the hits a worker served when every file was in the page cache; one whose files are not goes
//! to the pool, so that the worker never waits for the disk (BENCHMARKS.md, "Hits from the page
//! cache on the worker").
//!
//! From the page cache only: the path is resolved from the kernel's caches or not at all
//! (`openat2` with `RESOLVE_CACHED`, Linux 5.12) and the data read only if cached (`preadv2` with
//! `RWF_NOWAIT`, Linux 4.14). Any error there, including a kernel without them, sends the lookup
//! to the pool, which reads as before and gives the real answer.

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
use rustix::io::ReadWriteFlags;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reads {
    /// Wait for the disk when needed.
    Wait,
    /// From the page cache only: [`io::ErrorKind::WouldBlock`] when the disk is needed.
    Cached,
}

impl Reads {
    pub(super) fn open(self, path: &Path) -> io::Result<File> {
        match self {
            Reads::Wait => File::open(path),
            Reads::Cached => {
                let flags = OFlags::RDONLY | OFlags::CLOEXEC;
                rustix::fs::openat2(CWD, path, flags, Mode::empty(), ResolveFlags::CACHED)
                    .map(File::from)
                    .map_err(|_| would_block())
            }
        }
    }

    /// Reads into `buf` at `offset`; 0 at the end of the file.
    pub(super) fn read_at(self, f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self {
            Reads::Wait => f.read_at(buf, offset),
            Reads::Cached => match rustix::io::preadv2(
                f,
                &mut [IoSliceMut::new(buf)],
                offset,
                ReadWriteFlags::NOWAIT,
            ) {
                // A read from the page cache may stop short at a page that is not there, and 0
                // is the end of the file only for a read that may wait: left to the pool.
                Ok(0) if !buf.is_empty() => Err(would_block()),
                Ok(n) => Ok(n),
                Err(_) => Err(would_block()),
            },
        }
    }

    /// Fills `a`, then `b`, from `offset`: one `preadv2` for both, then what it left (a page not
    /// in the page cache, a signal) as [`Self::read_full_at`] reads. The bytes read, as there.
    pub(super) fn read_two_at(
        self,
        f: &File,
        a: &mut [u8],
        b: &mut [u8],
        offset: u64,
    ) -> io::Result<usize> {
        let flags = match self {
            Reads::Wait => ReadWriteFlags::empty(),
            Reads::Cached => ReadWriteFlags::NOWAIT,
        };
        let one = rustix::io::preadv2(
            f,
            &mut [IoSliceMut::new(a), IoSliceMut::new(b)],
            offset,
            flags,
        );
        let n = match one {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => 0,
            Err(_) if self == Reads::Cached => return Err(would_block()),
            Err(e) => return Err(e.into()),
        };
        if n < a.len() {
            let more = self.read_full_at(f, &mut a[n..], offset + n as u64)?;
            if n + more < a.len() {
                return Ok(n + more);
            }
            let rest = self.read_full_at(f, b, offset + a.len() as u64)?;
            return Ok(a.len() + rest);
        }
        let done = n - a.len();
        let rest = self.read_full_at(f, &mut b[done..], offset + n as u64)?;
        Ok(n + rest)
    }

    /// Fills `buf` from `offset`; the bytes read, fewer at the end of the file (with
    /// [`Reads::Cached`], which cannot tell the end: an error).
    pub(super) fn read_full_at(self, f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut have = 0;
        while have < buf.len() {
            match self.read_at(f, &mut buf[have..], offset + have as u64) {
                Ok(0) => break,
                Ok(n) => have += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(have)
    }
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_just_written_is_read_from_the_page_cache_as_when_waiting() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("f");
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        for reads in [Reads::Wait, Reads::Cached] {
            let f = reads.open(&path).expect("open");
            let mut buf = vec![0u8; data.len() - 100];
            let n = reads.read_full_at(&f, &mut buf, 100).expect("read");
            assert_eq!(&buf[..n], &data[100..], "{reads:?}");
            let (mut a, mut b) = (vec![0u8; 5000], vec![0u8; data.len() - 5000]);
            let n = reads.read_two_at(&f, &mut a, &mut b, 0).expect("read two");
            assert_eq!(n, data.len());
            assert_eq!([a, b].concat(), data, "{reads:?}: both parts");
        }
    }

    #[test]
    fn what_the_page_cache_cannot_answer_would_block() {
        let d = tempfile::tempdir().unwrap();
        let gone = d.path().join("gone");
        assert_eq!(
            Reads::Wait.open(&gone).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            Reads::Cached.open(&gone).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let path = d.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let f = Reads::Cached.open(&path).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(Reads::Wait.read_at(&f, &mut buf, 3).unwrap(), 0, "the end");
        assert_eq!(
            Reads::Cached.read_at(&f, &mut buf, 3).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "the end is the pool's to say"
        );
    }
}
