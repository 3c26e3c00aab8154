//! The real binary on loopback, port 0: the task's example and the node's
//! promises about liveness, stdin, shutdown and the command line.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn received_from(lines: &[String], from: &Rumor) -> usize {
    let tail = format!("] from {}", from.name());
    count(lines, |b| {
        b.starts_with("Received message [") && b.ends_with(&tail)
    })
}

fn sent(lines: &[String]) -> usize {
    count(lines, |b| b.starts_with("Sending message ["))
}

/// The task's three command lines, with shorter periods.
fn three_peers() -> (Rumor, Rumor, Rumor) {
    let a = Rumor::start(&["--period", "0.5"]);
    let b = Rumor::start(&["--period", "0.6", "--connect", &a.addr.to_string()]);
    b.wait_peers(&[&a]);
    let c = Rumor::start(&["--period", "0.7", "--connect", &a.addr.to_string()]);
    (a, b, c)
}

#[test]
fn the_tasks_three_peer_example() {
    let (a, b, c) = three_peers();
    // The third peer joins through the first and is connected to both.
    let mut both = [a.name(), b.name()];
    both.sort();
    let line = format!("Connected to the peers at [{}]", both.join(", "));
    c.wait_line(&line);
    assert_eq!(
        body(&c.out.snapshot()[1]),
        line,
        "the join is reported at once"
    );
    for (n, others) in [(&a, [&b, &c]), (&b, [&a, &c]), (&c, [&a, &b])] {
        n.wait_peers(&others);
    }
    // Every node sends a few times, and every message is printed once by
    // each peer it went to, naming its sender.
    for n in [&a, &b, &c] {
        n.wait_out("3 of its own messages sent", |l| sent(l) >= 3);
    }
    let checked = assert_exactly_once(&[&a, &b, &c]);
    assert!(checked >= 18, "{checked}");
    // Every stdout line follows the task's format.
    for n in [&a, &b, &c] {
        for l in n.out.snapshot() {
            let (stamp, rest) = l.split_once(" - ").expect(&l);
            let parts: Vec<&str> = stamp.split(':').collect();
            assert_eq!(parts.len(), 3, "{l}");
            assert!(
                parts
                    .iter()
                    .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit())),
                "{l}"
            );
            assert!(
                [
                    "My address is \"",
                    "Connected to the peer",
                    "Sending message [",
                    "Received message [",
                    "Disconnected from"
                ]
                .iter()
                .any(|p| rest.starts_with(p)),
                "{l}"
            );
        }
        assert!(n.err.snapshot().is_empty(), "{:?}", n.err.snapshot());
    }
}

#[test]
fn killing_the_first_node_loses_nothing_for_the_others_and_its_restart_is_heard() {
    let (mut a, b, c) = three_peers();
    c.wait_peers(&[&a, &b]);
    let port = a.addr.port().to_string();
    let a_name = a.name();
    a.signal(SIGKILL);
    a.wait_exit();
    for n in [&b, &c] {
        n.wait_prefix(&format!("Disconnected from the peer at {a_name}"));
    }
    // The other two keep exchanging.
    let (b0, c0) = (
        received_from(&b.out.snapshot(), &c),
        received_from(&c.out.snapshot(), &b),
    );
    b.wait_out(&format!("2 more messages from {}", c.name()), |l| {
        received_from(l, &c) >= b0 + 2
    });
    c.wait_out(&format!("2 more messages from {}", b.name()), |l| {
        received_from(l, &b) >= c0 + 2
    });
    assert_exactly_once(&[&b, &c]);
    // Restarted on the same port, it is redialed and heard again.
    let a2 = Rumor::start_with(
        Command::new(binary()).args(["--port", &port, "--period", "0.5"]),
        true,
    );
    assert_eq!(a2.name(), a_name);
    for n in [&b, &c] {
        n.wait_line(&format!("Connected to the peer at {a_name}"));
        n.wait_out(&format!("2 messages from {a_name}"), |l| {
            received_from(l, &a2) >= 2
        });
    }
    a2.wait_peers(&[&b, &c]);
    assert_exactly_once(&[&a2, &b, &c]);
}

#[test]
fn a_stdin_line_reaches_every_peer() {
    let a = Rumor::start(&["--period", "off"]);
    let mut b = Rumor::start(&["--period", "off", "--connect", &a.addr.to_string()]);
    let c = Rumor::start(&["--period", "off", "--connect", &a.addr.to_string()]);
    c.wait_peers(&[&a, &b]);
    b.wait_peers(&[&a, &c]);
    b.type_line("hello mesh, from b");
    let want = format!("Received message [hello mesh, from b] from {}", b.name());
    a.wait_line(&want);
    c.wait_line(&want);
    b.wait_prefix("Sending message [hello mesh, from b] to [");
    assert_eq!(assert_exactly_once(&[&a, &b, &c]), 2);
}

