//! Hosts for tests: network namespaces joined by a bridge, like machines on
//! one switch, each running real `rumor` binaries.
//!
//! A [`Lab`] is one bridge in a namespace of its own (the switch) and `n`
//! host namespaces, each with one veth cable to the bridge and the address
//! `10.77.0.(i+1)/24` on its `eth0`. That range exists only inside the lab:
//! the root namespace gets no interface, no address and no route, so
//! nothing here is reachable from, or routed to, anywhere else, and labs of
//! parallel tests (each with its own bridge) never meet. Namespace names
//! carry the test process's pid and a counter, so parallel tests never
//! collide; [`Lab`]'s `Drop` deletes them (also when a test panics), and a
//! new lab first removes those of test processes that no longer run.
//!
//! Faults: [`Lab::cut`] makes the switch drop every frame between two
//! groups of hosts (nftables' bridge family: nothing is answered, no RST,
//! like a failed switch), [`Lab::unplug`] pulls a host's cable at the
//! switch, and [`Lab::lossy`] drops a random share of what every host
//! receives (nftables' `numgen random`; this kernel has no netem).
//!
//! Needs root, `ip` and `nft`. [`Lab::new`] returns `None` where they are
//! missing, after printing one `SKIPPED:` line saying so.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::common::{Rumor, binary};

const PREFIX: &str = "rumor-t";
static LABS: AtomicUsize = AtomicUsize::new(0);

/// Runs `cmd args`, panicking with its stderr if it fails.
fn run(cmd: &str, args: &[&str]) {
    run_input(cmd, args, None);
}

