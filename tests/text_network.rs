//! Text hosts (the older program's plain-text protocol) in a live rumor
//! network: real binaries on loopback against the faithful text host of
//! `tests/common/text_host.rs`, both directions, `--connect` to a text host,
//! and the hostile cases. See docs/PROTOCOL.md, "Text hosts".

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::text_host::{Got, REPLY, TextHost, send_text};
use common::*;

const T: Duration = WAIT;

/// Whether some stdout line's body of `n` satisfies `pred` by the deadline.
fn printed(n: &Rumor, pred: impl Fn(&str) -> bool) -> bool {
    n.out.wait(T, |l| l.iter().any(|l| pred(body(l))))
}

fn wait_err(n: &Rumor, part: &str) -> bool {
    n.err.wait(T, |l| l.iter().any(|l| l.contains(part)))
}

/// Three rumor nodes in a full mesh, `b` and `c` joined through `a`.
fn mesh3() -> (Rumor, Rumor, Rumor) {
    let a = Rumor::start(&["--period", "0.3"]);
    let b = Rumor::start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    let c = Rumor::start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    a.wait_peers(&[&b, &c]);
    c.wait_peers(&[&a, &b]);
    b.wait_peers(&[&a, &c]);
    (a, b, c)
}

fn received(n: &Rumor, line: &str) -> usize {
    count(&n.out.snapshot(), |b| b == line)
}

/// Whether `h` got a text from the rumor node `n` (by its listening port).
fn heard_from(got: &[Got], n: &Rumor) -> bool {
    got.iter()
        .any(|g| matches!(g, Got::Message { port, .. } if *port == n.addr.port()))
}

/// Waits until each of `nodes` has printed `n` more `Sending` lines.
fn more_sending(nodes: &[&Rumor], n: usize) {
    let sending = |r: &Rumor| count(&r.out.snapshot(), |b| b.starts_with("Sending message ["));
    let goals: Vec<usize> = nodes.iter().map(|r| sending(r) + n).collect();
    for (r, goal) in nodes.iter().zip(goals) {
        assert!(
            r.out
                .wait(T, |l| count(l, |b| b.starts_with("Sending message ["))
                    >= goal)
        );
    }
}

#[test]
fn a_text_host_and_a_rumor_network_talk_both_ways_and_each_text_prints_once() {
    let (a, mut b, c) = mesh3();
    let h = TextHost::start(Some(a.addr));
    let from = format!("from \"{}\"", h.addr);

    // Text host -> network: it knows only `a`; every node prints it once.
    let sent = h.broadcast(b"hello from the old node");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.as_deref().unwrap(), REPLY);
    let line = format!("Received message [hello from the old node] {from}");
    for n in [&a, &b, &c] {
        assert!(printed(n, |l| l == line), "{:?}", n.out.snapshot());
    }

    // Network -> text host: `a` proves it with a delivery and announces
    // it; every node then sends it its own messages, with its own port.
    assert!(h.wait(T, |g| [&a, &b, &c].iter().all(|n| heard_from(g, n))));
    let listed = format!("\"{}\"", h.addr);
    for n in [&a, &b, &c] {
        assert!(printed(n, |l| l.starts_with("Sending message [")
            && l.contains(&listed)));
    }
    // A stdin line goes to it too, listed with the peers, by address.
    b.type_line("a line from b");
    let mut to = [a.addr, c.addr, h.addr];
    to.sort();
    let to: Vec<String> = to.iter().map(|a| format!("\"{a}\"")).collect();
    let want = format!("Sending message [a line from b] to [{}]", to.join(", "));
    assert!(printed(&b, |l| l == want), "{:?}", b.out.snapshot());
    assert!(h.wait(T, |g| {
        g.iter().any(|g| {
            matches!(g,
        Got::Message { port, text, .. } if *port == b.addr.port() && text == b"a line from b")
        })
    }));
    assert!(h.got().iter().all(|g| matches!(g, Got::Message { .. })));

    // Now it knows all three and sends to each: still one print per node,
    // though each node also gets it from both of its peers.
    let sent = h.broadcast(b"second");
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent.iter().all(|(_, r)| r.as_deref().ok() == Some(REPLY)));
    let line = format!("Received message [second] {from}");
    for n in [&a, &b, &c] {
        assert!(printed(n, |l| l == line));
    }
    more_sending(&[&a, &b, &c], 2);
    for n in [&a, &b, &c] {
        assert_eq!(received(n, &line), 1, "{:?}", n.out.snapshot());
    }
    assert_exactly_once_among(&[&a, &b, &c]);

    // Gone: every node drops it after its failures, and says so.
    let addr = h.addr;
    drop(h);
    let dropped = format!("dropped the text host \"{addr}\": 3 messages in a row to it failed");
    for n in [&a, &b, &c] {
        assert!(wait_err(n, &dropped), "{:?}", n.err.snapshot());
    }
}

