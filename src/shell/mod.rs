//! The mio shell: one thread, one poll loop, every socket.
//!
//! It owns the listener, each connection's socket and write buffer, stdin
//! and the signal pipe, and feeds what happens to the [`Node`] core, then
//! carries out what the core asks. All protocol decisions are the core's.
//!
//! Rules it keeps (see ARCHITECTURE.md):
//! - readiness is edge-triggered: accept, read and write until `WouldBlock`,
//!   or, when a per-turn budget runs out first, remember the source as
//!   still ready and poll with a zero timeout next turn;
//! - bytes queued during a turn are written at the end of that turn, one
//!   write per connection per turn, not one per message;
//! - an error on one connection closes that connection only;
//! - a token carries the connection's generation, so events left in a batch
//!   for a closed connection never reach the one that reused its slot;
//! - accept failing for lack of descriptors pauses accepting briefly
//!   instead of spinning.

mod driver;
mod keys;
mod names;
mod sock;
mod stdin;
mod stdio;

use std::fs::File;
use std::io::{self, ErrorKind, Read};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook_mio::v1_0::Signals;

use crate::cli::Peer;
use crate::format::{self, Format, Style};
use crate::node::departure::Outcome;
use crate::node::{Config, ConnId, Level, Node, Reason};
use crate::oserr::{self, describe};
use driver::{Io, IoConn, token};
use sock::{fd_limit, out_of_descriptors, spare_fd};
use stdin::Stdin;
use stdio::{diag, write_out};

const LISTENER: Token = Token(usize::MAX);
const STDIN: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// Bytes read from one source in one turn before others get a go.
const READ_BUDGET: usize = 256 * 1024;
/// Connections accepted in one turn before others get a go.
const ACCEPT_BUDGET: usize = 64;
/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Descriptors kept free for stdin, stdout, stderr, epoll, signals, dials.
const FD_RESERVE: usize = 16;
/// A turn that starts this much later than the poll was asked to wake
/// (the process was stopped, suspended or starved of CPU) reads what came
/// meanwhile before its timers act on a stale picture: a thawed node would
/// otherwise send to peers that dropped it long ago and say it did.
const STALL: Duration = Duration::from_millis(200);

/// Why the loop stopped.
pub enum Exit {
    /// Signal or closed stdout: goodbyes sent.
    Clean,
    /// `--exit-on-eof`: stdin ended and the departure is over.
    Departed(Outcome),
}

/// How the node talks to its user.
#[derive(Clone, Debug)]
pub struct Options {
    /// stdout's format.
    pub style: Style,
    /// The least important diagnostic printed on stderr.
    pub level: Level,
    /// The key file, reloaded on SIGHUP.
    pub key_file: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            style: Style::Text,
            level: Level::Notice,
            key_file: None,
        }
    }
}

pub struct Shell {
    listener: TcpListener,
    listener_ready: bool,
    accept_paused_until: Option<Instant>,
    /// A descriptor held in reserve, given up to accept a connection when
    /// the process has no other left.
    spare: Option<File>,
    node: Node,
    io: Io,
    scratch: Box<[u8]>,
    stdin: Stdin,
    stdin_flags: Option<i32>,
    signals: Signals,
    key_file: Option<std::path::PathBuf>,
    shutting_down: bool,
    /// When the node started (the core's zero for event times).
    start: Instant,
    /// Bootstrap host names still to resolve.
    names: names::Names,
}

