//! Starting, watching and stopping `rumor` processes.

use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rumor::harness::{Lines, address_in, peers_in, proc, wait_exit};

/// Where a node's stdout goes.
pub enum Sink {
    /// A pipe the bench reads line by line.
    Pipe,
    /// A file (for throughput: the bench only watches its size).
    File(PathBuf),
}

/// A running `rumor`, killed when dropped.
pub struct Proc {
    child: Child,
    pub addr: SocketAddr,
    pub stdin: Option<ChildStdin>,
    pub out: Option<Arc<Lines>>,
    pub file: Option<PathBuf>,
    /// When the bench read its first line (its address).
    pub first_line: Instant,
}

#[derive(Clone)]
pub struct Env {
    pub bin: PathBuf,
    pub tmp: PathBuf,
    pub verbose: bool,
    /// A key file every node runs with (the `keyed` section).
    pub key: Option<PathBuf>,
}

impl Env {
    /// Starts `rumor --port 0 --period off EXTRA`. Must be called from the
    /// main thread: the child's parent-death signal is tied to the thread
    /// that started it.
    pub fn spawn(&self, extra: &[String], sink: Sink) -> io::Result<Proc> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--port", "0", "--period", "off"]).args(extra);
        if let Some(k) = &self.key {
            cmd.arg("--key-file").arg(k);
        }
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
        let limit = Duration::from_secs(10);
        let no_address = || io::Error::other("rumor printed no address");
        if let Some(out) = &p.out {
            (p.addr, p.first_line) = out.wait_address(limit).ok_or_else(no_address)?;
        } else {
            let path = p.file.clone().unwrap_or_default();
            let deadline = Instant::now() + limit;
            loop {
                let text = fs::read_to_string(&path).unwrap_or_default();
                if let Some(a) = text.lines().next().and_then(address_in) {
                    p.addr = a;
                    p.first_line = Instant::now();
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(no_address());
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(p)
    }
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn name(&self) -> String {
        format!("\"{}\"", self.addr)
    }

    pub fn connect_arg(&self) -> Vec<String> {
        vec!["--connect".into(), self.addr.to_string()]
    }

    pub fn peers(&self) -> usize {
        if let Some(out) = &self.out {
            peers_in(out.snapshot().iter().map(String::as_str)).len()
        } else {
            let text = fs::read_to_string(self.file.as_ref().unwrap()).unwrap_or_default();
            peers_in(text.lines()).len()
        }
    }

    /// Waits up to `limit` until the node has `n` peers.
    pub fn wait_peers(&self, n: usize, limit: Duration) -> bool {
        if let Some(out) = &self.out {
            return out.wait(limit, |l| peers_in(l.iter().map(String::as_str)).len() == n);
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

    pub fn status_field(&self, field: &str) -> Option<f64> {
        proc::status_field(self.pid(), field).map(|v| v as f64)
    }

    pub fn rss_kib(&self) -> Option<f64> {
        self.status_field("VmRSS:")
    }

    pub fn wakeups(&self) -> Option<f64> {
        proc::wakeups(self.pid()).map(|v| v as f64)
    }

    /// CPU time used so far, in seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        proc::cpu_time(self.pid()).map(|d| d.as_secs_f64())
    }

    /// SIGTERM (a goodbye to its peers), then SIGKILL if it lingers.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child has no memory effects.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        wait_exit(&mut self.child, Duration::from_secs(3));
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

/// `--max-peers` for a node of an `n`-node full mesh that a newcomer
/// joins: room for every other node and the newcomer (at least the
/// default 8, so small meshes run as users run them).
pub fn view_for(n: usize) -> Vec<String> {
    vec!["--max-peers".into(), n.max(8).to_string()]
}

/// Builds a full mesh of `n` nodes, each joining through the first.
pub fn mesh(env: &Env, n: usize, sink: impl Fn(usize) -> Sink) -> io::Result<Vec<Proc>> {
    let first = env.spawn(&view_for(n), sink(0))?;
    let mut boot = view_for(n);
    boot.extend(first.connect_arg());
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
