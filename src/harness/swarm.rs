//! A swarm: `n` real `rumor` processes on 127.0.0.1, each on its own port
//! (`--port 0`, its address read from its first line), all joining through
//! the first, started a few at a time; and lines typed at one of them,
//! followed to every other. `tests/scale.rs` and the bench's `scale`
//! measure use it.
//!
//! - [`Swarm::start`] starts the nodes at a steady pace: at most
//!   [`Spec::window`] started and not yet joined at a time, and at least
//!   [`Spec::pace`] between two starts. A node has joined when it printed
//!   its join line (`Connected to the peers at [...]`; the first node, which
//!   joins nobody, when it printed its address). A node that cannot be
//!   started, exits, or does not print its address or join line within
//!   [`Spec::limit`] fails the start with a one-line reason naming it.
//! - [`Swarm::type_line`] types a line at one node's stdin and
//!   [`Swarm::deliveries`] waits, with one deadline for all, for the
//!   `Received message [TEXT] from "WRITER"` line at every other node.
//!
//! Times are the instants the harness read each line: one clock for every
//! process. (A node's `--json` `ms` field counts from its own start, so
//! comparing it across processes would need each start instant, which the
//! harness knows only to the time of a fork and an exec.) Reading adds a
//! reader thread's wake-up, microseconds on an idle machine; on a loaded
//! one it is part of what a user watching the output sees too.
//!
//! Every child is killed when the swarm is dropped, and, through
//! `PR_SET_PDEATHSIG`, when the process that started it dies (a build with
//! `panic = "abort"` runs no destructors).

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Lines, Waited, address_in, body, wait_exit};

/// What to start.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The `rumor` binary.
    pub bin: PathBuf,
    /// How many nodes, the first included.
    pub nodes: usize,
    /// Arguments every node gets after `--port 0 --period off` (and before
    /// `--connect FIRST`), such as `--max-peers 4`.
    pub args: Vec<String>,
    /// At most this many nodes started and not yet joined at a time (at
    /// least 1).
    pub window: usize,
    /// At least this long between two starts (zero: only the window paces).
    pub pace: Duration,
    /// What becomes of the nodes' stderr.
    pub stderr: Stderr,
    /// The deadline of each wait while starting: a node's address line, and
    /// its join line once it is the oldest of the window.
    pub limit: Duration,
}

/// Where the nodes' stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stderr {
    /// Collected, and its tail shown when a wait fails (a thread per node).
    Collect,
    /// The harness's own stderr.
    Inherit,
    /// Dropped.
    Null,
}

/// One running node.
pub struct Member {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its listening address, as it printed it.
    pub addr: SocketAddr,
    pub out: Arc<Lines>,
    /// Its stderr, with [`Stderr::Collect`].
    pub err: Option<Arc<Lines>>,
    /// When it was started, and when its join line was read (`None` until
    /// then).
    pub started: Instant,
    pub joined: Option<Instant>,
}

impl Member {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Its name as other nodes print it: `"127.0.0.1:PORT"`.
    pub fn name(&self) -> String {
        format!("\"{}\"", self.addr)
    }

    /// The last lines of its stdout and stderr, for a failure message.
    pub fn tails(&self) -> String {
        let err = self.err.as_ref().map(|e| e.tail(6)).unwrap_or_default();
        format!("stdout tail {:?}, stderr tail {err:?}", self.out.tail(6))
    }

    /// Why it stopped, if it did.
    fn exit(&mut self) -> String {
        // Its stdout has ended: give the exit and the last of stderr a
        // moment to arrive.
        let status = wait_exit(&mut self.child, Duration::from_secs(1));
        if let Some(e) = &self.err {
            e.wait_ended(Duration::from_secs(1));
        }
        match status {
            Some(s) => format!("exited ({s})"),
            _ => "closed its stdout".into(),
        }
    }
}

/// A line typed at one node.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The writer's index.
    pub from: usize,
    pub text: String,
    /// Just before the line was written to the writer's stdin.
    pub at: Instant,
    /// Each node's count of stdout lines then: its `Received` line comes
    /// after.
    marks: Vec<usize>,
}

/// The running nodes, killed when dropped. Node 0 is the one all the
/// others joined through; the last is the newest.
pub struct Swarm {
    pub members: Vec<Member>,
}