/// Binds, prints the address and runs until a signal. Errors are the ones
/// that stop the node before it runs (the port is taken, say).
/// Binds, prints the address and runs until a signal (or, with
/// `--exit-on-eof`, until the departure is over). `names` are the
/// bootstrap peers given by host name that did not resolve at start:
/// retried until they do.
pub fn run(mut cfg: Config, seed: u64, opts: Options, names: &[Peer]) -> io::Result<Exit> {
    let std_listener = std::net::TcpListener::bind(cfg.listen).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {}", cfg.listen, describe(&e)),
        )
    })?;
    std_listener.set_nonblocking(true)?;
    cfg.listen = std_listener.local_addr()?;
    // Never plan for more connections than there are descriptors.
    let fds = fd_limit().saturating_sub(FD_RESERVE).max(8);
    if cfg.max_peers + cfg.max_pending > fds {
        cfg.max_pending = cfg.max_pending.min(fds / 4).max(2);
        cfg.max_peers = fds - cfg.max_pending;
    }
    let mut listener = TcpListener::from_std(std_listener);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut signals = Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGUSR1, libc::SIGHUP])?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)?;

    let source = Some(cfg.listen.ip()).filter(|ip| !ip.is_unspecified());
    let cfg_listen = cfg.listen;
    let now = Instant::now();
    let node = Node::new(cfg, seed, now);
    let mut shell = Shell {
        listener,
        listener_ready: true,
        accept_paused_until: None,
        spare: spare_fd(),
        node,
        io: Io {
            poll,
            source,
            conns: Vec::new(),
            dirty: Vec::new(),
            ready: Vec::new(),
            lingering: Vec::new(),
            stdout: Vec::new(),
            stdout_err: None,
            format: Format::new(opts.style),
            level: opts.level,
            failed_dials: Vec::new(),
        },
        scratch: vec![0; 64 * 1024].into_boxed_slice(),
        stdin: Stdin::Closed,
        stdin_flags: None,
        signals,
        key_file: opts.key_file.clone(),
        shutting_down: false,
        start: now,
        names: names::Names::new(names, cfg_listen.ip(), now),
    };
    for p in names.iter().filter(|p| p.addrs.is_empty()) {
        let why = p.unresolved.as_deref().unwrap_or("no address");
        shell.io.notice(&format!(
            "cannot resolve {} ({why}); retrying in {}ms",
            p.host,
            names::Names::delay(1).as_millis()
        ));
    }
    shell.open_stdin();
    shell.node.handle_start(now);
    if matches!(shell.stdin, Stdin::Closed) {
        // No stdin at all: it has ended before it began.
        shell.node.handle_stdin_closed(now);
    }
    shell.drain();
    let r = shell.run_loop();
    shell.restore_stdin();
    r
}

impl Shell {
    fn has_work_now(&self) -> bool {
        let stdin_ready = match self.stdin {
            Stdin::Polled { ready } => ready,
            Stdin::File => true,
            Stdin::Closed => false,
        };
        (stdin_ready && self.node.wants_stdin())
            || (self.listener_ready && self.accept_paused_until.is_none())
            || !self.io.ready.is_empty()
    }

