//! stdout and stderr: writes that wait while the terminal is full, even
//! when stdin's non-blocking flag is shared with them.

use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};

/// A handle on one of the standard descriptors (0, 1, 2).
pub(super) fn std_file(fd: RawFd) -> ManuallyDrop<File> {
    // SAFETY: the standard descriptors stay open for the life of the
    // process; ManuallyDrop keeps this handle from closing one.
    ManuallyDrop::new(unsafe { File::from_raw_fd(fd) })
}

/// Writes all of `buf` to `fd`, waiting while it is full. In a terminal,
/// fds 0, 1 and 2 share one open file description, so the `O_NONBLOCK` set
/// for stdin makes stdout and stderr non-blocking too: `WouldBlock` here
/// means "wait", as a blocking write would, never "fail".
pub(super) fn write_all_fd(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    let mut f = std_file(fd);
    while !buf.is_empty() {
        match f.write(buf) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: poll reads and writes only the one struct passed.
                if unsafe { libc::poll(&mut p, 1, -1) } < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() != ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes and empties the log buffer.
pub(super) fn write_out(buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let r = write_all_fd(1, buf);
    buf.clear();
    if buf.capacity() > 1 << 20 {
        *buf = Vec::new();
    }
    r
}

/// A diagnostic line for stderr; one that cannot be written is dropped.
pub(super) fn diag(line: &str) {
    let _ = write_all_fd(2, line.as_bytes());
}
