//! `rumor-bench`: footprint, join time, throughput, latency and wire
//! overhead of real `rumor` processes on loopback, beside the machine's own
//! limits (plain loopback TCP moving the same messages).
//!
//! Run it with `cargo run --release --bin rumor-bench` (add `-- --quick` for
//! a short run, `-- --json` for JSON). It starts the release `rumor` binary
//! that sits next to its own executable, on 127.0.0.1 with `--port 0`, and
//! kills every process it started when it is done (and, through
//! `PR_SET_PDEATHSIG`, if it dies).
//!
//! This is a harness, not the product: it uses threads and blocking sockets
//! freely. Every wait in it is bounded in time.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rumor::wire::{self, Frame, FrameReader, Hello};

const USAGE: &str = "\
usage: rumor-bench [--quick] [--json] [--runs N] [--only SECTION,...] [--verbose]

Starts real rumor processes on 127.0.0.1 and prints a Markdown table (or
JSON with --json) of their footprint, join time, throughput, latency and
wire overhead, beside plain loopback TCP doing the same work.

  --quick     fewer runs and smaller loads (about a minute)
  --json      print JSON instead of the table
  --runs N    runs per measurement (medians are reported; default 5, quick 2)
  --only S    sections to run: idle, memory, join, throughput, latency, overhead
  --verbose   let the nodes' stderr through";

const SECTIONS: &[&str] = &[
    "idle",
    "memory",
    "join",
    "throughput",
    "latency",
    "overhead",
];

/// Payload size of the small messages.
const SMALL: usize = 64;
/// Payload size of the large messages.
const LARGE: usize = 16 * 1024;

struct Opts {
    quick: bool,
    json: bool,
    runs: usize,
    only: Vec<String>,
    verbose: bool,
}

impl Opts {
    fn parse() -> Result<Opts, String> {
        let mut o = Opts {
            quick: false,
            json: false,
            runs: 0,
            only: Vec::new(),
            verbose: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--json" => o.json = true,
                "--verbose" => o.verbose = true,
                "--runs" => {
                    let n = args.next().ok_or("--runs needs a number")?;
                    o.runs = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=50).contains(n))
                        .ok_or("--runs takes 1 to 50")?;
                }
                "--only" => {
                    let s = args.next().ok_or("--only needs section names")?;
                    for name in s.split(',') {
                        if !SECTIONS.contains(&name) {
                            return Err(format!("unknown section {name:?}"));
                        }
                        o.only.push(name.to_string());
                    }
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        if o.runs == 0 {
            o.runs = if o.quick { 2 } else { 5 };
        }
        Ok(o)
    }

    fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

// ---- results ----------------------------------------------------------

struct Row {
    section: &'static str,
    name: String,
    value: Option<f64>,
    unit: &'static str,
    /// The machine's own figure for the same work, and what it is.
    base: Option<(f64, &'static str)>,
    target: Option<Target>,
}

#[derive(Clone, Copy)]
enum Target {
    AtMost(f64),
    AtLeast(f64),
    /// At least this fraction of the baseline.
    RatioAtLeast(f64),
}

impl Row {
    fn new(section: &'static str, name: impl Into<String>, value: Option<f64>) -> Row {
        Row {
            section,
            name: name.into(),
            value,
            unit: "",
            base: None,
            target: None,
        }
    }
    fn unit(mut self, u: &'static str) -> Row {
        self.unit = u;
        self
    }
    fn base(mut self, b: Option<f64>, what: &'static str) -> Row {
        self.base = b.map(|b| (b, what));
        self
    }
    fn target(mut self, t: Target) -> Row {
        self.target = Some(t);
        self
    }
    fn ratio(&self) -> Option<f64> {
        match (self.value, self.base) {
            (Some(v), Some((b, _))) if b != 0.0 => Some(v / b),
            _ => None,
        }
    }
    fn met(&self) -> Option<bool> {
        let v = self.value?;
        Some(match self.target? {
            Target::AtMost(t) => v <= t,
            Target::AtLeast(t) => v >= t,
            Target::RatioAtLeast(t) => self.ratio()? >= t,
        })
    }
    fn target_text(&self) -> String {
        match self.target {
            None => String::new(),
            Some(Target::AtMost(t)) => format!("≤ {} {}", num(t), self.unit),
            Some(Target::AtLeast(t)) => format!("≥ {} {}", num(t), self.unit),
            Some(Target::RatioAtLeast(t)) => format!("ratio ≥ {}", num(t)),
        }
    }
}

/// A number with a sensible number of digits and thousands separators.
fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let n = v.round() as i64;
        let s = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        if n < 0 { format!("-{out}") } else { out }
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn median(v: &[f64]) -> Option<f64> {
    percentile(v, 50.0)
}

fn percentile(v: &[f64], p: f64) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * (s.len() - 1) as f64).round() as usize;
    Some(s[i.min(s.len() - 1)])
}

