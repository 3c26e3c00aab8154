//! Running the real `rumor` binary in tests: start it on port 0, learn its
//! address from its first line, and wait on what it prints, always with a
//! deadline and never with a fixed sleep.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Lines a stream has printed so far, with a condvar to wait on.
#[derive(Default)]
pub struct Lines {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

impl Lines {
    fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let l = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                l.lines.lock().unwrap().push(line);
                l.changed.notify_all();
            }
        });
        lines
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until `pred` holds over the lines so far, up to `limit`.
    pub fn wait(&self, limit: Duration, mut pred: impl FnMut(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if pred(&lines) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            lines = self.changed.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }
}

/// A running `rumor` process.
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

/// Strips the `HH:MM:SS - ` prefix.
pub fn body(line: &str) -> &str {
    line.split_once(" - ").map_or(line, |(_, b)| b)
}

impl Rumor {
    /// Starts `rumor --port 0 ARGS` with piped stdin and waits for its address.
    pub fn start(args: &[&str]) -> Rumor {
        Self::start_with(
            Command::new(binary()).args(["--port", "0"]).args(args),
            true,
        )
    }

    /// Starts a prepared command (stdout and stderr are piped here). With
    /// `piped_stdin` false the command's own stdin setting is kept.
    pub fn start_with(cmd: &mut Command, piped_stdin: bool) -> Rumor {
        if piped_stdin {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rumor");
        let out = Lines::collect(child.stdout.take().unwrap());
        let err = Lines::collect(child.stderr.take().unwrap());
        let stdin = child.stdin.take();
        let mut addr = None;
        let ok = out.wait(Duration::from_secs(10), |l| {
            addr = l.first().and_then(|l| {
                body(l)
                    .strip_prefix("My address is \"")?
                    .strip_suffix('"')?
                    .parse()
                    .ok()
            });
            addr.is_some()
        });
        assert!(ok, "no address printed; stderr: {:?}", err.snapshot());
        Rumor {
            child,
            addr: addr.unwrap(),
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

    pub fn type_line(&mut self, line: &str) {
        let s = self.stdin.as_mut().expect("stdin is piped");
        writeln!(s, "{line}").unwrap();
        s.flush().unwrap();
    }

    /// Waits until some stdout line's body satisfies `pred`.
    pub fn wait_line(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        self.out.wait(limit, |l| l.iter().any(|l| pred(body(l))))
    }

    /// Waits until this node's established peers are exactly `peers`,
    /// judged from its joins and departures as printed.
    pub fn wait_peers(&self, limit: Duration, peers: &[&Rumor]) -> bool {
        let mut want: Vec<String> = peers.iter().map(|p| p.name()).collect();
        want.sort();
        self.out.wait(limit, |l| current_peers(l) == want)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with our child's pid has no memory effects.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_kib(&self) -> u64 {
        status_field(self.pid(), "VmHWM:")
    }

    /// Current resident memory (VmRSS) in KiB.
    pub fn rss_kib(&self) -> u64 {
        status_field(self.pid(), "VmRSS:")
    }

    /// User plus system CPU time so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after = stat.rsplit_once(") ").unwrap().1;
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to exit, up to `limit`; its exit code if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Rumor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_field(pid: i32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The peer set implied by a node's printed joins and departures.
pub fn current_peers(lines: &[String]) -> Vec<String> {
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
    peers.sort();
    peers.dedup();
    peers
}

/// Counts lines whose body satisfies `pred`. Use it on the lines a `wait`
/// predicate is given (taking a snapshot there would deadlock).
pub fn count(lines: &[String], pred: impl Fn(&str) -> bool) -> usize {
    lines.iter().filter(|l| pred(body(l))).count()
}

pub const SIGKILL: i32 = libc::SIGKILL;
pub const SIGTERM: i32 = libc::SIGTERM;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGSTOP: i32 = libc::SIGSTOP;
pub const SIGCONT: i32 = libc::SIGCONT;

/// Checks that every message sent was printed exactly once by each peer it
/// was sent to, naming the right sender: first every `Sending` printed so
/// far must be received (waiting up to 10 s), then no `Received` may lack
/// its `Sending` (waiting up to 3 s for senders' lines to be read). Returns
/// how many deliveries it checked.
pub fn assert_exactly_once(nodes: &[&Rumor]) -> usize {
    exactly_once(nodes, false)
}

/// Like [`assert_exactly_once`], but only over messages between `nodes`:
/// what they send to or receive from anyone else (a test's raw peer) is
/// left out.
pub fn assert_exactly_once_among(nodes: &[&Rumor]) -> usize {
    exactly_once(nodes, true)
}

fn exactly_once(nodes: &[&Rumor], members_only: bool) -> usize {
    use std::collections::HashMap;
    type Key = (String, String, String);
    let names: Vec<String> = nodes.iter().map(|n| n.name()).collect();
    let counted = |k: &Key| !members_only || (names.contains(&k.0) && names.contains(&k.1));
    let tally = |sends: bool, recvs: bool| {
        let mut m: HashMap<Key, i64> = HashMap::new();
        for n in nodes {
            let me = n.name();
            for l in n.out.snapshot() {
                let b = body(&l);
                if let Some(rest) = b.strip_prefix("Sending message [").filter(|_| sends) {
                    if let Some((text, to)) = rest.rsplit_once("] to [") {
                        for p in to
                            .trim_end_matches(']')
                            .split(", ")
                            .filter(|p| !p.is_empty())
                        {
                            *m.entry((me.clone(), p.into(), text.into())).or_default() += 1;
                        }
                    }
                } else if let Some(rest) = b.strip_prefix("Received message [").filter(|_| recvs)
                    && let Some((text, from)) = rest.rsplit_once("] from ")
                {
                    *m.entry((from.into(), me.clone(), text.into())).or_default() += 1;
                }
            }
        }
        m.retain(|k, _| counted(k));
        m
    };
    let promised = tally(true, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = tally(false, true);
        let missing: Vec<_> = promised
            .iter()
            .filter(|(k, n)| got.get(*k).copied().unwrap_or(0) < **n)
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never received: {missing:?}");
        thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let got = tally(false, true);
        let sent = tally(true, false);
        let extra: Vec<_> = got
            .iter()
            .filter(|(k, n)| sent.get(*k).copied().unwrap_or(0) < **n)
            .collect();
        if extra.is_empty() {
            return promised.values().sum::<i64>() as usize;
        }
        assert!(
            Instant::now() < deadline,
            "received more than sent: {extra:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A hand-driven peer speaking the wire format over a blocking socket, for
/// tests that misbehave on purpose.
pub struct RawPeer {
    pub stream: std::net::TcpStream,
    pub node_id: u64,
    /// The node's hello.
    pub hello: rumor::wire::Hello,
    /// The node's welcome list.
    pub peers: Vec<rumor::wire::PeerEntry>,
}

impl RawPeer {
    /// Connects to `node`, says hello as `node_id` listening on
    /// `listen_port`, and reads the node's hello and welcome list.
    pub fn join(node: SocketAddr, node_id: u64, listen_port: u16) -> RawPeer {
        use rumor::wire::{Frame, Hello, VERSION};
        let mut stream = std::net::TcpStream::connect(node).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = Vec::new();
        Frame::Hello(Hello {
            version: VERSION,
            flags: 0,
            node_id,
            listen_port,
            advertised: None,
        })
        .encode(&mut buf);
        stream.write_all(&buf).unwrap();
        let mut hello = None;
        let mut peers = None;
        let mut reader = rumor::wire::FrameReader::new();
        let mut chunk = [0u8; 4096];
        while peers.is_none() {
            let n = std::io::Read::read(&mut stream, &mut chunk).expect("read handshake");
            assert!(n > 0, "node closed the connection during the handshake");
            reader
                .feed(&chunk[..n], |f| {
                    match f {
                        Frame::Hello(h) => hello = Some(h),
                        Frame::Peers(p) if peers.is_none() => peers = Some(p),
                        _ => {}
                    }
                    true
                })
                .expect("valid frames from the node");
        }
        RawPeer {
            stream,
            node_id,
            hello: hello.expect("hello before the peer list"),
            peers: peers.unwrap(),
        }
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &rumor::wire::Frame<'_>) -> std::io::Result<()> {
        let mut buf = Vec::new();
        frame.encode(&mut buf);
        self.stream.write_all(&buf)
    }
}

/// Waits until the other end closes `stream` (EOF or reset), reading and
/// discarding what comes, for at most `limit`. True if it closed.
pub fn wait_closed(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match std::io::Read::read(stream, &mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}
