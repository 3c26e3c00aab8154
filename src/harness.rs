//! Support code for the tests (`tests/common/`) and the benchmark
//! (`src/bin/rumor-bench/`), never used by the node itself.
//!
//! It is not part of the core and none of the core's rules apply to it: it
//! starts threads, blocks on sockets, reads the clock and `/proc`. What it
//! holds is what both the tests and the bench need of a running `rumor`:
//!
//! - [`Lines`]: the lines a process prints, collected by a thread, each with
//!   the time it was read, and waits on them with a deadline;
//! - [`body`], [`address_in`], [`peers_in`], [`count`]: reading the node's
//!   output format;
//! - [`proc`]: memory, CPU and wake-up figures of a process from `/proc`,
//!   and [`wait_exit`], which waits for a child's exit on a pidfd;
//! - [`hello`], [`frame_bytes`] and [`RawPeer`]: speaking the wire protocol
//!   by hand, as a peer would;
//! - [`swarm`]: many real processes on 127.0.0.1 joining through the first,
//!   and the lines typed at one of them delivered to all the others.
//!
//! Every wait here takes a limit and returns as soon as what it waits for
//! has happened; none sleeps a fixed time.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::wire::{Frame, FrameReader, Hello, PeerEntry, VERSION};

pub mod swarm;

/// Strips the `HH:MM:SS - ` prefix of a stdout line.
pub fn body(line: &str) -> &str {
    line.split_once(" - ").map_or(line, |(_, b)| b)
}

/// The address in a node's first line, `HH:MM:SS - My address is "ADDR"`,
/// or with `--json`, `{"event":"listening","ms":0,"addr":"ADDR"}`.
pub fn address_in(line: &str) -> Option<SocketAddr> {
    if let Some(rest) = line.strip_prefix("{\"event\":\"listening\",") {
        let (_, addr) = rest.split_once("\"addr\":\"")?;
        return addr.split('"').next()?.parse().ok();
    }
    body(line)
        .strip_prefix("My address is \"")?
        .strip_suffix('"')?
        .parse()
        .ok()
}

/// The peers a node has, judged from the joins and departures it printed:
/// sorted, each once, as the node names them (`"127.0.0.1:4000"`).
pub fn peers_in<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut peers: Vec<String> = Vec::new();
    for l in lines {
        let b = body(l);
        if let Some(list) = b.strip_prefix("Connected to the peers at [") {
            let list = list.trim_end_matches(']');
            peers.extend(list.split(", ").filter(|p| !p.is_empty()).map(String::from));
        } else if let Some(p) = b.strip_prefix("Connected to the peer at ") {
            peers.push(p.to_string());
        } else if let Some(p) = b.strip_prefix("Disconnected from the peer at ") {
            let p = p.split(" (").next().unwrap_or(p);
            peers.retain(|q| q != p);
        }
    }
    peers.sort_unstable();
    peers.dedup();
    peers
}

/// Counts the lines whose body satisfies `pred`.
pub fn count(lines: &[String], pred: impl Fn(&str) -> bool) -> usize {
    lines.iter().filter(|l| pred(body(l))).count()
}

/// The lines a stream has printed so far, each with the time it was read,
/// and a condvar to wait on them.
///
/// The reader thread only ever takes the `inbox` lock, and only to append:
/// a waiter's predicate runs over `state` (the lines taken in so far), so
/// however long it takes, it never holds back the reader, and so never
/// the process's output (a node that cannot write its stdout stalls).
#[derive(Default)]
pub struct Lines {
    inbox: Mutex<State>,
    state: Mutex<State>,
    /// Notified with `inbox` when the reader appends or reaches the end.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<String>,
    read_at: Vec<Instant>,
    /// The stream reached its end (or failed).
    ended: bool,
}

