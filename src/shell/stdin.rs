//! stdin: registered with the poll when it is a pipe or a terminal, read
//! as a file otherwise; read only while the core wants more, and its
//! non-blocking flag put back on the way out.

use std::io::{ErrorKind, Read};
use std::time::Instant;

use mio::Interest;
use mio::unix::SourceFd;

use super::stdio::{diag, std_file};
use super::{READ_BUDGET, STDIN, Shell};
use crate::oserr::describe;

pub(super) enum Stdin {
    /// A pipe or terminal, registered with the poll.
    Polled {
        ready: bool,
    },
    /// A regular file or /dev/null: always ready until its end.
    File,
    Closed,
}

impl Shell {
    pub(super) fn open_stdin(&mut self) {
        // SAFETY: fcntl on fd 0 with F_GETFL/F_SETFL has no memory effects.
        let flags = unsafe { libc::fcntl(0, libc::F_GETFL) };
        if flags < 0 {
            return; // stdin is closed: nothing to read.
        }
        match self
            .io
            .poll
            .registry()
            .register(&mut SourceFd(&0), STDIN, Interest::READABLE)
        {
            Ok(()) => {
                // SAFETY: as above.
                if unsafe { libc::fcntl(0, libc::F_SETFL, flags | libc::O_NONBLOCK) } == 0 {
                    self.stdin_flags = Some(flags);
                }
                self.stdin = Stdin::Polled { ready: true };
            }
            // epoll refuses regular files (and /dev/null): they never block.
            Err(_) => self.stdin = Stdin::File,
        }
    }

    pub(super) fn restore_stdin(&mut self) {
        if let Some(flags) = self.stdin_flags.take() {
            // SAFETY: as in open_stdin.
            unsafe { libc::fcntl(0, libc::F_SETFL, flags) };
        }
    }

    pub(super) fn read_stdin(&mut self, now: Instant) {
        let mut budget = READ_BUDGET;
        while self.node.wants_stdin() && budget > 0 {
            if matches!(self.stdin, Stdin::Closed | Stdin::Polled { ready: false }) {
                return;
            }
            match std_file(0).read(&mut self.scratch) {
                Ok(0) => {
                    self.close_stdin(now);
                    return;
                }
                Ok(n) => {
                    self.node.handle_stdin(&self.scratch[..n], now);
                    self.drain();
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.stdin = Stdin::Polled { ready: false };
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    diag(&format!(
                        "rumor: cannot read stdin: {}; ignoring it\n",
                        describe(&e)
                    ));
                    self.close_stdin(now);
                    return;
                }
            }
        }
    }

    pub(super) fn close_stdin(&mut self, now: Instant) {
        if matches!(self.stdin, Stdin::Polled { .. }) {
            let _ = self.io.poll.registry().deregister(&mut SourceFd(&0));
        }
        self.stdin = Stdin::Closed;
        self.node.handle_stdin_closed(now);
        self.drain();
    }
}