    fn run_loop(&mut self) -> io::Result<Exit> {
        let mut events = Events::with_capacity(256);
        let mut deferred = false;
        loop {
            let now = Instant::now();
            let timeout = if self.has_work_now() {
                Some(Duration::ZERO)
            } else {
                let mut next = self.node.poll_timeout();
                for t in [
                    self.accept_paused_until,
                    self.io.lingering.iter().map(|l| l.until).min(),
                    self.names.next_due(),
                ]
                .into_iter()
                .flatten()
                {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
                if !self.io.lingering.is_empty() {
                    let soon = now + Duration::from_millis(10);
                    next = Some(next.map_or(soon, |n| n.min(soon)));
                }
                next.map(|t| t.saturating_duration_since(now))
            };
            let planned = timeout.map(|t| now + t);
            if let Err(e) = self.io.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            let mut stalled = planned.is_some_and(|p| now > p + STALL);
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.listener_ready = true,
                    STDIN => self.stdin = Stdin::Polled { ready: true },
                    SIGNALS => {
                        let (mut report, mut reload) = (false, false);
                        for sig in self.signals.pending() {
                            match sig {
                                libc::SIGUSR1 => report = true,
                                libc::SIGHUP => reload = true,
                                _ => self.shutting_down = true,
                            }
                        }
                        if report {
                            self.report_view(now);
                        }
                        if reload {
                            keys::reload(&mut self.node, self.key_file.as_deref(), now);
                            self.drain();
                        }
                    }
                    Token(t) => self.conn_event(t, ev, now),
                }
            }
            if self.shutting_down {
                return self.shutdown();
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                self.listener_ready = true;
            }
            if self.listener_ready && self.accept_paused_until.is_none() {
                self.accept(now);
            }
            for i in std::mem::take(&mut self.io.ready) {
                if self
                    .io
                    .conns
                    .get(i)
                    .is_some_and(|c| c.as_ref().is_some_and(|c| c.readable))
                {
                    self.read_conn(i, now);
                }
            }
            self.read_stdin(now);
            if self.names.next_due().is_some_and(|t| t <= now) {
                self.resolve_names(now);
            }
            // Once, not again and again: a turn slow from its own work (a
            // flood) must not starve the timers.
            stalled = (stalled || Instant::now() > now + STALL) && !deferred;
            deferred = stalled;
            if !stalled && self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
                self.drain();
            }
            self.flush_all();
            if let Err(e) = self.flush_stdout() {
                if e.kind() == ErrorKind::BrokenPipe {
                    return self.shutdown();
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot write to stdout: {}", describe(&e)),
                ));
            }
            if let Some(outcome) = self.node.departed() {
                let outcome = outcome.clone();
                self.flush_lingering(Instant::now());
                return Ok(Exit::Departed(outcome));
            }
        }
    }

    fn conn_event(&mut self, t: usize, ev: &mio::event::Event, now: Instant) {
        let index = t & 0xffff_ffff;
        let Some(Some(c)) = self.io.conns.get_mut(index) else {
            return;
        };
        if token(c.id).0 != t {
            return; // a stale event for a connection closed earlier
        }
        let id = c.id;
        if c.connecting {
            if !(ev.is_writable() || ev.is_error() || ev.is_write_closed()) {
                return;
            }
            let outcome = match c.stream.take_error() {
                Ok(Some(e)) | Err(e) => Err(oserr::dial_connect_error(e)),
                Ok(None) => match c.stream.peer_addr() {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == ErrorKind::NotConnected => Ok(false),
                    Err(e) => Err(e),
                },
            };
            match outcome {
                Ok(false) => return, // spurious wake-up; still connecting
                Ok(true) => {
                    c.connecting = false;
                    let _ = c.stream.set_nodelay(true);
                    keys::entropy(&mut self.node);
                    self.node.handle_connected(id, now);
                    self.drain();
                }
                Err(e) => {
                    self.io.drop_io(index);
                    self.node.handle_closed(id, Reason::io(&e), now);
                    self.drain();
                    return;
                }
            }
        }
        // The core may have closed it while handling the connect, and even
        // reused the slot for a dial.
        let Some(Some(c)) = self.io.conns.get_mut(index) else {
            return;
        };
        if c.id != id {
            return;
        }
        if (ev.is_readable() || ev.is_read_closed() || ev.is_error()) && !c.readable {
            c.readable = true;
            self.io.ready.push(index);
        }
        if ev.is_writable() && !c.out.is_empty() && !c.dirty {
            c.dirty = true;
            self.io.dirty.push(index);
        }
    }

    fn accept(&mut self, now: Instant) {
        if self.spare.is_none() {
            self.spare = spare_fd();
        }
        for _ in 0..ACCEPT_BUDGET {
            match self.listener.accept() {
                Ok((stream, remote)) => {
                    keys::entropy(&mut self.node);
                    let id = self.node.handle_accepted(remote, now);
                    self.admit(stream, id, now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.listener_ready = false;
                    return;
                }
                Err(e) if out_of_descriptors(&e) => {
                    // Accept with the spare descriptor, so the connection is
                    // decided on (room made for it, or refused) instead of
                    // left hanging; then take the spare back.
                    if self.spare.take().is_some() {
                        let r = match self.listener.accept() {
                            Ok((stream, remote)) => {
                                keys::entropy(&mut self.node);
                                let id = self.node.handle_accepted_spare(remote, now);
                                self.admit(stream, id, now);
                                Ok(())
                            }
                            Err(e) => Err(e),
                        };
                        self.spare = spare_fd();
                        match r {
                            Ok(()) if self.spare.is_some() => continue,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                self.listener_ready = false;
                                return;
                            }
                            _ => {}
                        }
                    }
                    // Accepting again at once would fail again at once: wait.
                    if self.accept_paused_until.is_none() {
                        diag(&format!(
                            "rumor: cannot accept: {}; pausing accepts for {}ms\n",
                            describe(&e),
                            ACCEPT_PAUSE.as_millis()
                        ));
                    }
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return;
                }
                // A connection that died in the backlog, and the like.
                Err(_) => continue,
            }
        }
    }

    /// Registers an accepted socket the core gave `id`; with no id (refused)
    /// dropping the stream closes it.
    fn admit(&mut self, mut stream: TcpStream, id: Option<ConnId>, now: Instant) {
        if let Some(id) = id {
            let _ = stream.set_nodelay(true);
            let reg = self.io.poll.registry().register(
                &mut stream,
                token(id),
                Interest::READABLE | Interest::WRITABLE,
            );
            if let Err(e) = reg {
                self.node.handle_closed(id, Reason::io(&e), now);
            } else {
                self.io.put(IoConn::new(id, stream, false));
            }
        }
        self.drain();
    }

    /// Reads `conn` until `WouldBlock`, its end, or the turn's budget.
    fn read_conn(&mut self, index: usize, now: Instant) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(Some(c)) = self.io.conns.get_mut(index) else {
                return;
            };
            let id = c.id;
            let n = match c.stream.read(&mut self.scratch) {
                Ok(0) => {
                    self.io.drop_io(index);
                    self.node.handle_closed(id, Reason::Eof, now);
                    self.drain();
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    c.readable = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.io.drop_io(index);
                    self.node.handle_closed(id, Reason::io(&e), now);
                    self.drain();
                    return;
                }
            };
            if !self.node.handle_read(id, &self.scratch[..n], now) {
                // The core closed it; its Close output follows.
                self.drain();
                return;
            }
            self.drain();
            budget = budget.saturating_sub(n);
            if budget == 0 {
                self.io.ready.push(index);
                return; // still readable: picked up next turn
            }
        }
    }

    /// Carries out everything the core asked for; a dial that fails at
    /// once is reported back, which may ask for more.
    fn drain(&mut self) {
        loop {
            self.node.drain(&mut self.io);
            if self.io.failed_dials.is_empty() {
                return;
            }
            let now = Instant::now();
            for (conn, e) in std::mem::take(&mut self.io.failed_dials) {
                self.node.handle_closed(conn, Reason::io(&e), now);
            }
        }
    }

    /// Writes every connection with bytes queued this turn.
    fn flush_all(&mut self) {
        let now = Instant::now();
        for i in std::mem::take(&mut self.io.dirty) {
            let Some(Some(c)) = self.io.conns.get_mut(i) else {
                continue;
            };
            c.dirty = false;
            if c.connecting {
                continue; // written once connected
            }
            let before = c.out.len();
            let r = c.out.write_to(&mut c.stream);
            let id = c.id;
            let written = before - c.out.len();
            if written > 0 {
                self.node.handle_written(id, written);
            }
            if let Err(e) = r {
                // A peer that said goodbye and left makes this write fail
                // (reset) while its goodbye is still unread: read what it
                // sent first, so its goodbye or last messages count.
                self.read_conn(i, now);
                if self.io.conn_is(i, id) {
                    self.io.drop_io(i);
                    self.node.handle_closed(id, Reason::io(&e), now);
                    self.drain();
                }
            }
        }
        self.io.lingering.retain_mut(|l| {
            now < l.until && l.out.write_to(&mut l.stream).is_ok() && !l.out.is_empty()
        });
    }

    fn flush_stdout(&mut self) -> io::Result<()> {
        if let Some(e) = self.io.stdout_err.take() {
            return Err(e);
        }
        write_out(&mut self.io.stdout)
    }

    /// Looks up the bootstrap names that are due; a resolved one is dialed.
    fn resolve_names(&mut self, now: Instant) {
        for l in self.names.lookup_due(now) {
            match l {
                names::Lookup::Resolved { host, addr } => {
                    self.io.notice(&format!(
                        "{host} resolves to {}; joining through it",
                        addr.ip()
                    ));
                    self.node.handle_bootstrap(addr, now);
                    self.drain();
                }
                names::Lookup::Failed {
                    host,
                    why,
                    retry_in,
                } => self.io.notice(&format!(
                    "cannot resolve {host} ({why}); retrying in {}ms",
                    retry_in.as_millis()
                )),
            }
        }
    }

    /// SIGUSR1: the membership report, on stderr in text mode (stdout
    /// keeps the task's format), as one `view` object on stdout with
    /// `--json`, in order with the other events.
    fn report_view(&mut self, now: Instant) {
        let view = self.node.view(now);
        let at = now.saturating_duration_since(self.start);
        match self.io.format.style() {
            Style::Text => diag(&format::view_text(&view)),
            Style::Json => format::view_json(&mut self.io.stdout, at, &view),
        }
    }

    /// Says goodbye, gives the goodbyes up to a second to leave, and stops.
    fn shutdown(&mut self) -> io::Result<Exit> {
        let now = Instant::now();
        self.node.handle_shutdown(now);
        self.drain();
        let _ = self.flush_stdout();
        self.flush_lingering(now);
        Ok(Exit::Clean)
    }

    /// Gives closed connections' last bytes (goodbyes) up to a second.
    fn flush_lingering(&mut self, now: Instant) {
        let deadline = now + Duration::from_secs(1);
        while !self.io.lingering.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            self.flush_all();
        }
    }
}