fn run_input(cmd: &str, args: &[&str], input: Option<&str>) {
    use std::io::Write;
    let mut c = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    if let (Some(text), Some(mut stdin)) = (input, c.stdin.take()) {
        stdin.write_all(text.as_bytes()).expect("write to nft");
    }
    drop(c.stdin.take());
    let out = c.wait_with_output().expect("wait for command");
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

fn works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One host of a lab.
pub struct Host {
    pub ns: String,
    pub ip: Ipv4Addr,
}

impl Host {
    /// `addr` on this host at `port`.
    pub fn at(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }

    /// Starts `rumor ARGS` on this host and waits for its address.
    pub fn rumor(&self, args: &[&str]) -> Rumor {
        Rumor::start_with(
            Command::new("ip")
                .args(["netns", "exec", &self.ns, binary()])
                .args(args),
            true,
        )
    }
}

/// A switch and its hosts, removed when dropped.
pub struct Lab {
    bridge: String,
    pub hosts: Vec<Host>,
}

impl Lab {
    /// `n` hosts on one switch, or `None` (with a `SKIPPED:` line naming
    /// `test`) where namespaces cannot be made here.
    pub fn new(test: &str, n: usize) -> Option<Lab> {
        // SAFETY: geteuid has no memory effects.
        let root = unsafe { libc::geteuid() } == 0;
        let tools = works("ip", &["-V"]) && works("nft", &["--version"]);
        if !root || !tools {
            skipped(test, "needs root, ip and nft");
            return None;
        }
        remove_stale();
        let id = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let bridge = format!("{id}-sw");
        if !works("ip", &["netns", "add", &bridge]) {
            skipped(test, "cannot make a network namespace here");
            return None;
        }
        let mut lab = Lab {
            bridge,
            hosts: Vec::new(),
        };
        let sw = lab.bridge.clone();
        run("ip", &["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        run("ip", &["-n", &sw, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("{id}-h{i}");
            let ip = Ipv4Addr::new(10, 77, 0, i as u8 + 1);
            run("ip", &["netns", "add", &ns]);
            lab.hosts.push(Host { ns: ns.clone(), ip });
            let (port, cable) = (format!("p{i}"), format!("c{i}"));
            run(
                "ip",
                &[
                    "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", &cable,
                ],
            );
            run("ip", &["-n", &sw, "link", "set", &cable, "netns", &ns]);
            run("ip", &["-n", &sw, "link", "set", &port, "master", "br0"]);
            run("ip", &["-n", &sw, "link", "set", &port, "up"]);
            run("ip", &["-n", &ns, "link", "set", &cable, "name", "eth0"]);
            let cidr = format!("{ip}/24");
            run("ip", &["-n", &ns, "addr", "add", &cidr, "dev", "eth0"]);
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        }
        Some(lab)
    }

    /// The switch drops every frame between a host of `a` and one of `b`,
    /// silently, until [`Lab::mend`].
    pub fn cut(&self, a: &[usize], b: &[usize]) {
        let set = |g: &[usize]| {
            let ips: Vec<String> = g.iter().map(|&i| self.hosts[i].ip.to_string()).collect();
            format!("{{ {} }}", ips.join(", "))
        };
        let (a, b) = (set(a), set(b));
        let rules = format!(
            "table bridge cut {{\n chain forward {{\n  type filter hook forward priority 0; policy accept;\n  ip saddr {a} ip daddr {b} drop\n  ip saddr {b} ip daddr {a} drop\n  arp saddr ip {a} arp daddr ip {b} drop\n  arp saddr ip {b} arp daddr ip {a} drop\n }}\n}}\n"
        );
        run_input(
            "ip",
            &["netns", "exec", &self.bridge, "nft", "-f", "-"],
            Some(&rules),
        );
    }

    /// Ends every [`Lab::cut`].
    pub fn mend(&self) {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.bridge,
                "nft",
                "delete",
                "table",
                "bridge",
                "cut",
            ],
        );
    }

    /// Pulls (`up` false) or plugs back host `i`'s cable at the switch.
    pub fn plug(&self, i: usize, up: bool) {
        let port = format!("p{i}");
        let state = if up { "up" } else { "down" };
        run("ip", &["-n", &self.bridge, "link", "set", &port, state]);
    }

    /// Host `i` forwards TCP port `from` to its own port `to` (as a router
    /// forwarding a public port would).
    pub fn forward(&self, i: usize, from: u16, to: u16) {
        let rules = format!(
            "table ip portmap {{\n chain prerouting {{\n  type nat hook prerouting priority -100; policy accept;\n  tcp dport {from} redirect to :{to}\n }}\n}}\n"
        );
        let ns = &self.hosts[i].ns;
        run_input("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(&rules));
    }

    /// Every host drops `percent` % of the packets it receives, at random.
    pub fn lossy(&self, percent: u32) {
        let rules = format!(
            "table inet loss {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  iifname \"eth0\" numgen random mod 100 < {percent} counter drop\n }}\n}}\n"
        );
        for h in &self.hosts {
            run_input(
                "ip",
                &["netns", "exec", &h.ns, "nft", "-f", "-"],
                Some(&rules),
            );
        }
    }

    /// Packets host `i` has dropped for [`Lab::lossy`] so far, as nftables
    /// counts them (0 if it has no loss rule).
    pub fn dropped(&self, i: usize) -> u64 {
        let ns = &self.hosts[i].ns;
        let list = || {
            Command::new("ip")
                .args(["netns", "exec", ns, "nft", "list", "table", "inet", "loss"])
                .output()
                .expect("run nft")
        };
        // `ip netns exec` can fail while other tests add or delete
        // namespaces; a failure is retried, and said if it stays.
        let mut out = list();
        for _ in 0..3 {
            if out.status.success() {
                break;
            }
            out = list();
        }
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "nft list on {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        text.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no counter in {text}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for h in &self.hosts {
            let _ = works("ip", &["netns", "del", &h.ns]);
        }
        let _ = works("ip", &["netns", "del", &self.bridge]);
    }
}

/// Says that `test` did not run, on stderr itself: libtest captures only
/// the `print!` macros, so this line shows in a plain `cargo test` too.
fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test} ({why})");
}

/// Deletes the namespaces of labs whose test process is gone (killed
/// before its `Drop` ran).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = works("ip", &["netns", "del", name]);
        }
    }
}
