//! Running out of local ports, for real. Each test re-runs itself in a
//! user and network namespace of its own (`unshare -rn`, util-linux),
//! where the ephemeral port range is a sysctl of that namespace alone: it
//! narrows the range to 10 ports and holds every free one, so nothing
//! outside the test is touched.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use common::{Rumor, binary};

use rumor::oserr::{NO_LOCAL_PORT, describe, dial_bind_error, dial_connect_error};
use socket2::{Domain, Socket, Type};

const INSIDE: &str = "RUMOR_TEST_IN_NETNS";

/// True inside the namespace: go on with the test. Outside, runs `test`
/// (this test's name) inside one, asserts it passed, and returns false.
fn in_own_netns(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(
            up.expect("run ip (iproute2)").success(),
            "ip link set lo up"
        );
        std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", "40000 40009").unwrap();
        return true;
    }
    let run = Command::new("unshare")
        .arg("-rn")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "--nocapture", "--test-threads=1", test])
        .env(INSIDE, "1")
        .output()
        .expect("run unshare -rn (util-linux)");
    assert!(
        run.status.success(),
        "{test} failed in its own network namespace:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    false
}

/// Binds sockets to 127.0.0.1 port 0 (not listening, no SO_REUSEADDR)
/// until none is left; they hold the range while kept.
fn hold_every_free_port() -> Vec<Socket> {
    let mut held = Vec::new();
    loop {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        match s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()) {
            Ok(()) => held.push(s),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
                break;
            }
        }
    }
    assert!(
        held.len() <= 10,
        "the range is 10 ports, {} held",
        held.len()
    );
    held
}

/// The errors a dial really gets with no local port left are the ones
/// `oserr` maps: EADDRINUSE from the bind to port 0 before connect, and
/// EADDRNOTAVAIL from a connect left to pick its own port.
#[test]
fn the_kernel_s_errors_for_no_free_local_port_are_the_ones_mapped() {
    if !in_own_netns("the_kernel_s_errors_for_no_free_local_port_are_the_ones_mapped") {
        return;
    }
    let peer = TcpListener::bind("127.0.0.1:8080").unwrap();
    let to = peer.local_addr().unwrap().into();
    let _held = hold_every_free_port();

    // As a dial from the --bind IP: bind to port 0, then connect.
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let from: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let e = s.bind(&from.into()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE), "{e}");
    assert_eq!(describe(&dial_bind_error(e)), NO_LOCAL_PORT);

    // As a dial left to the kernel: connect alone.
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let e = s.connect(&to).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{e}");
    assert_eq!(describe(&dial_connect_error(e)), NO_LOCAL_PORT);
}

/// A node that cannot dial for lack of a local port says so, and never
/// that the peer's address is in use or not available.
#[test]
fn a_dial_out_of_local_ports_says_so_and_never_blames_the_peer_s_port() {
    if !in_own_netns("a_dial_out_of_local_ports_says_so_and_never_blames_the_peer_s_port") {
        return;
    }
    let a = Rumor::start(&["--period", "off"]);
    let _held = hold_every_free_port();
    // Bound to the --bind IP before connect (the bind fails), and left to
    // the kernel with --bind 0.0.0.0 (the connect fails). Their own ports
    // are outside the range, which is all held.
    for (bind, port) in [("127.0.0.1", "9000"), ("0.0.0.0", "9001")] {
        let b = Rumor::start_with(
            Command::new(binary())
                .args(["--bind", bind, "--port", port, "--period", "off"])
                .args(["--connect", &a.addr.to_string()]),
            true,
        );
        let want = format!(
            "rumor: cannot reach {} ({NO_LOCAL_PORT}); retrying in ",
            a.addr
        );
        let said = b.err.wait(Duration::from_secs(10), |l| {
            l.iter().any(|l| l.starts_with(&want))
        });
        let lines = b.err.snapshot();
        assert!(said, "--bind {bind}: no {want:?} on stderr: {lines:?}");
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("in use") || l.contains("not available")),
            "{lines:?}"
        );
    }
}