/// A lock whose holder panicked: the lines are whole (pushed one at a
/// time), so go on with them.
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Lines {
    /// Reads `stream` line by line on a thread of its own until it ends.
    /// Invalid UTF-8 is replaced (U+FFFD) and a trailing `\r` (a terminal's
    /// line end) dropped.
    pub fn collect(stream: impl Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let l = lines.clone();
        thread::spawn(move || {
            // A large buffer: a node that prints fast waits for this reader.
            let mut r = BufReader::with_capacity(1 << 20, stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let end = buf.strip_suffix(b"\n").unwrap_or(&buf);
                let end = end.strip_suffix(b"\r").unwrap_or(end);
                let line = String::from_utf8_lossy(end).into_owned();
                let now = Instant::now();
                let mut inbox = relock(&l.inbox);
                inbox.lines.push(line);
                inbox.read_at.push(now);
                drop(inbox);
                l.changed.notify_all();
            }
            relock(&l.inbox).ended = true;
            l.changed.notify_all();
        });
        lines
    }

    /// The lines so far, the reader's latest taken in.
    fn lock(&self) -> MutexGuard<'_, State> {
        let mut s = relock(&self.state);
        let mut inbox = relock(&self.inbox);
        s.lines.append(&mut inbox.lines);
        s.read_at.append(&mut inbox.read_at);
        s.ended |= inbox.ended;
        s
    }

    /// Waits up to `limit` for `f` to return something over the state.
    fn wait_until<T>(&self, limit: Duration, mut f: impl FnMut(&State) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) = f(&self.lock()) {
                return Some(t);
            }
            let inbox = relock(&self.inbox);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            // Lines that came while `f` ran are looked at at once.
            if inbox.lines.is_empty() {
                drop(self.changed.wait_timeout(inbox, left));
            }
        }
    }

    /// How many lines so far.
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    /// Whether nothing was printed yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the stream has ended (the process closed it or exited).
    pub fn ended(&self) -> bool {
        self.lock().ended
    }

    /// A copy of the lines so far.
    pub fn snapshot(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Line `i` and when it was read.
    pub fn get(&self, i: usize) -> Option<(String, Instant)> {
        let s = self.lock();
        Some((s.lines.get(i)?.clone(), *s.read_at.get(i)?))
    }

    /// The last `n` lines, for failure messages.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let s = self.lock();
        s.lines[s.lines.len().saturating_sub(n)..].to_vec()
    }

    /// Waits up to `limit` until `pred` holds over all the lines so far.
    /// `pred` runs with the lines locked: it must not call back into them.
    pub fn wait(&self, limit: Duration, mut pred: impl FnMut(&[String]) -> bool) -> bool {
        self.wait_until(limit, |s| pred(&s.lines).then_some(()))
            .is_some()
    }

    /// Waits up to `limit` for a line at index `from` or later whose body
    /// satisfies `pred`; returns its index and when it was read.
    pub fn wait_for(
        &self,
        from: usize,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<(usize, Instant)> {
        let mut next = from;
        self.wait_until(limit, |s| {
            while next < s.lines.len() {
                if pred(body(&s.lines[next])) {
                    return Some((next, s.read_at[next]));
                }
                next += 1;
            }
            None
        })
    }

    /// [`Lines::wait_for`], that also returns (with [`Waited::Ended`]) when
    /// the stream ends without such a line: a process that exits is seen at
    /// once, not at the deadline.
    pub fn wait_for_or_end(
        &self,
        from: usize,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Waited {
        let mut next = from;
        let found = self.wait_until(limit, |s| {
            while next < s.lines.len() {
                if pred(body(&s.lines[next])) {
                    return Some(Waited::Line(next, s.read_at[next]));
                }
                next += 1;
            }
            s.ended.then_some(Waited::Ended)
        });
        found.unwrap_or(Waited::TimedOut)
    }

    /// Waits up to `limit` for a node's first line and the address in it;
    /// returns the address and when the line was read.
    pub fn wait_address(&self, limit: Duration) -> Option<(SocketAddr, Instant)> {
        self.wait_until(limit, |s| {
            Some((address_in(s.lines.first()?)?, *s.read_at.first()?))
        })
    }

    /// Waits up to `limit` for the stream to end.
    pub fn wait_ended(&self, limit: Duration) -> bool {
        self.wait_until(limit, |s| s.ended.then_some(())).is_some()
    }
}

/// What [`Lines::wait_for_or_end`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// The line's index and when it was read.
    Line(usize, Instant),
    /// The stream ended first.
    Ended,
    /// The limit passed first.
    TimedOut,
}

/// Figures of a running process from `/proc/PID/`. Each is `None` when the
/// process is gone or the kernel does not show it.
pub mod proc {
    use std::fs;
    use std::time::Duration;