impl Swarm {
    /// Starts `spec.nodes` nodes and waits until each has joined; see the
    /// module's comment. On failure the nodes started so far are killed.
    pub fn start(spec: &Spec) -> Result<Swarm, String> {
        let mut swarm = Swarm {
            members: Vec::with_capacity(spec.nodes),
        };
        let mut pending = VecDeque::new();
        let mut last_start: Option<Instant> = None;
        for i in 0..spec.nodes {
            while pending.len() >= spec.window.max(1) {
                let j = pending.pop_front().unwrap_or_default();
                swarm.wait_joined(j, spec)?;
            }
            if let Some(due) = last_start.map(|t| t + spec.pace) {
                thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            last_start = Some(Instant::now());
            let boot = swarm.members.first().map(|m| m.addr);
            swarm.spawn(i, boot, spec)?;
            if i == 0 {
                swarm.members[0].joined = Some(Instant::now());
            } else {
                pending.push_back(i);
            }
        }
        while let Some(j) = pending.pop_front() {
            swarm.wait_joined(j, spec)?;
        }
        Ok(swarm)
    }

    fn spawn(&mut self, i: usize, boot: Option<SocketAddr>, spec: &Spec) -> Result<(), String> {
        let n = spec.nodes;
        let mut cmd = Command::new(&spec.bin);
        cmd.args(["--port", "0", "--period", "off"])
            .args(&spec.args);
        if let Some(b) = boot {
            cmd.arg("--connect").arg(b.to_string());
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        cmd.stderr(match spec.stderr {
            Stderr::Collect => Stdio::piped(),
            Stderr::Inherit => Stdio::inherit(),
            Stderr::Null => Stdio::null(),
        });
        // SAFETY: prctl is async-signal-safe and touches no memory of ours;
        // it makes the kernel kill the child if its parent dies.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("node {i} of {n}: cannot start {}: {e}", spec.bin.display()))?;
        let stdin = child.stdin.take();
        let (out, err) = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), e) => (Lines::collect(o), e.map(Lines::collect)),
            (None, _) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("node {i} of {n}: no stdout pipe"));
            }
        };
        let mut m = Member {
            child,
            stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            out,
            err,
            started,
            joined: None,
        };
        // The first line, or the end of a process that could not start.
        let first = match m.out.wait_for_or_end(0, spec.limit, |_| true) {
            Waited::Line(k, _) => Ok(m.out.get(k).map(|(l, _)| l).unwrap_or_default()),
            Waited::Ended => Err(m.exit()),
            Waited::TimedOut => Err(format!("printed nothing within {:?}", spec.limit)),
        };
        let addr = first
            .and_then(|l| address_in(&l).ok_or_else(|| format!("printed {l:?}, not its address")));
        let addr = match addr {
            Ok(a) => a,
            Err(why) => {
                let tails = m.tails();
                self.members.push(m);
                return Err(format!("node {i} of {n} {why}: {tails}"));
            }
        };
        m.addr = addr;
        self.members.push(m);
        Ok(())
    }

    /// Waits for node `j`'s join line.
    fn wait_joined(&mut self, j: usize, spec: &Spec) -> Result<(), String> {
        let n = spec.nodes;
        let m = &mut self.members[j];
        let joined = m.out.wait_for_or_end(0, spec.limit, |b| {
            b.starts_with("Connected to the peers at [")
        });
        match joined {
            Waited::Line(_, at) => {
                m.joined = Some(at);
                Ok(())
            }
            Waited::Ended => Err(format!(
                "node {j} of {n} {} before it joined: {}",
                m.exit(),
                m.tails()
            )),
            Waited::TimedOut => Err(format!(
                "node {j} of {n} ({}) printed no join line within {:?}: {}",
                m.name(),
                spec.limit,
                m.tails()
            )),
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn pids(&self) -> Vec<i32> {
        self.members.iter().map(Member::pid).collect()
    }

    /// Types `text` and a newline at node `from`'s stdin.
    pub fn type_line(&mut self, from: usize, text: &str) -> Result<Sent, String> {
        let marks = self.members.iter().map(|m| m.out.len()).collect();
        let m = &mut self.members[from];
        let line = format!("{text}\n");
        let at = Instant::now();
        let s = m.stdin.as_mut().ok_or("stdin is not piped")?;
        s.write_all(line.as_bytes())
            .and_then(|_| s.flush())
            .map_err(|e| format!("cannot type into node {from} ({}): {e}", m.name()))?;
        Ok(Sent {
            from,
            text: text.to_string(),
            at,
            marks,
        })
    }

    /// The line every other node prints when `sent` reaches it.
    pub fn received_line(&self, sent: &Sent) -> String {
        let writer = self.members[sent.from].name();
        format!("Received message [{}] from {writer}", sent.text)
    }

    /// Waits up to `limit` in all for `sent` to reach every other node.
    /// Returns, per node, when its `Received` line naming the writer was
    /// read: `None` for the writer itself and for a node it did not reach
    /// in time (or that exited).
    pub fn deliveries(&self, sent: &Sent, limit: Duration) -> Vec<Option<Instant>> {
        let want = self.received_line(sent);
        let deadline = Instant::now() + limit;
        let mut at = Vec::with_capacity(self.len());
        for (j, m) in self.members.iter().enumerate() {
            if j == sent.from {
                at.push(None);
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let got = m.out.wait_for_or_end(sent.marks[j], left, |b| b == want);
            at.push(match got {
                Waited::Line(_, t) => Some(t),
                Waited::Ended | Waited::TimedOut => None,
            });
        }
        at
    }

    /// Every `Received` line for `text` that node `j` printed: the origin
    /// each names (`"127.0.0.1:PORT"`), in order.
    pub fn received(&self, j: usize, text: &str) -> Vec<String> {
        let prefix = format!("Received message [{text}] from ");
        let lines = self.members[j].out.snapshot();
        lines
            .iter()
            .filter_map(|l| body(l).strip_prefix(&prefix).map(String::from))
            .collect()
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        // Every kill first, then every reap: no node outlives the others
        // by the time it takes to reap them.
        for m in &mut self.members {
            let _ = m.child.kill();
        }
        for m in &mut self.members {
            let _ = m.child.wait();
        }
    }
}