// ---- processes --------------------------------------------------------

/// Lines a process printed, each with the time the bench read it.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<(Instant, String)>>,
    changed: Condvar,
}

impl Lines {
    fn collect(stream: impl Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let l = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let now = Instant::now();
                l.lines.lock().unwrap().push((now, line));
                l.changed.notify_all();
            }
        });
        lines
    }

    fn len(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Waits up to `limit` for a line at index `from` or later whose body
    /// satisfies `pred`; returns its index and when it was read.
    fn wait_for(
        &self,
        from: usize,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<(usize, Instant)> {
        let deadline = Instant::now() + limit;
        let mut lines = self.lines.lock().unwrap();
        let mut next = from;
        loop {
            while next < lines.len() {
                if pred(body(&lines[next].1)) {
                    return Some((next, lines[next].0));
                }
                next += 1;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            lines = self.changed.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// Waits up to `limit` for `pred` over all lines so far.
    fn wait_all(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&[(Instant, String)]) -> bool,
    ) -> bool {
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

/// Strips the `HH:MM:SS - ` prefix.
fn body(line: &str) -> &str {
    line.split_once(" - ").map_or(line, |(_, b)| b)
}

/// How many peers a node has, judged from the lines it printed.
fn peer_count<'a>(lines: impl Iterator<Item = &'a str>) -> usize {
    let mut peers: Vec<&str> = Vec::new();
    for l in lines {
        let b = body(l);
        if let Some(list) = b.strip_prefix("Connected to the peers at [") {
            let list = list.trim_end_matches(']');
            peers.extend(list.split(", ").filter(|p| !p.is_empty()));
        } else if let Some(p) = b.strip_prefix("Connected to the peer at ") {
            peers.push(p);
        } else if let Some(p) = b.strip_prefix("Disconnected from the peer at ") {
            let p = p.split(" (").next().unwrap_or(p);
            peers.retain(|q| *q != p);
        }
    }
    peers.sort_unstable();
    peers.dedup();
    peers.len()
}

/// Where a node's stdout goes.
enum Sink {
    /// A pipe the bench reads line by line.
    Pipe,
    /// A file (for throughput: the bench only watches its size).
    File(PathBuf),
}

/// A running `rumor`, killed when dropped.
struct Proc {
    child: Child,
    addr: SocketAddr,
    stdin: Option<ChildStdin>,
    out: Option<Arc<Lines>>,
    file: Option<PathBuf>,
    /// When the bench read its first line (its address).
    first_line: Instant,
}

struct Env {
    bin: PathBuf,
    tmp: PathBuf,
    verbose: bool,
}

impl Env {
    /// Starts `rumor --port 0 --period off EXTRA`. Must be called from the
    /// main thread: the child's parent-death signal is tied to the thread
    /// that started it.
    fn spawn(&self, extra: &[String], sink: Sink) -> io::Result<Proc> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--port", "0", "--period", "off"]).args(extra);
        cmd.stdin(Stdio::piped());
        cmd.stderr(if self.verbose {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
        let file = match &sink {
            Sink::Pipe => {
                cmd.stdout(Stdio::piped());
                None
            }
            Sink::File(p) => {
                cmd.stdout(File::create(p)?);
                Some(p.clone())
            }
        };
        // SAFETY: prctl is async-signal-safe and touches no memory of ours;
        // it makes the kernel kill the child if the bench dies.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let out = child.stdout.take().map(Lines::collect);
        let mut p = Proc {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            stdin,
            out,
            file,
            first_line: Instant::now(),
        };
        let parse = |l: &str| -> Option<SocketAddr> {
            body(l)
                .strip_prefix("My address is \"")?
                .strip_suffix('"')?
                .parse()
                .ok()
        };
        let limit = Duration::from_secs(10);
        if let Some(out) = &p.out {
            let (i, at) = out
                .wait_for(0, limit, |l| parse(l).is_some())
                .ok_or_else(|| io::Error::other("rumor printed no address"))?;
            p.addr = parse(&out.lines.lock().unwrap()[i].1).unwrap_or(p.addr);
            p.first_line = at;
        } else {
            let path = p.file.clone().unwrap_or_default();
            let deadline = Instant::now() + limit;
            loop {
                let text = fs::read_to_string(&path).unwrap_or_default();
                if let Some(a) = text.lines().next().and_then(parse) {
                    p.addr = a;
                    p.first_line = Instant::now();
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(io::Error::other("rumor printed no address"));
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(p)
    }
}

impl Proc {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn name(&self) -> String {
        format!("\"{}\"", self.addr)
    }

    fn connect_arg(&self) -> Vec<String> {
        vec!["--connect".into(), self.addr.to_string()]
    }

    fn peers(&self) -> usize {
        if let Some(out) = &self.out {
            let l = out.lines.lock().unwrap();
            peer_count(l.iter().map(|(_, s)| s.as_str()))
        } else {
            let text = fs::read_to_string(self.file.as_ref().unwrap()).unwrap_or_default();
            peer_count(text.lines())
        }
    }

    /// Waits up to `limit` until the node has `n` peers.
    fn wait_peers(&self, n: usize, limit: Duration) -> bool {
        if let Some(out) = &self.out {
            return out.wait_all(limit, |l| {
                peer_count(l.iter().map(|(_, s)| s.as_str())) == n
            });
        }
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.peers() == n {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn status_field(&self, field: &str) -> Option<f64> {
        let s = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    fn rss_kib(&self) -> Option<f64> {
        self.status_field("VmRSS:")
    }

    fn wakeups(&self) -> Option<f64> {
        Some(
            self.status_field("voluntary_ctxt_switches:")?
                + self.status_field("nonvoluntary_ctxt_switches:")?,
        )
    }

    /// CPU time used so far, in seconds: the scheduler's nanosecond count
    /// where the kernel shows it, else the 10 ms ticks of /proc/PID/stat.
    fn cpu_secs(&self) -> Option<f64> {
        let sched = fs::read_to_string(format!("/proc/{}/sched", self.pid())).unwrap_or_default();
        let precise = sched
            .lines()
            .find_map(|l| l.strip_prefix("se.sum_exec_runtime"))
            .and_then(|v| v.trim_start_matches([' ', ':']).trim().parse::<f64>().ok());
        if let Some(ms) = precise.filter(|&ms| ms > 0.0) {
            return Some(ms / 1000.0);
        }
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let f: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some(ticks / hz)
    }

    /// SIGTERM (a goodbye to its peers), then SIGKILL if it lingers.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child has no memory effects.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(f) = &self.file {
            let _ = fs::remove_file(f);
        }
    }
}

/// Builds a full mesh of `n` nodes, each joining through the first.
fn mesh(env: &Env, n: usize, sink: impl Fn(usize) -> Sink) -> io::Result<Vec<Proc>> {
    let first = env.spawn(&[], sink(0))?;
    let boot = first.connect_arg();
    let mut nodes = vec![first];
    for i in 1..n {
        let p = env.spawn(&boot, sink(i))?;
        if !p.wait_peers(i, Duration::from_secs(10)) {
            return Err(io::Error::other(format!("node {i} of {n} did not join")));
        }
        nodes.push(p);
    }
    for p in &nodes {
        if !p.wait_peers(n - 1, Duration::from_secs(10)) {
            return Err(io::Error::other(format!("the {n}-node mesh did not form")));
        }
    }
    Ok(nodes)
}

// ---- raw peers (the wire protocol, spoken by the bench) -----------------

fn frame_bytes(f: &Frame<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    f.encode(&mut v);
    v
}

/// A connection to a node that has done the handshake, as a peer would.
fn raw_peer(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let port = s.local_addr()?.port();
    s.write_all(&frame_bytes(&Frame::Hello(Hello {
        version: wire::VERSION,
        flags: 0,
        node_id: fastrand::u64(1..),
        listen_port: port,
        advertised: None,
    })))?;
    Ok(s)
}

/// Keeps raw peers alive (keepalives each second, incoming bytes read and
/// dropped) until `stop` is set.
fn keep_alive(peers: Arc<Mutex<Vec<TcpStream>>>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let ka = frame_bytes(&Frame::Keepalive);
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = Instant::now();
        let hard_stop = Instant::now() + Duration::from_secs(600);
        while !stop.load(Ordering::Relaxed) && Instant::now() < hard_stop {
            let send = last.elapsed() >= Duration::from_millis(500);
            if send {
                last = Instant::now();
            }
            for s in peers.lock().unwrap().iter_mut() {
                let _ = s.set_nonblocking(true);
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                if send {
                    let _ = s.write_all(&ka);
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
    })
}

// ---- the machine's own limits -----------------------------------------

/// `count` lines of `len` payload bytes each, made of `chunk` repeated.
fn message_chunk(len: usize) -> Vec<u8> {
    let per = (64 * 1024 / (len + 1)).max(1);
    let mut chunk = Vec::with_capacity(per * (len + 1));
    for i in 0..per {
        let head = format!("m{i:07} ");
        let mut line = head.into_bytes();
        line.resize(len, b'x');
        chunk.extend_from_slice(&line);
        chunk.push(b'\n');
    }
    chunk
}

/// Writes `count` lines from `chunk` (repeated) to `w`.
fn write_lines(w: &mut impl Write, chunk: &[u8], len: usize, count: usize) -> io::Result<()> {
    let per = chunk.len() / (len + 1);
    let mut left = count;
    while left > 0 {
        let k = left.min(per);
        w.write_all(&chunk[..k * (len + 1)])?;
        left -= k;
    }
    w.flush()
}

/// Plain loopback TCP: one thread writes `count` newline-ended messages in
/// 64 KiB batches, another reads them. Returns messages per second.
fn loopback_throughput(len: usize, count: usize) -> io::Result<f64> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = l.local_addr()?;
    let total = count * (len + 1);
    let rx = thread::spawn(move || -> io::Result<Instant> {
        let (mut s, _) = l.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < total {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            got += n;
        }
        Ok(Instant::now())
    });
    let chunk = message_chunk(len);
    let mut s = TcpStream::connect(addr)?;
    let t0 = Instant::now();
    write_lines(&mut s, &chunk, len, count)?;
    let t1 = rx
        .join()
        .map_err(|_| io::Error::other("reader panicked"))??;
    Ok(count as f64 / (t1 - t0).as_secs_f64())
}

/// Plain loopback TCP one-way latency between two threads of this process:
/// one writes a message, the other reads it whole. Returns microseconds.
fn loopback_latency(samples: usize) -> io::Result<Vec<f64>> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let mut s = TcpStream::connect(l.local_addr()?)?;
    s.set_nodelay(true)?;
    let (mut r, _) = l.accept()?;
    r.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (tx, done) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; SMALL + 1];
        for _ in 0..samples {
            if r.read_exact(&mut buf).is_err() {
                break;
            }
            if tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    let msg = message_chunk(SMALL);
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t0 = Instant::now();
        s.write_all(&msg[..SMALL + 1])?;
        let t1 = done
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| io::Error::other("loopback latency timed out"))?;
        out.push((t1 - t0).as_secs_f64() * 1e6);
    }
    let _ = reader.join();
    Ok(out)
}

// ---- the measurements ---------------------------------------------------

fn fail(what: &str, e: impl std::fmt::Display) {
    eprintln!("rumor-bench: {what}: {e}");
}

/// Idle 3-node mesh: footprint, CPU and wake-ups.
fn idle(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let window = Duration::from_secs(if o.quick { 3 } else { 10 });
    eprintln!("idle: a 3-node mesh, {}s window", window.as_secs());
    let mesh = match mesh(env, 3, |_| Sink::Pipe) {
        Ok(m) => m,
        Err(e) => return fail("idle mesh", e),
    };
    // A reference process: how small can any process on this machine be.
    let sleeper = Command::new("sleep").arg("30").stdin(Stdio::null()).spawn();
    thread::sleep(Duration::from_millis(1000));
    let rss: Vec<f64> = mesh.iter().filter_map(Proc::rss_kib).collect();
    let threads: Vec<f64> = mesh
        .iter()
        .filter_map(|p| p.status_field("Threads:"))
        .collect();
    let sleep_rss = sleeper.as_ref().ok().and_then(|c| {
        let s = fs::read_to_string(format!("/proc/{}/status", c.id())).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    });
    if let Ok(mut c) = sleeper {
        let _ = c.kill();
        let _ = c.wait();
    }
    let cpu0: Vec<Option<f64>> = mesh.iter().map(Proc::cpu_secs).collect();
    let wk0: Vec<Option<f64>> = mesh.iter().map(Proc::wakeups).collect();
    let t0 = Instant::now();
    thread::sleep(window);
    let secs = t0.elapsed().as_secs_f64();
    let mut cpu = Vec::new();
    let mut wk = Vec::new();
    for (i, p) in mesh.iter().enumerate() {
        if let (Some(a), Some(b)) = (cpu0[i], p.cpu_secs()) {
            cpu.push((b - a) / secs * 100.0);
        }
        if let (Some(a), Some(b)) = (wk0[i], p.wakeups()) {
            wk.push((b - a) / secs);
        }
    }
    let all_joined = mesh.iter().all(|p| p.peers() == 2);
    if !all_joined {
        eprintln!("idle: a node lost a peer during the window");
    }
    rows.push(
        Row::new("idle", "threads of an idle node", median(&threads)).target(Target::AtMost(1.0)),
    );
    rows.push(
        Row::new(
            "idle",
            "RSS of an idle node with 2 peers",
            median(&rss).map(|k| k / 1024.0),
        )
        .unit("MiB")
        .base(sleep_rss.map(|k: f64| k / 1024.0), "RSS of `sleep`")
        .target(Target::AtMost(2.5)),
    );
    rows.push(
        Row::new(
            "idle",
            format!("CPU of an idle node (3-node mesh, {}s)", window.as_secs()),
            median(&cpu),
        )
        .unit("%")
        .target(Target::AtMost(0.1)),
    );
    rows.push(
        Row::new(
            "idle",
            "wake-ups of an idle node (keepalives due: 2 sent + 2 received /s)",
            median(&wk),
        )
        .unit("/s"),
    );
}

/// One node with 2, then 200 raw peers: RSS per extra idle peer.
fn memory(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let runs = if o.quick { 1 } else { 3 };
    let many = 200;
    eprintln!("memory: a node with 2, then {many} peers, {runs} runs");
    let mut per_peer = Vec::new();
    let mut at2 = Vec::new();
    for _ in 0..runs {
        let a = match env.spawn(&[], Sink::Pipe) {
            Ok(a) => a,
            Err(e) => return fail("memory", e),
        };
        let peers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let keeper = keep_alive(peers.clone(), stop.clone());
        let connect = |n: usize| -> io::Result<()> {
            for _ in 0..n {
                let s = raw_peer(a.addr)?;
                peers.lock().unwrap().push(s);
            }
            Ok(())
        };
        let measure = || -> io::Result<(f64, f64)> {
            connect(2)?;
            if !a.wait_peers(2, Duration::from_secs(10)) {
                return Err(io::Error::other("2 peers did not connect"));
            }
            thread::sleep(Duration::from_millis(1500));
            let r2 = a.rss_kib().unwrap_or(f64::NAN);
            // In batches: a node keeps at most 64 connections in their
            // handshake and evicts the oldest beyond that.
            let mut have = 2;
            while have < many {
                let k = (many - have).min(32);
                connect(k)?;
                have += k;
                if !a.wait_peers(have, Duration::from_secs(10)) {
                    break;
                }
            }
            if !a.wait_peers(many, Duration::from_secs(10)) {
                return Err(io::Error::other(format!(
                    "{many} peers did not connect (the node has {})",
                    a.peers()
                )));
            }
            thread::sleep(Duration::from_millis(1500));
            let r200 = a.rss_kib().unwrap_or(f64::NAN);
            if a.peers() != many {
                return Err(io::Error::other("peers dropped while idle"));
            }
            Ok((r2, r200))
        };
        let r = measure();
        stop.store(true, Ordering::Relaxed);
        let _ = keeper.join();
        match r {
            Ok((r2, r200)) => {
                at2.push(r2);
                per_peer.push((r200 - r2) * 1024.0 / (many - 2) as f64);
            }
            Err(e) => fail("memory", e),
        }
    }
    rows.push(
        Row::new(
            "memory",
            format!("RSS per extra idle peer (2 → {many} peers)"),
            median(&per_peer),
        )
        .unit("bytes")
        .target(Target::AtMost(4096.0)),
    );
    let _ = at2;
}

/// A newcomer joining meshes of 3, 20 and 100 nodes.
fn join(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let sizes: &[(usize, f64)] = &[(3, 50.0), (20, 0.0), (100, 1000.0)];
    for &(n, target) in sizes {
        eprintln!("join: building a {n}-node mesh");
        let nodes = match mesh(env, n, |_| Sink::Pipe) {
            Ok(m) => m,
            Err(e) => {
                fail("join", e);
                continue;
            }
        };
        let boot = nodes[0].connect_arg();
        let mut joins = Vec::new();
        let mut starts = Vec::new();
        let mut incomplete = 0;
        for _ in 0..o.runs {
            let seen = nodes[0].out.as_ref().map_or(0, |l| l.len());
            let t0 = Instant::now();
            let p = match env.spawn(&boot, Sink::Pipe) {
                Ok(p) => p,
                Err(e) => {
                    fail("join", e);
                    continue;
                }
            };
            starts.push((p.first_line - t0).as_secs_f64() * 1000.0);
            let out = p.out.clone().unwrap();
            let done = out.wait_for(0, Duration::from_secs(10), |l| {
                l.starts_with("Connected to the peers at [")
            });
            match done {
                Some((_, at)) if p.peers() == n => {
                    joins.push((at - t0).as_secs_f64() * 1000.0);
                }
                _ => incomplete += 1,
            }
            let name = p.name();
            p.stop();
            // Let the mesh take in the goodbye before the next newcomer.
            if let Some(l) = &nodes[0].out {
                let gone = format!("Disconnected from the peer at {name}");
                l.wait_for(seen, Duration::from_secs(3), |b| b.starts_with(&gone));
            }
        }
        if incomplete > 0 {
            eprintln!("join: {incomplete} newcomers did not reach all {n} peers");
        }
        let mut row = Row::new(
            "join",
            format!("join time, newcomer to a {n}-node mesh (start → connected to all)"),
            median(&joins),
        )
        .unit("ms")
        .base(median(&starts), "start → first line printed");
        if target > 0.0 {
            row = row.target(Target::AtMost(target));
        }
        rows.push(row);
    }
}

/// Where a file's size should end up: `base` plus `count` received lines.
fn received_line_len(payload: usize, from: &Proc) -> usize {
    "00:00:00 - Received message [".len() + payload + "] from ".len() + from.name().len() + 1
}

/// `count` messages of `len` bytes typed into one node with `peers` peers,
/// each printing to a file; messages per second until every peer printed
/// every one.
fn rumor_throughput(env: &Env, len: usize, peers: usize, count: usize) -> io::Result<f64> {
    let dir = &env.tmp;
    let mut nodes = mesh(env, peers + 1, |i| {
        Sink::File(dir.join(format!("out-{i}-{}", fastrand::u32(..))))
    })?;
    let mut stdin = nodes[0]
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin"))?;
    let (a, bs) = nodes.split_first().unwrap();
    let line = received_line_len(len, a);
    let targets: Vec<(PathBuf, u64)> = bs
        .iter()
        .map(|b| {
            let p = b.file.clone().unwrap();
            let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            (p, size + (count * line) as u64)
        })
        .collect();
    let chunk = message_chunk(len);
    let t0 = Instant::now();
    let writer = thread::spawn(move || write_lines(&mut stdin, &chunk, len, count));
    let deadline = t0 + Duration::from_secs(120);
    let mut last_progress = (Instant::now(), 0u64);
    let end = loop {
        let sizes: Vec<u64> = targets
            .iter()
            .map(|(p, _)| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect();
        if sizes.iter().zip(&targets).all(|(s, (_, want))| s >= want) {
            break Instant::now();
        }
        let total: u64 = sizes.iter().sum();
        if total != last_progress.1 {
            last_progress = (Instant::now(), total);
        }
        if Instant::now() >= deadline || last_progress.0.elapsed() > Duration::from_secs(10) {
            return Err(io::Error::other(format!(
                "stalled: peers printed {sizes:?} bytes of {:?}",
                targets.iter().map(|t| t.1).collect::<Vec<_>>()
            )));
        }
        thread::sleep(Duration::from_millis(1));
    };
    let _ = writer.join();
    // Outside the timing: every peer printed exactly `count` more lines.
    for (b, (p, want)) in bs.iter().zip(&targets) {
        let base = want - (count * line) as u64;
        let lines = count_lines_from(p, base)?;
        if lines != count {
            return Err(io::Error::other(format!(
                "{} printed {lines} lines, not {count}",
                b.name()
            )));
        }
    }
    Ok(count as f64 / (end - t0).as_secs_f64())
}

/// Newlines in the file at `path` after its first `skip` bytes.
fn count_lines_from(path: &Path, skip: u64) -> io::Result<usize> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(skip))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count();
    }
}

fn throughput(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let q = o.quick;
    let cases: [(usize, usize, usize, usize); 3] = [
        (SMALL, 1, if q { 500_000 } else { 2_000_000 }, o.runs),
        (SMALL, 10, if q { 100_000 } else { 300_000 }, o.runs.min(3)),
        (LARGE, 1, if q { 4_000 } else { 16_000 }, o.runs.min(3)),
    ];
    for (len, peers, count, runs) in cases {
        eprintln!("throughput: {count} messages of {len} bytes to {peers} peer(s), {runs} runs");
        let mut r = Vec::new();
        let mut b = Vec::new();
        for _ in 0..runs {
            match loopback_throughput(len, count) {
                Ok(v) => b.push(v),
                Err(e) => fail("loopback throughput", e),
            }
            match rumor_throughput(env, len, peers, count) {
                Ok(v) => r.push(v),
                Err(e) => fail("throughput", e),
            }
        }
        if len == SMALL {
            let mut row = Row::new(
                "throughput",
                format!("throughput, {len}-byte messages, 1 node → {peers} peer(s)"),
                median(&r),
            )
            .unit("msg/s")
            .base(median(&b), "loopback TCP, 64 KiB batches");
            if peers == 1 {
                row = row.target(Target::AtLeast(1_000_000.0));
            }
            rows.push(row);
        } else {
            let mb = |v: Option<f64>| v.map(|v| v * len as f64 / 1e6);
            rows.push(
                Row::new(
                    "throughput",
                    format!("throughput, {} KiB messages, 1 node → 1 peer", len / 1024),
                    mb(median(&r)),
                )
                .unit("MB/s")
                .base(mb(median(&b)), "loopback TCP, 64 KiB batches")
                .target(Target::RatioAtLeast(0.5)),
            );
        }
    }
}

fn latency(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let samples = if o.quick { 300 } else { 1000 };
    let runs = o.runs.min(3);
    eprintln!("latency: {samples} messages one at a time, {runs} runs");
    let (mut p50, mut p99, mut b50, mut b99) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        match loopback_latency(samples) {
            Ok(v) => {
                b50.extend(percentile(&v, 50.0));
                b99.extend(percentile(&v, 99.0));
            }
            Err(e) => fail("loopback latency", e),
        }
        let r = (|| -> io::Result<Vec<f64>> {
            let mut nodes = mesh(env, 2, |_| Sink::Pipe)?;
            let mut stdin = nodes[0].stdin.take().unwrap();
            let out = nodes[1].out.clone().unwrap();
            let mut from = out.len();
            let mut v = Vec::with_capacity(samples);
            for i in 0..samples {
                let mut line = format!("lat{i:08} ").into_bytes();
                line.resize(SMALL, b'x');
                let tag = format!("Received message [lat{i:08} ");
                line.push(b'\n');
                let t0 = Instant::now();
                stdin.write_all(&line)?;
                stdin.flush()?;
                let (idx, at) = out
                    .wait_for(from, Duration::from_secs(2), |b| b.starts_with(&tag))
                    .ok_or_else(|| io::Error::other("a message was not printed in 2 s"))?;
                from = idx + 1;
                v.push((at - t0).as_secs_f64() * 1e6);
            }
            drop(nodes);
            Ok(v)
        })();
        match r {
            Ok(v) => {
                p50.extend(percentile(&v, 50.0));
                p99.extend(percentile(&v, 99.0));
            }
            Err(e) => fail("latency", e),
        }
    }
    let what = "loopback TCP, thread to thread";
    rows.push(
        Row::new(
            "latency",
            "latency p50 (stdin → peer's stdout)",
            median(&p50),
        )
        .unit("µs")
        .base(median(&b50), what),
    );
    rows.push(
        Row::new(
            "latency",
            "latency p99 (stdin → peer's stdout)",
            median(&p99),
        )
        .unit("µs")
        .base(median(&b99), what),
    );
}

/// Bytes on the wire per delivered message, beyond the payload, counted by
/// a raw peer that reads everything a node sends it.
fn overhead(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let count = if o.quick { 20_000 } else { 100_000 };
    eprintln!("overhead: {count} messages to a raw peer");
    let r = (|| -> io::Result<f64> {
        let mut a = env.spawn(&[], Sink::Pipe)?;
        let mut s = raw_peer(a.addr)?;
        if !a.wait_peers(1, Duration::from_secs(10)) {
            return Err(io::Error::other("the raw peer did not connect"));
        }
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        let bytes = Arc::new(AtomicU64::new(0));
        let b = bytes.clone();
        let reader = thread::spawn(move || -> io::Result<(u64, u64)> {
            let mut fr = FrameReader::new();
            let (mut msgs, mut payload) = (0u64, 0u64);
            let mut buf = vec![0u8; 64 * 1024];
            let ka = frame_bytes(&Frame::Keepalive);
            let mut last_ka = Instant::now();
            let deadline = Instant::now() + Duration::from_secs(60);
            while msgs < count as u64 && Instant::now() < deadline {
                if last_ka.elapsed() > Duration::from_millis(500) {
                    s.write_all(&ka)?;
                    last_ka = Instant::now();
                }
                let n = match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                b.fetch_add(n as u64, Ordering::Relaxed);
                fr.feed(&buf[..n], |f| {
                    if let Frame::Message { payload: p, .. } = f {
                        msgs += 1;
                        payload += p.len() as u64;
                    }
                    true
                })
                .map_err(io::Error::other)?;
            }
            Ok((msgs, payload))
        });
        let mut stdin = a.stdin.take().unwrap();
        write_lines(&mut stdin, &message_chunk(SMALL), SMALL, count)?;
        let (msgs, payload) = reader
            .join()
            .map_err(|_| io::Error::other("reader panicked"))??;
        if msgs < count as u64 {
            return Err(io::Error::other(format!("only {msgs} of {count} arrived")));
        }
        let total = bytes.load(Ordering::Relaxed);
        Ok((total - payload) as f64 / msgs as f64)
    })();
    if let Err(e) = &r {
        fail("overhead", e);
    }
    rows.push(
        Row::new(
            "overhead",
            "wire bytes per message beyond the payload (all frames counted)",
            r.ok(),
        )
        .unit("bytes")
        .target(Target::AtMost(24.0)),
    );
}

// ---- output -------------------------------------------------------------

fn load_avg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine(bin: &Path, load0: &str, load1: &str, o: &Opts) -> Vec<(&'static str, String)> {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let size = fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    vec![
        ("cpus", cpus.to_string()),
        ("kernel", kernel.trim().to_string()),
        ("load average at start", load0.to_string()),
        ("load average at end", load1.to_string()),
        ("runs per measurement (medians)", o.runs.to_string()),
        ("mode", if o.quick { "quick" } else { "full" }.to_string()),
        ("rumor binary bytes", size.to_string()),
    ]
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".into(),
    }
}

fn print_json(info: &[(&str, String)], rows: &[Row]) {
    let mut s = String::from("{\n  \"machine\": {");
    for (i, (k, v)) in info.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(s, "{sep}\n    {}: {}", json_str(k), json_str(v));
    }
    s.push_str("\n  },\n  \"results\": [");
    for (i, r) in rows.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(
            s,
            "{sep}\n    {{\"section\": {}, \"name\": {}, \"value\": {}, \"unit\": {}, \
             \"baseline\": {}, \"baseline_is\": {}, \"ratio\": {}, \"target\": {}, \"met\": {}}}",
            json_str(r.section),
            json_str(&r.name),
            json_num(r.value),
            json_str(r.unit),
            json_num(r.base.map(|b| b.0)),
            json_str(r.base.map_or("", |b| b.1)),
            json_num(r.ratio()),
            json_str(&r.target_text()),
            r.met().map_or("null".into(), |m| m.to_string()),
        );
    }
    s.push_str("\n  ]\n}");
    println!("{s}");
}

