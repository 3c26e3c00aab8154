//! Running the real `rumor` binary in tests: start it on port 0, learn its
//! address from its first line, and wait on what it prints, always with a
//! deadline and never with a fixed sleep. What the bench shares with the
//! tests (collecting lines, reading `/proc`, the raw peer) is in
//! `rumor::harness`; this file keeps what only the tests need.
//!
//! The `wait_*` helpers panic when their deadline passes, saying what they
//! waited for and showing the tails of the node's stdout and stderr. The
//! deadline, [`WAIT`], is generous so that a loaded machine does not fail a
//! test; a passing wait returns as soon as its event arrives.

#![allow(dead_code, unused_imports)]

pub mod attack;
pub mod text_host;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use rumor::harness::{Lines, RawPeer, body, count, frame_bytes, hello, is_retry, peers_in};
use rumor::harness::{proc, wait_exit};

/// How long a test waits for a node to do something.
pub const WAIT: Duration = Duration::from_secs(30);

/// Lines of stdout and stderr shown when a wait fails.
const TAIL: usize = 12;

/// A running `rumor` process, killed when dropped.
pub struct Rumor {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdin: Option<ChildStdin>,
    pub out: Arc<Lines>,
    pub err: Arc<Lines>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_rumor")
}

impl Rumor {
    /// Starts `rumor --port 0 ARGS` with piped stdin and waits for its address.
    #[track_caller]
    pub fn start(args: &[&str]) -> Rumor {
        Self::start_with(
            Command::new(binary()).args(["--port", "0"]).args(args),
            true,
        )
    }

