//! The shell's side of the core's outputs: each connection's socket and
//! write buffer, closed connections still flushing, stdout's buffer. [`Io`]
//! is the shell's [`Driver`].

use std::io::{self, ErrorKind, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Poll, Token};

use super::sock::connect_from;
use super::stdio::{diag, write_out};
use crate::format::{self, Format};
use crate::node::{ConnId, Driver, Event, Level};

/// How long a closed connection may take to flush its last bytes.
pub(super) const LINGER: Duration = Duration::from_secs(2);
/// Most closed connections flushing at once.
pub(super) const LINGER_MAX: usize = 64;
/// Most bytes a closed connection may still have to flush; one with more
/// (a peer that stopped reading) is dropped at once.
pub(super) const LINGER_BYTES: usize = 64 * 1024;
/// Log bytes held before they are written out mid-turn: one turn may read
/// 256 KiB from each of many connections, and an escaped log line can be six
/// times its payload.
pub(super) const STDOUT_CHUNK: usize = 256 * 1024;

pub(super) fn token(id: ConnId) -> Token {
    Token(((id.generation as usize) << 32) | id.index as usize)
}

pub(super) struct IoConn {
    pub(super) id: ConnId,
    pub(super) stream: TcpStream,
    pub(super) out: OutBuf,
    /// Outbound and not yet connected.
    pub(super) connecting: bool,
    /// Readable edge seen and not yet read to `WouldBlock`.
    pub(super) readable: bool,
    /// Listed in `dirty`.
    pub(super) dirty: bool,
}

/// A closed connection still flushing its last bytes (a goodbye).
pub(super) struct Lingering {
    pub(super) stream: TcpStream,
    pub(super) out: OutBuf,
    pub(super) until: Instant,
}

/// Everything the core's outputs act on: sockets, buffers, stdout. It is
/// the shell's [`Driver`].
pub(super) struct Io {
    pub(super) poll: Poll,
    /// The IP outgoing connections leave from: the listening IP, unless that
    /// is unspecified (`0.0.0.0`, `::`).
    pub(super) source: Option<IpAddr>,
    pub(super) conns: Vec<Option<IoConn>>,
    pub(super) dirty: Vec<usize>,
    /// Slots whose connection is `readable` (each listed once per edge), so
    /// a turn visits only connections with something to read.
    pub(super) ready: Vec<usize>,
    pub(super) lingering: Vec<Lingering>,
    pub(super) stdout: Vec<u8>,
    /// A failed mid-turn stdout write, acted on at the end of the turn.
    pub(super) stdout_err: Option<io::Error>,
    pub(super) format: Format,
    pub(super) level: Level,
    pub(super) failed_dials: Vec<(ConnId, io::Error)>,
}

impl Io {
    pub(super) fn put(&mut self, c: IoConn) {
        let i = c.id.index as usize;
        if self.conns.len() <= i {
            self.conns.resize_with(i + 1, || None);
        }
        if c.readable {
            self.ready.push(i);
        }
        self.conns[i] = Some(c);
    }

    /// Whether slot `index` still holds connection `id`.
    pub(super) fn conn_is(&self, index: usize, id: ConnId) -> bool {
        self.conns
            .get(index)
            .is_some_and(|c| c.as_ref().is_some_and(|c| c.id == id))
    }

    /// Forgets the socket of the connection in slot `index`.
    pub(super) fn drop_io(&mut self, index: usize) -> Option<IoConn> {
        let mut c = self.conns.get_mut(index)?.take()?;
        let _ = self.poll.registry().deregister(&mut c.stream);
        Some(c)
    }

    pub(super) fn connect(&mut self, conn: ConnId, addr: SocketAddr) -> io::Result<()> {
        let mut stream = connect_from(self.source, addr)?;
        self.poll.registry().register(
            &mut stream,
            token(conn),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.put(IoConn::new(conn, stream, true));
        Ok(())
    }

    /// Gives a closed connection's last bytes a chance to leave.
    pub(super) fn linger(&mut self, mut c: IoConn) {
        if c.out.is_empty() || c.connecting {
            return;
        }
        if c.out.write_to(&mut c.stream).is_err() || c.out.is_empty() {
            return;
        }
        if self.lingering.len() < LINGER_MAX && c.out.len() <= LINGER_BYTES {
            self.lingering.push(Lingering {
                stream: c.stream,
                out: c.out,
                until: Instant::now() + LINGER,
            });
        }
    }

    /// A notice of the shell's own on stderr, unless `-q`.
    pub(super) fn notice(&self, text: &str) {
        if Level::Notice <= self.level {
            diag(&format::diag_line(text));
        }
    }

    /// Appends a stdout line, writing out once a chunk has built up.
    pub(super) fn log(&mut self, at: Duration, event: &Event<'_>) {
        self.format.line(&mut self.stdout, at, event);
        if self.stdout.len() >= STDOUT_CHUNK
            && let Err(e) = write_out(&mut self.stdout)
        {
            self.stdout_err.get_or_insert(e);
        }
    }
}

impl Driver for Io {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        let i = conn.index as usize;
        if let Some(Some(c)) = self.conns.get_mut(i)
            && c.id == conn
        {
            c.out.extend_from_slice(bytes);
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(i);
            }
        }
    }

    fn dial(&mut self, conn: ConnId, addr: SocketAddr) {
        if let Err(e) = self.connect(conn, addr) {
            self.failed_dials.push((conn, e));
        }
    }

    fn close(&mut self, conn: ConnId) {
        let i = conn.index as usize;
        if self.conn_is(i, conn)
            && let Some(c) = self.drop_io(i)
        {
            self.linger(c);
        }
    }

    fn event(&mut self, at: Duration, event: Event<'_>) {
        match event {
            Event::Diag { kind, text } => {
                if kind.level() <= self.level {
                    diag(&format::diag_line(text));
                }
            }
            e => self.log(at, &e),
        }
    }
}

impl IoConn {
    pub(super) fn new(id: ConnId, stream: TcpStream, connecting: bool) -> Self {
        IoConn {
            id,
            stream,
            out: OutBuf::default(),
            connecting,
            readable: !connecting,
            dirty: false,
        }
    }
}

/// A connection's write buffer: bytes are appended at the end and written
/// from an offset, so a partial write never moves what is left. The space
/// written is reclaimed when the buffer empties (then freed: idle
/// connections hold no buffer) or once it is over half the buffer.
#[derive(Default)]
pub(super) struct OutBuf {
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
}

impl OutBuf {
    /// Bytes waiting to be written.
    pub(super) fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Writes as much as the socket takes. `Ok` when everything went or the
    /// socket is full.
    pub(super) fn write_to(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        let r = loop {
            if self.pos == self.buf.len() {
                break Ok(());
            }
            match stream.write(&self.buf[self.pos..]) {
                Ok(0) => break Err(io::Error::from(ErrorKind::WriteZero)),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        if self.pos == self.buf.len() {
            *self = OutBuf::default();
        }
        r
    }
}