#[test]
fn a_node_with_stdin_closed_or_null_stays_up_and_serves() {
    // stdin at end from the start (/dev/null) and a pipe closed later.
    let mut a = Rumor::start_with(
        Command::new(binary())
            .args(["--port", "0", "--period", "0.3"])
            .stdin(Stdio::null()),
        false,
    );
    let mut b = Rumor::start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    drop(b.stdin.take());
    a.wait_peers(&[&b]);
    a.wait_out(&format!("3 messages from {}", b.name()), |l| {
        received_from(l, &b) >= 3
    });
    b.wait_out(&format!("3 messages from {}", a.name()), |l| {
        received_from(l, &a) >= 3
    });
    assert!(a.alive() && b.alive());
    // Still accepting newcomers.
    let c = Rumor::start(&["--period", "off", "--connect", &b.addr.to_string()]);
    c.wait_peers(&[&a, &b]);
}

#[test]
fn sigterm_and_sigint_say_goodbye_and_exit_zero() {
    let (mut a, b, mut c) = three_peers();
    c.wait_peers(&[&a, &b]);
    c.signal(SIGTERM);
    assert_eq!(c.wait_exit().code(), Some(0));
    let left = format!("Disconnected from the peer at {} (it left)", c.name());
    a.wait_line(&left);
    b.wait_line(&left);
    a.signal(SIGINT);
    assert_eq!(a.wait_exit().code(), Some(0));
    let left = format!("Disconnected from the peer at {} (it left)", a.name());
    b.wait_line(&left);
}