    /// Starts a prepared command (stdout and stderr are piped here). With
    /// `piped_stdin` false the command's own stdin setting is kept.
    #[track_caller]
    pub fn start_with(cmd: &mut Command, piped_stdin: bool) -> Rumor {
        if piped_stdin {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary()));
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            panic!("stdout and stderr are piped");
        };
        let out = Lines::collect(stdout);
        let err = Lines::collect(stderr);
        let stdin = child.stdin.take();
        let Some((addr, _)) = out.wait_address(WAIT) else {
            let _ = child.kill();
            panic!(
                "no `My address is` line within {WAIT:?}; stdout: {:?}; stderr: {:?}",
                out.tail(TAIL),
                err.tail(TAIL)
            );
        };
        Rumor {
            child,
            addr,
            stdin,
            out,
            err,
        }
    }

    pub fn name(&self) -> String {
        format!("\"{}\"", self.addr)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What a failed wait shows: the tails of stdout and stderr.
    pub fn tails(&self) -> String {
        let mut s = String::new();
        let departures: Vec<String> = self
            .out
            .snapshot()
            .into_iter()
            .filter(|l| body(l).starts_with("Disconnected"))
            .collect();
        let _ = write!(s, "\n  departures: {departures:?}");
        let _ = write!(s, "\n  stdout tail: {:?}", self.out.tail(TAIL));
        let _ = write!(s, "\n  stderr tail: {:?}", self.err.tail(TAIL));
        s
    }

    #[track_caller]
    fn timed_out(&self, what: &str) -> ! {
        panic!(
            "{} waited {WAIT:?} for {what}, in vain{}",
            self.name(),
            self.tails()
        )
    }

    #[track_caller]
    pub fn type_line(&mut self, line: &str) {
        let s = self.stdin.as_mut().expect("stdin is piped");
        if let Err(e) = writeln!(s, "{line}").and_then(|_| s.flush()) {
            panic!("cannot type into {}: {e}{}", self.name(), self.tails());
        }
    }

    /// Waits until `pred` holds over this node's stdout lines; `what` says
    /// what that means, for the failure message. `pred` runs with the lines
    /// locked: it must not look at this node's lines another way.
    #[track_caller]
    pub fn wait_out(&self, what: &str, pred: impl FnMut(&[String]) -> bool) {
        if !self.out.wait(WAIT, pred) {
            self.timed_out(what);
        }
    }

    /// Waits for a stdout line whose body is `want`; returns when it was read.
    #[track_caller]
    pub fn wait_line(&self, want: &str) -> Instant {
        match self.out.wait_for(0, WAIT, |b| b == want) {
            Some((_, at)) => at,
            None => self.timed_out(&format!("the line {want:?}")),
        }
    }

    /// Waits for a stdout line whose body starts with `prefix`; returns
    /// that body.
    #[track_caller]
    pub fn wait_prefix(&self, prefix: &str) -> String {
        match self.out.wait_for(0, WAIT, |b| b.starts_with(prefix)) {
            Some((i, _)) => self.out.get(i).map(|(l, _)| body(&l).to_string()),
            None => None,
        }
        .unwrap_or_else(|| self.timed_out(&format!("a line starting {prefix:?}")))
    }

    /// Waits for a stderr line containing every one of `parts`.
    #[track_caller]
    pub fn wait_err(&self, parts: &[&str]) {
        let found = self.err.wait(WAIT, |l| {
            l.iter().any(|l| parts.iter().all(|p| l.contains(p)))
        });
        if !found {
            self.timed_out(&format!("a stderr line with {parts:?}"));
        }
    }

    /// Waits until this node's established peers are exactly `peers`,
    /// judged from its joins and departures as printed.
    #[track_caller]
    pub fn wait_peers(&self, peers: &[&Rumor]) {
        let mut want: Vec<String> = peers.iter().map(|p| p.name()).collect();
        want.sort();
        let mut have = Vec::new();
        let ok = self.out.wait(WAIT, |l| {
            have = peers_in(l.iter().map(String::as_str));
            have == want
        });
        if !ok {
            self.timed_out(&format!("peers {want:?} (it has {have:?})"));
        }
    }

    /// Waits until this node closes `stream`, a connection to it; `what`
    /// names the connection for the failure message.
    #[track_caller]
    pub fn wait_closed(&self, stream: &mut TcpStream, what: &str) {
        if !wait_closed(stream, WAIT) {
            self.timed_out(&format!("it to close {what}"));
        }
    }

    /// Joins this node as a raw peer (see [`RawPeer::join`]).
    #[track_caller]
    pub fn join_raw(&self, node_id: u64, listen_port: u16) -> RawPeer {
        RawPeer::join(self.addr, node_id, listen_port, WAIT).unwrap_or_else(|e| {
            panic!(
                "raw peer {node_id:#x} joining {}: {e}{}",
                self.name(),
                self.tails()
            )
        })
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with our child's pid has no memory effects.
        unsafe { libc::kill(self.pid(), sig) };
    }

    #[track_caller]
    fn figure<T>(&self, what: &str, v: Option<T>) -> T {
        v.unwrap_or_else(|| panic!("no {what} in /proc for {} (exited?)", self.name()))
    }

    /// Peak resident memory (VmHWM) in KiB.
    #[track_caller]
    pub fn peak_kib(&self) -> u64 {
        self.figure("VmHWM", proc::peak_kib(self.pid()))
    }

    /// Current resident memory (VmRSS) in KiB.
    #[track_caller]
    pub fn rss_kib(&self) -> u64 {
        self.figure("VmRSS", proc::rss_kib(self.pid()))
    }

    /// User plus system CPU time so far.
    #[track_caller]
    pub fn cpu_time(&self) -> Duration {
        self.figure("CPU time", proc::cpu_time(self.pid()))
    }

    /// How many times the node has slept in `poll` (voluntary switches).
    #[track_caller]
    pub fn sleeps(&self) -> u64 {
        self.figure("voluntary_ctxt_switches", proc::sleeps(self.pid()))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit, up to [`WAIT`]; panics if it does not.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child, WAIT).unwrap_or_else(|| self.timed_out("its exit"))
    }
}

impl Drop for Rumor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const SIGKILL: i32 = libc::SIGKILL;
pub const SIGTERM: i32 = libc::SIGTERM;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGSTOP: i32 = libc::SIGSTOP;
pub const SIGCONT: i32 = libc::SIGCONT;

/// Checks that every message sent was printed exactly once by each peer it
/// was sent to, naming the right sender: first every `Sending` printed so
/// far must be received, then no `Received` may lack its `Sending` (the
/// sender's line may not have been read yet). Returns how many deliveries
/// it checked.
#[track_caller]
pub fn assert_exactly_once(nodes: &[&Rumor]) -> usize {
    exactly_once(nodes, false)
}

/// Like [`assert_exactly_once`], but only over messages between `nodes`:
/// what they send to or receive from anyone else (a test's raw peer) is
/// left out.
#[track_caller]
pub fn assert_exactly_once_among(nodes: &[&Rumor]) -> usize {
    exactly_once(nodes, true)
}

/// (sender, receiver, text) → how many times.
type Tally = HashMap<(String, String, String), i64>;

