//! [`ShmImage`]: the MIT-SHM buffer [`X11Source`](super::X11Source) reads monitor images into,
//! shared with the X server and nobody else.
//!
//! This replaces scrap 0.5's capturer, whose SysV segment was created with mode 0777 and
//! removed only on drop: any local user could read (and write) the screen, and a crashed agent
//! left its last frame behind.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use x11rb::connection::Connection;
use x11rb::cookie::Cookie;
use x11rb::errors::{ConnectionError, ReplyError};
use x11rb::protocol::ErrorKind;
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ImageFormat, Window};
use x11rb::rust_connection::RustConnection;

use super::Rect;
use super::shared_memory::SharedMemory;
use crate::capture::CaptureError;

/// A requested image: the pixels are in the buffer once its reply is.
pub(super) type ImageCookie<'c> = Cookie<'c, RustConnection, shm::GetImageReply>;

/// How the buffer is shared with the X server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sharing {
    /// A memfd passed as a descriptor (MIT-SHM 1.2): no SysV segment at all.
    Memfd,
    /// A SysV segment, 0600, its id removed once the server has attached it.
    SysV,
}

/// One buffer of `len` bytes attached to the X server as an MIT-SHM segment.
pub(super) struct ShmImage {
    seg: shm::Seg,
    memory: SharedMemory,
    sharing: Sharing,
}

impl ShmImage {
    /// Attaches a new buffer of `len` bytes: a memfd if `prefer` says so and the server takes
    /// it, else a SysV segment.
    pub(super) fn attach(
        conn: &RustConnection,
        len: usize,
        prefer: Sharing,
        display: &str,
    ) -> Result<Self, CaptureError> {
        if prefer == Sharing::Memfd {
            match Self::attach_memfd(conn, len) {
                Err(CaptureError::X11Request(err)) => {
                    tracing::debug!(%err, "ShmAttachFd refused: using a SysV segment");
                }
                attached => return attached,
            }
        }
        Self::attach_sysv(conn, len, display)
    }

    fn attach_memfd(conn: &RustConnection, len: usize) -> Result<Self, CaptureError> {
        let (memory, fd) = SharedMemory::memfd(len).map_err(CaptureError::Shm)?;
        let seg = conn.generate_id()?;
        conn.shm_attach_fd(seg, fd, false)?.check()?;
        Ok(Self { seg, memory, sharing: Sharing::Memfd })
    }

    fn attach_sysv(conn: &RustConnection, len: usize, display: &str) -> Result<Self, CaptureError> {
        let (memory, id) = SharedMemory::sysv(len).map_err(CaptureError::Shm)?;
        let seg = conn.generate_id()?;
        // The round trip: once it is answered the server has its own attachment, and the id
        // can go (dropping `id` removes it, also on the error paths).
        match conn.shm_attach(seg, id.id(), false)?.check() {
            Ok(()) => Ok(Self { seg, memory, sharing: Sharing::SysV }),
            // The server could not attach it: another machine or another IPC namespace.
            Err(ReplyError::X11Error(e)) if e.error_kind == ErrorKind::Access => {
                Err(CaptureError::ShmNotShared { display: display.to_owned() })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.memory.bytes().len()
    }

    #[cfg(test)]
    pub(super) fn sharing(&self) -> Sharing {
        self.sharing
    }

    /// Asks the server to write the pixels of `rect` on `root` to the buffer's start; they are
    /// there once the reply is.
    pub(super) fn request<'c>(
        &self,
        conn: &'c RustConnection,
        root: Window,
        rect: Rect,
    ) -> Result<ImageCookie<'c>, ConnectionError> {
        let format = ImageFormat::Z_PIXMAP.into();
        conn.shm_get_image(root, rect.x, rect.y, rect.w, rect.h, !0, format, self.seg, 0)
    }

    /// The buffer, as the last answered request left it.
    pub(super) fn pixels(&self) -> &[u8] {
        self.memory.bytes()
    }

    /// Tells the server to let go of its mapping; ours goes when `self` does.
    pub(super) fn detach(self, conn: &RustConnection) -> Result<(), ConnectionError> {
        tracing::trace!(sharing = ?self.sharing, "detaching the capture buffer");
        conn.shm_detach(self.seg)?;
        Ok(())
    }
}

/// Whether the server can take a memfd: MIT-SHM 1.2 and a Unix socket to pass it over (a TCP
/// connection would fail the write, and with it the connection).
pub(super) fn preferred_sharing(conn: &RustConnection, version: (u16, u16)) -> Sharing {
    let unix = conn
        .stream()
        .as_fd()
        .try_clone_to_owned()
        .map(UnixStream::from)
        .and_then(|socket| socket.local_addr())
        .is_ok();
    if version >= (1, 2) && unix { Sharing::Memfd } else { Sharing::SysV }
}