#[test]
fn ipv6_and_host_names() {
    let a = Rumor::start(&["--bind", "::1", "--period", "0.2"]);
    assert!(a.addr.is_ipv6());
    let b = Rumor::start(&[
        "--bind",
        "::1",
        "--period",
        "0.2",
        "--bootstrap",
        &a.addr.to_string(),
    ]);
    b.wait_peers(&[&a]);
    b.wait_out(&format!("a message from {}", a.name()), |l| {
        received_from(l, &a) >= 1
    });
    let c = Rumor::start(&["--period", "off"]);
    let d = Rumor::start(&[
        "--period",
        "off",
        "--connect",
        &format!("localhost:{}", c.addr.port()),
    ]);
    d.wait_peers(&[&c]);
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn command_line_errors_are_one_line_with_the_right_exit_code() {
    for args in [
        &["--period", "0"][..],
        &["--period", "nonsense"],
        &["--period", "-3"],
        &["--port", "70000"],
        &["--port", "x"],
        &["--bind", "not-an-ip"],
        &["--connect", "127.0.0.1"],
        &["--connect", "127.0.0.1:0"],
        &["--connect", "bad_host!:80"],
        &["--frobnicate"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "--port",
        "--bind",
        "--period",
        "--connect",
        "--bootstrap",
        "Example",
    ] {
        assert!(out.contains(flag), "{flag} missing from --help");
    }
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("rumor "));
}

#[test]
fn a_port_in_use_is_a_clear_error_and_exit_one() {
    let a = Rumor::start(&["--period", "off"]);
    let port = a.addr.port().to_string();
    let (code, out, err) = run(&["--port", &port]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert_eq!(
        err.trim_end(),
        format!("rumor: cannot listen on 127.0.0.1:{port}: address already in use")
    );
}

#[test]
fn lines_typed_while_still_joining_wait_for_the_peers() {
    // A free port with nobody on it yet: the bootstrap starts later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let boot = format!("127.0.0.1:{port}");
    let mut b = Rumor::start(&["--period", "off", "--connect", &boot]);
    b.type_line("typed before anyone was there");
    b.wait_err(&["cannot reach"]);
    let a = Rumor::start_with(
        Command::new(binary()).args(["--port", &port.to_string(), "--period", "off"]),
        true,
    );
    let want = format!(
        "Received message [typed before anyone was there] from {}",
        b.name()
    );
    a.wait_line(&want);
    assert!(!b.err.snapshot().iter().any(|l| l.contains("not sent")));
}

#[test]
fn nodes_bound_to_other_loopback_ips_are_named_and_dialed_by_those_ips() {
    // Outgoing connections must leave from the --bind address: a peer names
    // an inbound node by the connection's source IP, and passes that name on.
    let a = Rumor::start(&["--bind", "127.0.0.2", "--period", "0.3"]);
    let b = Rumor::start(&[
        "--bind",
        "127.0.0.3",
        "--period",
        "0.3",
        "--connect",
        &a.addr.to_string(),
    ]);
    b.wait_peers(&[&a]);
    a.wait_peers(&[&b]);
    let c = Rumor::start(&[
        "--bind",
        "127.0.0.4",
        "--period",
        "0.3",
        "--connect",
        &a.addr.to_string(),
    ]);
    for (n, others) in [(&a, [&b, &c]), (&b, [&a, &c]), (&c, [&a, &b])] {
        n.wait_peers(&others);
        for o in others {
            n.wait_out(&format!("a message from {}", o.name()), |l| {
                received_from(l, o) >= 1
            });
        }
    }
    assert_exactly_once(&[&a, &b, &c]);
    for n in [&a, &b, &c] {
        assert!(n.err.snapshot().is_empty(), "{:?}", n.err.snapshot());
    }
}

/// The syscall `pid` is blocked in, from /proc (x86_64 numbers on x86_64).
fn blocked_in(pid: i32) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_stopped_terminal_pauses_the_node_and_never_ends_it() {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    // stdin, stdout and stderr on one terminal, as in a shell: they share
    // one open file description, so the O_NONBLOCK rumor sets for stdin
    // applies to its stdout too.
    let (mut master, slave) = unsafe {
        let (mut m, mut s) = (0, 0);
        let r = libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        );
        assert_eq!(r, 0, "openpty");
        (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s))
    };
    let mut child = Command::new(binary())
        .args(["--port", "0", "--period", "off"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // The terminal's output, stderr included, line by line.
    let seen = Lines::collect(master.try_clone().unwrap());
    let Some((addr, _)) = seen.wait_address(WAIT) else {
        panic!("no address on the terminal: {:?}", seen.tail(12));
    };
    let mut peer = RawPeer::join(addr, 77, 40000, WAIT).unwrap_or_else(|e| {
        panic!(
            "raw peer joining {addr}: {e}; terminal: {:?}",
            seen.tail(12)
        )
    });
    assert!(
        seen.wait_for(0, WAIT, |b| b.starts_with("Connected to the peer at"))
            .is_some(),
        "no join on the terminal: {:?}",
        seen.tail(12)
    );
    // Ctrl-S: the terminal stops taking output.
    master.write_all(&[0x13]).unwrap();
    let payload = b"sent while the terminal was stopped";
    peer.send(&rumor::wire::Frame::Message {
        id: 1,
        ttl: 0,
        payload,
    })
    .unwrap();
    // rumor waits for the terminal (in poll on stdout) instead of failing.
    // Nothing outside the process shows that wait but /proc (the terminal
    // takes no output, stderr included), so this one wait looks every 5 ms.
    let deadline = std::time::Instant::now() + WAIT;
    #[cfg(target_arch = "x86_64")]
    let waiting = [libc::SYS_poll, libc::SYS_ppoll];
    #[cfg(not(target_arch = "x86_64"))]
    let waiting = [libc::SYS_ppoll];
    while !blocked_in(pid).is_some_and(|n| waiting.contains(&n)) {
        assert!(child.try_wait().unwrap().is_none(), "rumor exited");
        assert!(
            std::time::Instant::now() < deadline,
            "rumor never waited in poll for the stopped terminal; terminal: {:?}",
            seen.tail(12)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Ctrl-Q: output resumes, and the message is printed.
    master.write_all(&[0x11]).unwrap();
    let want = "Received message [sent while the terminal was stopped] from \"127.0.0.1:40000\"";
    assert!(
        seen.wait_for(0, WAIT, |b| b == want).is_some(),
        "the message was not printed once the terminal resumed: {:?}",
        seen.tail(12)
    );
    assert!(child.try_wait().unwrap().is_none(), "rumor exited");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_goodbye_is_heard_even_by_a_peer_busy_sending_to_the_leaver() {
    // The leaver's close resets the connection while the busy peer still
    // writes to it; the goodbye before the reset must be read, not lost.
    for _ in 0..3 {
        let mut a = Rumor::start(&["--period", "off"]);
        let mut b = Rumor::start(&["--period", "off", "--connect", &a.addr.to_string()]);
        b.wait_peers(&[&a]);
        let mut stdin = b.stdin.take().unwrap();
        let flood = std::thread::spawn(move || {
            let line = [b"x".repeat(200), b"\n".to_vec()].concat();
            while std::io::Write::write_all(&mut stdin, &line).is_ok() {}
        });
        a.wait_out("1000 messages received", |l| {
            count(l, |b| b.starts_with("Received")) >= 1000
        });
        a.signal(SIGTERM);
        assert_eq!(a.wait_exit().code(), Some(0));
        let gone = format!("Disconnected from the peer at {}", a.name());
        let line = b.wait_prefix(&gone);
        assert_eq!(line, format!("{gone} (it left)"));
        b.signal(SIGKILL);
        b.wait_exit();
        let _ = flood.join();
    }
}

#[test]
fn a_host_name_that_does_not_resolve_yet_is_retried_not_refused() {
    // `.invalid` never resolves (RFC 6761): the node keeps trying, with
    // backoff, and says so, instead of exiting with a usage error.
    let mut n = Rumor::start(&["--period", "off", "--connect", "later.invalid:9"]);
    let said = |ms: u32| {
        let want = "rumor: cannot resolve later.invalid (";
        let tail = format!("); retrying in {ms}ms");
        move |l: &[String]| l.iter().any(|l| l.starts_with(want) && l.ends_with(&tail))
    };
    assert!(n.err.wait(WAIT, said(250)), "{:?}", n.err.snapshot());
    assert!(n.err.wait(WAIT, said(500)), "{:?}", n.err.snapshot());
    assert!(n.alive(), "still running");
}