/// What node `me` printed sending (`sends`) or receiving.
fn tally(me: &str, lines: &[String], sends: bool) -> Tally {
    let mut m = Tally::new();
    for l in lines {
        let b = body(l);
        if sends {
            let Some(rest) = b.strip_prefix("Sending message [") else {
                continue;
            };
            let Some((text, to)) = rest.rsplit_once("] to [") else {
                continue;
            };
            for p in to.trim_end_matches(']').split(", ") {
                if !p.is_empty() {
                    *m.entry((me.into(), p.into(), text.into())).or_default() += 1;
                }
            }
        } else if let Some(rest) = b.strip_prefix("Received message [")
            && let Some((text, from)) = rest.rsplit_once("] from ")
        {
            *m.entry((from.into(), me.into(), text.into())).or_default() += 1;
        }
    }
    m
}

/// The entries of `want` that `have` holds fewer of.
fn short_of(want: &Tally, have: &Tally) -> Vec<String> {
    want.iter()
        .filter(|(k, n)| have.get(*k).copied().unwrap_or(0) < **n)
        .map(|((from, to, text), n)| format!("{n}x [{text}] {from} -> {to}"))
        .collect()
}

/// Waits until each node has printed its side of `want`: as the sender
/// (`sends`) or as the receiver.
#[track_caller]
fn printed_by_each(nodes: &[&Rumor], want: &Tally, sends: bool, what: &str) {
    for n in nodes {
        let me = n.name();
        let mut mine = want.clone();
        mine.retain(|(from, to, _), _| *if sends { from } else { to } == me);
        let mut short = Vec::new();
        n.out.wait(WAIT, |l| {
            short = short_of(&mine, &tally(&me, l, sends));
            short.is_empty()
        });
        if !short.is_empty() {
            n.timed_out(&format!("{what}: {short:?}"));
        }
    }
}

#[track_caller]
fn exactly_once(nodes: &[&Rumor], members_only: bool) -> usize {
    let names: Vec<String> = nodes.iter().map(|n| n.name()).collect();
    let counted = |t: Tally| -> Tally {
        t.into_iter()
            .filter(|((from, to, _), _)| {
                !members_only || (names.contains(from) && names.contains(to))
            })
            .collect()
    };
    let all = |sends: bool| -> Tally {
        let mut m = Tally::new();
        for n in nodes {
            m.extend(counted(tally(&n.name(), &n.out.snapshot(), sends)));
        }
        m
    };
    // Each receiver prints everything sent to it.
    let promised = all(true);
    printed_by_each(
        nodes,
        &promised,
        false,
        "messages sent to it (never received)",
    );
    // Nobody printed one message twice; and each sender printed a
    // `Sending` for everything received from it. Its line names its active
    // view, and relays reach the rest: the check is the text, to anyone.
    // Random texts can repeat (25 × 25 × 900 of them): a text counts as
    // often as its writer printed a `Sending` line for it.
    let got = all(false);
    let mut writes: HashMap<(String, String), i64> = HashMap::new();
    for n in nodes {
        for l in n.out.snapshot() {
            if let Some(rest) = body(&l).strip_prefix("Sending message [")
                && let Some((text, _)) = rest.rsplit_once("] to [")
            {
                *writes.entry((n.name(), text.into())).or_default() += 1;
            }
        }
    }
    if let Some(((from, to, text), n)) = got.iter().find(|((from, _, text), n)| {
        **n > writes
            .get(&(from.clone(), text.clone()))
            .copied()
            .unwrap_or(1)
            .max(1)
    }) {
        panic!("{to} printed [{text}] from {from} {n} times");
    }
    let written: Tally = got
        .keys()
        .map(|(from, _, text)| ((from.clone(), String::new(), text.clone()), 1))
        .collect();
    for n in nodes {
        let me = n.name();
        let mut mine = written.clone();
        mine.retain(|(from, _, _), _| *from == me);
        let mut short = Vec::new();
        n.out.wait(WAIT, |l| {
            let sent: Tally = tally(&me, l, true)
                .into_keys()
                .map(|(f, _, t)| ((f, String::new(), t), 1))
                .collect();
            short = short_of(&mine, &sent);
            short.is_empty()
        });
        if !short.is_empty() {
            n.timed_out(&format!("its sends of (received, never sent): {short:?}"));
        }
    }
    promised.values().sum::<i64>() as usize
}

/// Waits until the other end closes `stream` (EOF or reset), reading and
/// discarding what comes, for at most `limit`. True if it closed.
pub fn wait_closed(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return true;
        }
        match std::io::Read::read(stream, &mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if is_retry(&e) => {}
            Err(_) => return true,
        }
    }
}