    /// A number field of `/proc/PID/status` (`"VmRSS:"`, `"Threads:"`...),
    /// in the unit the kernel gives (KiB for memory).
    pub fn status_field(pid: i32, field: &str) -> Option<u64> {
        let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(pid: i32) -> Option<u64> {
        status_field(pid, "VmRSS:")
    }

    /// Peak resident memory (VmHWM), in KiB.
    pub fn peak_kib(pid: i32) -> Option<u64> {
        status_field(pid, "VmHWM:")
    }

    /// How many times the process gave up the CPU to wait (a poll loop
    /// adds one each time it sleeps in `poll`).
    pub fn sleeps(pid: i32) -> Option<u64> {
        status_field(pid, "voluntary_ctxt_switches:")
    }

    /// Context switches of both kinds: its wake-ups, and preemptions.
    pub fn wakeups(pid: i32) -> Option<u64> {
        Some(sleeps(pid)? + status_field(pid, "nonvoluntary_ctxt_switches:")?)
    }

    /// How many of the process's open descriptors are sockets (listening,
    /// connected or connecting), from the links in `/proc/PID/fd/`.
    pub fn sockets(pid: i32) -> Option<usize> {
        let dir = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
        let is_socket = |e: &fs::DirEntry| {
            fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        };
        Some(dir.filter_map(Result::ok).filter(is_socket).count())
    }

    /// CPU time used so far: the scheduler's nanosecond count where the
    /// kernel shows it, else the clock ticks of `/proc/PID/stat`.
    pub fn cpu_time(pid: i32) -> Option<Duration> {
        let sched = fs::read_to_string(format!("/proc/{pid}/sched")).unwrap_or_default();
        let precise = sched
            .lines()
            .find_map(|l| l.strip_prefix("se.sum_exec_runtime"))
            .and_then(|v| v.trim_start_matches([' ', ':']).trim().parse::<f64>().ok());
        if let Some(ms) = precise.filter(|&ms| ms > 0.0) {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let f: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(Duration::from_millis(ticks * 1000 / hz))
    }
}

/// Waits up to `limit` for `child` to exit and reaps it. It sleeps on a
/// pidfd, which becomes readable at the exit (Linux 5.3 and later; on an
/// older kernel it checks every 10 ms).
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; it touches no memory of ours.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a descriptor we now own.
    let pidfd = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw as i32) });
    loop {
        if let Some(s) = child.try_wait().ok()? {
            return Some(s);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        match &pidfd {
            Some(fd) => {
                let mut p = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
                // SAFETY: one valid pollfd for the duration of the call.
                unsafe { libc::poll(&mut p, 1, ms) };
            }
            None => thread::sleep(left.min(Duration::from_millis(10))),
        }
    }
}

/// A frame, encoded.
pub fn frame_bytes(f: &Frame<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    f.encode(&mut v);
    v
}

/// A hello of this protocol version, no flags.
pub fn hello(node_id: u64, listen_port: u16) -> Frame<'static> {
    Frame::Hello(Hello {
        version: VERSION,
        flags: 0,
        node_id,
        listen_port,
        advertised: None,
    })
}

/// A peer driven by hand over a blocking socket, that has done the
/// handshake with a node.
pub struct RawPeer {
    pub stream: TcpStream,
    pub node_id: u64,
    /// The node's hello.
    pub hello: Hello,
    /// The node's welcome list.
    pub peers: Vec<PeerEntry>,
}

impl RawPeer {
    /// Connects to `node` and says hello as `node_id` listening on
    /// `listen_port` (`None`: the connection's own local port), without
    /// waiting for the node's answer. `TCP_NODELAY` is set.
    pub fn connect(
        node: SocketAddr,
        node_id: u64,
        listen_port: Option<u16>,
    ) -> io::Result<TcpStream> {
        let mut s = TcpStream::connect(node)?;
        s.set_nodelay(true)?;
        let port = match listen_port {
            Some(p) => p,
            None => s.local_addr()?.port(),
        };
        s.write_all(&frame_bytes(&hello(node_id, port)))?;
        Ok(s)
    }

    /// [`RawPeer::connect`], then reads the node's hello and welcome list,
    /// for up to `limit`. Frames after them are dropped. On return the
    /// stream's read timeout is `limit`.
    pub fn join(
        node: SocketAddr,
        node_id: u64,
        listen_port: u16,
        limit: Duration,
    ) -> io::Result<RawPeer> {
        let deadline = Instant::now() + limit;
        let mut stream = Self::connect(node, node_id, Some(listen_port))?;
        let mut hello = None;
        let mut peers = None;
        let mut reader = FrameReader::new();
        let mut chunk = [0u8; 4096];
        while peers.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let what = if hello.is_some() {
                    "peer list"
                } else {
                    "hello"
                };
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    format!("no {what} from the node at {node} within {limit:?}"),
                ));
            }
            stream.set_read_timeout(Some(left))?;
            let n = match stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        format!("the node at {node} closed the connection in the handshake"),
                    ));
                }
                Ok(n) => n,
                Err(e) if is_retry(&e) => continue,
                Err(e) => return Err(e),
            };
            reader
                .feed(&chunk[..n], |f| {
                    match f {
                        Frame::Hello(h) => hello = Some(h),
                        Frame::Peers(p) if peers.is_none() => peers = Some(p),
                        _ => {}
                    }
                    true
                })
                .map_err(|e| io::Error::new(ErrorKind::InvalidData, e.to_string()))?;
        }
        stream.set_read_timeout(Some(limit))?;
        let hello = hello.ok_or_else(|| {
            io::Error::new(ErrorKind::InvalidData, "a peer list before the hello")
        })?;
        Ok(RawPeer {
            stream,
            node_id,
            hello,
            peers: peers.unwrap_or_default(),
        })
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &Frame<'_>) -> io::Result<()> {
        self.stream.write_all(&frame_bytes(frame))
    }
}

/// Whether a failed read is worth trying again: a timeout (which a read
/// timeout reports as `WouldBlock`) or a signal.
pub fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}