#[test]
fn connect_to_a_text_host_makes_it_a_text_host() {
    let h = TextHost::start(None);
    let n = Rumor::start(&["--period", "0.3", "--connect", &h.addr.to_string()]);
    assert!(wait_err(&n, &format!("\"{}\" is a text host", h.addr)));
    // Our hello was one malformed message to it; then texts, with our port.
    assert!(h.wait(T, |g| heard_from(g, &n)));
    let got = h.got();
    assert!(matches!(&got[0], Got::Malformed { bytes, .. } if bytes[0] == 0));
    assert_eq!(
        got.iter()
            .filter(|g| matches!(g, Got::Malformed { .. }))
            .count(),
        1
    );
    let want = format!("] to [\"{}\"]", h.addr);
    assert!(printed(&n, |l| l.starts_with("Sending message [")
        && l.ends_with(&want)));
    // Its membership report names it.
    n.signal(libc::SIGUSR1);
    n.wait_err(&[&format!("rumor:   {} text host", h.addr)]);
    // And it hears the text host.
    let sent = h.broadcast(b"hi rumor");
    assert_eq!(sent.len(), 1);
    let line = format!("Received message [hi rumor] from \"{}\"", h.addr);
    assert!(printed(&n, |l| l == line));
    // A line too long for a text host is not sent to it, and said.
    let mut n = n;
    n.type_line(&"z".repeat(5000));
    assert!(wait_err(
        &n,
        "message of 5000 bytes not sent to text hosts (1 known)"
    ));
    // A short line typed after it reaches the host, by then the long one
    // would have too (it is refused before it is queued).
    n.type_line("after the long one");
    assert!(h.wait(T, |got| {
        got.iter()
            .any(|g| g.text() == Some(&b"after the long one"[..]))
    }));
    assert!(h.texts().iter().all(|t| t.len() < 4096));
}

/// Writes `bytes` on a new connection to `n` and reads until it closes:
/// what came back.
fn exchange(n: &Rumor, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(n.addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(bytes).unwrap();
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    back
}

#[test]
fn hostile_text_messages_close_only_their_connection() {
    let (a, b, c) = mesh3();
    let cases: [(&[u8], &str); 4] = [
        (b"no colon here", "no ':' after a port number"),
        (b"80x:text", "the port before ':' is not a decimal number"),
        (b"0:text", "port 0"),
        (b"123456:text", "the port has 6 digits, over 5"),
    ];
    for (bytes, reason) in cases {
        assert_eq!(exchange(&a, bytes), b"", "{reason}: a reply");
        assert!(wait_err(&a, &format!("invalid text message: {reason}")));
    }

    // Non-UTF-8 and control bytes: escaped like any received text.
    let reply = send_text(a.addr, 4242, b"caf\xc3\xa9 \xff\xfe \x1b[31m end").unwrap();
    assert_eq!(reply, REPLY);
    let want =
        "Received message [caf\u{e9} \u{fffd}\u{fffd} \\u{1b}[31m end] from \"127.0.0.1:4242\"";
    for n in [&a, &b, &c] {
        assert!(printed(n, |l| l == want), "{:?}", n.out.snapshot());
    }

    // 10 MB of text: the message is its first 4,096 bytes, the rest is not
    // read, memory stays bounded.
    let mut s = TcpStream::connect(a.addr).unwrap();
    let writer = thread::spawn(move || {
        let mut big = b"4343:".to_vec();
        big.resize(10_000_000, b'y');
        let mut sent = 0;
        for chunk in big.chunks(1 << 16) {
            if s.write_all(chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let text = "y".repeat(4096 - 5);
    let want = format!("Received message [{text}] from \"127.0.0.1:4343\"");
    assert!(printed(&a, |l| l == want));
    assert!(printed(&c, |l| l == want));
    let sent = writer.join().unwrap();
    assert!(sent < 10_000_000, "the 10 MB stream was read to its end");
    let peak = a.peak_kib();
    eprintln!("10 MB text stream: {sent} bytes written before the close, peak VmHWM {peak} KiB");
    assert!(peak < 16 * 1024, "peak {peak} KiB");

    // 200 connections each trickling digits, faster than the pause: the
    // handshake slots bound them, every one is closed by its deadline, and
    // the node goes on meanwhile.
    let said_before = a.err.snapshot().len();
    let mut held: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(a.addr).unwrap())
        .collect();
    let start = Instant::now();
    let mut open = held.len();
    let d = Rumor::start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    let reply = send_text(a.addr, 4444, b"during the trickle").unwrap();
    assert_eq!(reply, REPLY);
    let node_fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", a.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let mut fds = 0;
    while open > 0 && start.elapsed() < T {
        open = 0;
        for s in &mut held {
            if s.write_all(b"7").is_ok() {
                open += 1;
            }
        }
        fds = fds.max(node_fds());
        // The tricklers' pace (one byte each per 30 ms), not a wait: it
        // runs until the node has closed every one of them.
        thread::sleep(Duration::from_millis(30));
    }
    eprintln!("200 trickling text connections: the node held at most {fds} descriptors");
    assert!(fds < 100, "{fds} descriptors");
    for s in &mut held {
        assert!(wait_closed(s, T), "a trickling connection was kept open");
    }
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    // Each ends at the deadline, or at a pause if this thread fell behind
    // (tests/text_core.rs pins the deadline down on a fake clock).
    assert!(a.err.wait(T, |l| l[said_before..].iter().any(|l| {
        l.contains("no whole text message in 3s")
            || l.contains("invalid text message: no ':' after a port number")
    })));
    let line = "Received message [during the trickle] from \"127.0.0.1:4444\"";
    assert!(printed(&a, |l| l == line));
    d.wait_peers(&[&a, &b, &c]);
    drop(held);
    let mut all = [a, b, c, d];
    for n in &mut all {
        assert!(n.alive());
    }
    assert_exactly_once_among(&all.iter().collect::<Vec<_>>());
}

#[test]
fn a_connection_that_sends_nothing_is_closed_at_the_deadline_and_said() {
    let a = Rumor::start(&["--period", "0.3"]);
    let mut s = TcpStream::connect(a.addr).unwrap();
    let local = s.local_addr().unwrap();
    let start = Instant::now();
    assert!(wait_closed(&mut s, T));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert!(wait_err(
        &a,
        &format!("closed connection with {local}: it sent nothing in 3s")
    ));
}