fn print_table(info: &[(&str, String)], rows: &[Row]) {
    let mut s = String::new();
    for (k, v) in info {
        let _ = writeln!(s, "- {k}: {v}");
    }
    s.push('\n');
    s.push_str("| measure | rumor | machine's own | ratio | target | met |\n");
    s.push_str("|---|---:|---:|---:|---|---|\n");
    for r in rows {
        let v = r
            .value
            .map_or("failed".to_string(), |v| format!("{} {}", num(v), r.unit));
        let b = r.base.map_or(String::new(), |(b, what)| {
            format!("{} {} ({what})", num(b), r.unit)
        });
        let ratio = r.ratio().map_or(String::new(), |x| format!("{x:.2}×"));
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None if r.target.is_some() => "**no**",
            None => "",
        };
        let _ = writeln!(
            s,
            "| {} | {v} | {b} | {ratio} | {} | {met} |",
            r.name,
            r.target_text()
        );
    }
    print!("{s}");
}

// ---- main ---------------------------------------------------------------

/// The release `rumor` next to this executable, rebuilt first when run
/// through cargo so it is never stale.
fn find_rumor() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = me.with_file_name("rumor");
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = me
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--bin", "rumor"]);
        if release {
            cmd.arg("--release");
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        if !ok {
            return Err("cargo build --bin rumor failed".into());
        }
    }
    if !bin.exists() {
        return Err(format!(
            "no rumor binary at {}: run `cargo build --release` first",
            bin.display()
        ));
    }
    Ok(bin)
}

