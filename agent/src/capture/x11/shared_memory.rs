//! Memory the X server writes captured images into, mapped read-only here: the one `unsafe`
//! module of the capture stage (memfd, `mmap` and SysV shared memory through `libc`).
//!
//! Both kinds are private to this process and the X server: a memfd has no name anywhere and
//! reaches the server only as a descriptor; a SysV segment is created 0600 and its id is
//! removed (`IPC_RMID`) as soon as the server has attached it.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::{self, NonNull};

/// `len` bytes shared with the X server, mapped read-only into this process; unmapped on drop.
pub(super) struct SharedMemory {
    start: NonNull<u8>,
    len: usize,
    unmap: Unmap,
}

/// How the mapping was made, so how to undo it.
enum Unmap {
    Munmap,
    Shmdt,
}

impl SharedMemory {
    /// An anonymous memory file of `len` bytes, its size sealed, and its descriptor for the X
    /// server (MIT-SHM 1.2 `ShmAttachFd`).
    pub(super) fn memfd(len: usize) -> io::Result<(Self, OwnedFd)> {
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        // SAFETY: the name is a NUL-terminated literal and the flags are valid.
        let fd = unsafe { libc::memfd_create(c"tether-capture".as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let file = File::from(fd);
        file.set_len(len as u64)?;
        // Whoever holds the descriptor (the X server) can no longer shrink the file under our
        // mapping, which would make reading it fault.
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: `F_ADD_SEALS` takes an int argument; the descriptor is open.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let (prot, flags) = (libc::PROT_READ, libc::MAP_SHARED);
        // SAFETY: a new mapping at an address of the kernel's choosing, of a file of exactly
        // `len` bytes whose size can no longer change; it aliases no Rust object.
        let start = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, file.as_raw_fd(), 0) };
        if start == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let memory = Self { start: mapped(start)?, len, unmap: Unmap::Munmap };
        Ok((memory, file.into()))
    }

    /// A SysV segment of `len` bytes that only this user may open (0600), attached read-only.
    /// The [`SysvId`] removes the id when dropped: drop it once the X server has attached.
    pub(super) fn sysv(len: usize) -> io::Result<(Self, SysvId)> {
        // SAFETY: a plain system call; `IPC_PRIVATE` always makes a new segment.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, len, libc::IPC_CREAT | 0o600) };
        if id < 0 {
            return Err(io::Error::last_os_error());
        }
        let id = SysvId(id);
        // SAFETY: attaches the new segment at an address of the kernel's choosing; it aliases no
        // Rust object.
        let start = unsafe { libc::shmat(id.0, ptr::null(), libc::SHM_RDONLY) };
        if start as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok((Self { start: mapped(start)?, len, unmap: Unmap::Shmdt }, id))
    }

    /// The mapped bytes, as the X server last wrote them.
    pub(super) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes and lives as long as `self`. The X server
        // writes to it only while it serves a ShmGetImage, and `X11Source` hands out frames
        // only after that request's reply and until its next `&mut self` call, which is the
        // only place new requests come from.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        let start = self.start.as_ptr().cast();
        // SAFETY: `start` is this object's own mapping, made by the call the variant names, and
        // no slice of it outlives `self`.
        let failed = unsafe {
            match self.unmap {
                Unmap::Munmap => libc::munmap(start, self.len) < 0,
                Unmap::Shmdt => libc::shmdt(start) < 0,
            }
        };
        if failed {
            tracing::warn!(err = %io::Error::last_os_error(), "cannot unmap the capture buffer");
        }
    }
}

fn mapped(start: *mut libc::c_void) -> io::Result<NonNull<u8>> {
    NonNull::new(start.cast()).ok_or_else(|| io::Error::other("shared memory mapped at address 0"))
}

/// A SysV shared memory id, removed (`IPC_RMID`) on drop: the segment then lives only as long as
/// someone has it attached, and no other process can attach it any more.
pub(super) struct SysvId(i32);

impl SysvId {
    /// The id for `ShmAttach`.
    pub(super) fn id(&self) -> u32 {
        // `shmget` returned it, so it is not negative.
        self.0 as u32
    }
}

impl Drop for SysvId {
    fn drop(&mut self) {
        // SAFETY: `IPC_RMID` takes no buffer; the id is this object's own segment.
        if unsafe { libc::shmctl(self.0, libc::IPC_RMID, ptr::null_mut()) } < 0 {
            let err = io::Error::last_os_error();
            tracing::warn!(%err, id = self.0, "cannot remove the capture's shared memory id");
        }
    }
}
