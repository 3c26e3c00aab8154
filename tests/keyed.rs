//! The network key on the real binary: a keyed mesh, a wrong key, keyed
//! against unkeyed, a recorded session replayed, a flipped bit, a handshake
//! cut off, a flood of handshakes, and rotating the key of a running mesh.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use rumor::record::{HANDSHAKE_MSG_LEN, PREAMBLE};

/// A fresh key from `rumor keygen`.
fn keygen() -> String {
    let o = Command::new(binary()).arg("keygen").output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// A temporary directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!(
            "rumor-keyed-{}-{name}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// Writes `keys` (one a line) to `name`, mode 600; its path.
    fn keys(&self, name: &str, keys: &[&str]) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, keys.join("\n") + "\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn keyed(key: &Path, args: &[&str]) -> Rumor {
    let mut all = vec!["--key-file", key.to_str().unwrap()];
    all.extend_from_slice(args);
    Rumor::start(&all)
}

fn sent(lines: &[String]) -> usize {
    count(lines, |b| b.starts_with("Sending message ["))
}

#[test]
fn a_keyed_mesh_prints_the_tasks_format_and_speaks_no_plaintext() {
    let dir = Dir::new("mesh");
    let k = dir.keys("net.key", &[&keygen()]);
    let a = keyed(&k, &["--period", "0.5"]);
    let b = keyed(&k, &["--period", "0.6", "--connect", &a.addr.to_string()]);
    b.wait_peers(&[&a]);
    let c = keyed(&k, &["--period", "0.7", "--connect", &a.addr.to_string()]);
    let mut both = [a.name(), b.name()];
    both.sort();
    c.wait_line(&format!("Connected to the peers at [{}]", both.join(", ")));
    for (n, others) in [(&a, [&b, &c]), (&b, [&a, &c]), (&c, [&a, &b])] {
        n.wait_peers(&others);
    }
    for n in [&a, &b, &c] {
        n.wait_out("3 of its own messages sent", |l| sent(l) >= 3);
    }
    assert!(assert_exactly_once(&[&a, &b, &c]) >= 18);
    for n in [&a, &b, &c] {
        assert!(n.err.snapshot().is_empty(), "{:?}", n.err.snapshot());
    }
    // What anyone connecting sees first is the key handshake's preamble and
    // message: no hello, no node id, nothing in the clear.
    let mut s = TcpStream::connect(a.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut first = [0u8; 5];
    s.read_exact(&mut first).unwrap();
    assert_eq!(first, PREAMBLE);
}

#[test]
fn a_wrong_key_is_refused_on_both_ends_and_redialed_with_backoff() {
    let dir = Dir::new("wrong");
    let a = keyed(&dir.keys("a.key", &[&keygen()]), &["--period", "off"]);
    let d = keyed(
        &dir.keys("d.key", &[&keygen()]),
        &["--period", "off", "--connect", &a.addr.to_string()],
    );
    a.wait_err(&["the peer's network key is not in our key ring"]);
    d.wait_err(&["the peer refused our network key"]);
    // Backoff: the fourth refusal comes well after the first.
    let refused =
        |l: &str| l.contains("closed connection") && l.contains("refused our network key");
    d.err
        .wait(WAIT, |l| l.iter().filter(|l| refused(l)).count() >= 4);
    let lines: Vec<_> = (0..d.err.len()).filter_map(|i| d.err.get(i)).collect();
    let at: Vec<_> = lines
        .iter()
        .filter(|(l, _)| refused(l))
        .map(|(_, t)| *t)
        .collect();
    assert!(at.len() >= 4, "{lines:?}");
    let spread = at[3] - at[0];
    assert!(
        spread >= Duration::from_millis(300),
        "redialed in {spread:?}"
    );
    for n in [&a, &d] {
        assert!(
            !n.out
                .snapshot()
                .iter()
                .any(|l| body(l).starts_with("Connected")),
            "{}",
            n.tails()
        );
    }
}

#[test]
fn keyed_and_unkeyed_nodes_refuse_each_other_both_ways() {
    let dir = Dir::new("unkeyed");
    let k = dir.keys("net.key", &[&keygen()]);
    let keyed_a = keyed(&k, &["--period", "off"]);
    let plain = Rumor::start(&["--period", "off", "--connect", &keyed_a.addr.to_string()]);
    keyed_a.wait_err(&["the peer runs without a network key"]);
    plain.wait_err(&["the peer uses a network key (we run without one)"]);
    let plain_a = Rumor::start(&["--period", "off"]);
    let keyed_b = keyed(
        &k,
        &["--period", "off", "--connect", &plain_a.addr.to_string()],
    );
    keyed_b.wait_err(&["the peer runs without a network key"]);
    plain_a.wait_err(&["the peer uses a network key (we run without one)"]);
}

/// A man in the middle on loopback: relays `from` dialing it to `to`,
/// passing the dialer's bytes through `tamper` (with their offset) and
/// recording them. Returns its address and the recording.
fn relay(to: SocketAddr, tamper: fn(usize, &mut [u8])) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let rec = Arc::new(Mutex::new(Vec::new()));
    let rec2 = rec.clone();
    thread::spawn(move || {
        let Ok((mut inside, _)) = l.accept() else {
            return;
        };
        let mut out = TcpStream::connect(to).unwrap();
        let (mut i2, mut o2) = (inside.try_clone().unwrap(), out.try_clone().unwrap());
        thread::spawn(move || {
            let _ = std::io::copy(&mut o2, &mut i2);
        });
        let mut buf = [0u8; 4096];
        let mut off = 0;
        while let Ok(n) = inside.read(&mut buf) {
            if n == 0 {
                break;
            }
            tamper(off, &mut buf[..n]);
            rec2.lock().unwrap().extend_from_slice(&buf[..n]);
            off += n;
            if out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    (addr, rec)
}

#[test]
fn a_recorded_session_replayed_is_refused_and_never_heard() {
    let dir = Dir::new("replay");
    let k = dir.keys("net.key", &[&keygen()]);
    let a = keyed(&k, &["--period", "off"]);
    let (via, rec) = relay(a.addr, |_, _| {});
    let mut b = keyed(&k, &["--period", "off", "--connect", &via.to_string()]);
    a.wait_out("b connected", |l| {
        l.iter().any(|l| body(l).starts_with("Connected"))
    });
    b.type_line("a line to replay");
    a.wait_prefix("Received message [a line to replay]");
    let _ = b.child.kill();
    a.wait_prefix("Disconnected from");
    let before = a.out.len();
    let recorded = rec.lock().unwrap().clone();
    assert!(recorded.len() > PREAMBLE.len() + HANDSHAKE_MSG_LEN);
    let mut s = TcpStream::connect(a.addr).unwrap();
    s.write_all(&recorded).unwrap();
    a.wait_closed(&mut s, "the replayed session");
    a.wait_err(&["a record failed authentication"]);
    assert_eq!(a.out.len(), before, "{:?}", a.out.tail(3));
}

#[test]
fn a_flipped_bit_in_a_record_closes_the_connection() {
    let dir = Dir::new("flip");
    let k = dir.keys("net.key", &[&keygen()]);
    let a = keyed(&k, &["--period", "off"]);
    // Byte 60 is inside the dialer's first record (its sealed hello).
    let (via, _) = relay(a.addr, |off, b| {
        if (off..off + b.len()).contains(&60) {
            b[60 - off] ^= 0x10;
        }
    });
    let b = keyed(&k, &["--period", "off", "--connect", &via.to_string()]);
    a.wait_err(&["a record failed authentication"]);
    assert!(
        !a.out
            .snapshot()
            .iter()
            .any(|l| body(l).starts_with("Connected")),
        "{}",
        a.tails()
    );
    drop(b);
}

#[test]
fn a_handshake_cut_off_halfway_is_dropped_and_the_node_serves_on() {
    let dir = Dir::new("cut");
    let k = dir.keys("net.key", &[&keygen()]);
    let a = keyed(&k, &["--period", "off"]);
    let mut half = TcpStream::connect(a.addr).unwrap();
    half.write_all(&PREAMBLE).unwrap();
    half.write_all(&[7u8; HANDSHAKE_MSG_LEN / 2]).unwrap();
    // Held open: closed at the handshake deadline, nothing printed.
    a.wait_closed(&mut half, "a half handshake");
    let b = keyed(&k, &["--period", "off", "--connect", &a.addr.to_string()]);
    b.wait_peers(&[&a]);
    a.wait_peers(&[&b]);
    assert_eq!(count(&a.out.snapshot(), |b| b.starts_with("Connected")), 1);
}

#[test]
fn a_flood_of_handshakes_costs_bounded_cpu_each() {
    let dir = Dir::new("flood");
    let k = dir.keys("net.key", &[&keygen()]);
    let a = keyed(&k, &["--period", "off", "-q"]);
    let n = 300;
    let cpu0 = a.cpu_time();
    for i in 0..n {
        let mut s = TcpStream::connect(a.addr).unwrap();
        let mut first = PREAMBLE.to_vec();
        first.extend((0..HANDSHAKE_MSG_LEN).map(|j| (i * 31 + j) as u8));
        s.write_all(&first).unwrap();
        a.wait_closed(&mut s, "a forged first message");
    }
    let per = (a.cpu_time() - cpu0) / n as u32;
    eprintln!("forged handshakes: {per:?} of the node's CPU each");
    assert!(per < Duration::from_millis(20), "{per:?} per attempt");
    let b = keyed(&k, &["--period", "off", "--connect", &a.addr.to_string()]);
    b.wait_peers(&[&a]);
}

#[test]
fn rotating_the_key_of_a_running_mesh_loses_no_message_and_no_peer() {
    let dir = Dir::new("rotate");
    let (old, new) = (keygen(), keygen());
    let files: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| dir.keys(n, &[&old]))
        .collect();
    let a = keyed(&files[0], &["--period", "0.2", "-v"]);
    let b = keyed(
        &files[1],
        &["--period", "0.2", "-v", "--connect", &a.addr.to_string()],
    );
    b.wait_peers(&[&a]);
    let c = keyed(
        &files[2],
        &["--period", "0.2", "-v", "--connect", &a.addr.to_string()],
    );
    for (n, others) in [(&a, [&b, &c]), (&b, [&a, &c]), (&c, [&a, &b])] {
        n.wait_peers(&others);
    }
    let nodes = [&a, &b, &c];
    let step = |keys: &[&str], reloads: usize| {
        for (i, f) in files.iter().enumerate() {
            let name = ["a", "b", "c"][i];
            assert_eq!(dir.keys(name, keys), *f);
        }
        for n in nodes {
            n.signal(libc::SIGHUP);
        }
        for n in nodes {
            n.err.wait(WAIT, |l| {
                l.iter().filter(|l| l.contains("key ring reloaded")).count() >= reloads
            });
            let sent_now = sent(&n.out.snapshot());
            n.wait_out("3 more messages", |l| sent(l) >= sent_now + 3);
        }
    };
    step(&[&old, &new], 1);
    step(&[&new, &old], 2);
    step(&[&new], 3);
    // Every connection was made with the old key: each is replaced by one
    // with the new key, as a duplicate, with no peer lost.
    for n in nodes {
        n.wait_err(&["keeping the new one"]);
        let reloads: Vec<String> = n
            .err
            .snapshot()
            .into_iter()
            .filter(|l| l.contains("key ring reloaded"))
            .collect();
        assert!(reloads[0].contains("; 0 connections"), "{reloads:?}");
        assert!(reloads[1].contains("; 0 connections"), "{reloads:?}");
        assert!(reloads[2].contains("; 2 connections"), "{reloads:?}");
    }
    let d_key = dir.keys("d", &[&new]);
    let d = keyed(
        &d_key,
        &["--period", "0.2", "--connect", &a.addr.to_string()],
    );
    for n in nodes {
        let sent_now = sent(&n.out.snapshot());
        n.wait_out("3 more messages", |l| sent(l) >= sent_now + 3);
    }
    d.wait_peers(&[&a, &b, &c]);
    assert!(assert_exactly_once_among(&[&a, &b, &c]) > 0);
    for n in nodes {
        let lost = count(&n.out.snapshot(), |b| b.starts_with("Disconnected"));
        assert_eq!(lost, 0, "{}", n.tails());
    }
}

#[test]
fn a_key_file_that_does_not_reload_leaves_the_old_ring() {
    let dir = Dir::new("reload");
    let key = keygen();
    let f = dir.keys("a", &[&key]);
    let a = keyed(&f, &["--period", "off"]);
    fs::write(&f, "not a key\n").unwrap();
    a.signal(libc::SIGHUP);
    a.wait_err(&["cannot reload the key ring", "keeping the old one"]);
    fs::write(&f, key.clone() + "\n").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
    a.signal(libc::SIGHUP);
    a.wait_err(&["cannot reload the key ring", "chmod 600"]);
    // The old key still lets a peer in.
    let b = keyed(
        &dir.keys("b", &[&key]),
        &["--period", "off", "--connect", &a.addr.to_string()],
    );
    b.wait_peers(&[&a]);
}

#[test]
fn garbage_and_text_hosts_get_their_own_reasons_and_the_mesh_carries_on() {
    let dir = Dir::new("garbage");
    let k = dir.keys("net.key", &[&keygen()]);
    let a = keyed(&k, &["--period", "0.3"]);
    let b = keyed(&k, &["--period", "0.3", "--connect", &a.addr.to_string()]);
    b.wait_peers(&[&a]);
    let mut junk = TcpStream::connect(a.addr).unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    a.wait_closed(&mut junk, "garbage");
    a.wait_err(&["the peer's first bytes are not a rumor handshake"]);
    for _ in 0..3 {
        let mut text = TcpStream::connect(a.addr).unwrap();
        text.write_all(b"8081:hello\n").unwrap();
        a.wait_closed(&mut text, "a text host");
    }
    a.wait_err(&["older text protocol, which is off with a network key"]);
    let said = count(&a.err.snapshot(), |l| l.contains("older text protocol"));
    assert_eq!(said, 1, "{:?}", a.err.snapshot());
    let sent_now = count(&b.out.snapshot(), |l| l.starts_with("Received message ["));
    b.wait_out("more messages from a", |l| {
        count(l, |l| l.starts_with("Received message [")) >= sent_now + 2
    });
    assert_eq!(
        count(&b.out.snapshot(), |l| l.starts_with("Disconnected")),
        0
    );
}