fn main() {
    let o = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rumor-bench: {e}");
            std::process::exit(2);
        }
    };
    let bin = match find_rumor() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rumor-bench: {e}");
            std::process::exit(1);
        }
    };
    let tmp = std::env::temp_dir().join(format!("rumor-bench-{}", std::process::id()));
    if let Err(e) = fs::create_dir_all(&tmp) {
        eprintln!("rumor-bench: cannot create {}: {e}", tmp.display());
        std::process::exit(1);
    }
    let env = Env {
        bin: bin.clone(),
        tmp: tmp.clone(),
        verbose: o.verbose,
    };
    let load0 = load_avg();
    let mut rows = Vec::new();
    type Section = fn(&Env, &Opts, &mut Vec<Row>);
    let sections: [(&str, Section); 6] = [
        ("idle", idle),
        ("memory", memory),
        ("join", join),
        ("throughput", throughput),
        ("latency", latency),
        ("overhead", overhead),
    ];
    for (name, f) in sections {
        if o.wants(name) {
            f(&env, &o, &mut rows);
        }
    }
    let size = fs::metadata(&bin).map(|m| m.len() as f64 / 1000.0).ok();
    rows.push(
        Row::new("binary", "release binary size", size)
            .unit("KB")
            .target(Target::AtMost(700.0)),
    );
    let info = machine(&bin, &load0, &load_avg(), &o);
    if o.json {
        print_json(&info, &rows);
    } else {
        print_table(&info, &rows);
    }
    let _ = fs::remove_dir_all(&tmp);
}
