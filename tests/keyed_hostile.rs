//! Attacks from `tests/hostile.rs` run again from inside a keyed network: a
//! peer that holds the key and then misbehaves within valid records (huge
//! declared lengths, non-UTF-8, a stream of megabytes) is cut off as
//! without a key, and the mesh carries on.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use rumor::keyring::KeyRing;
use rumor::record::{Handshake, Session, Step};
use rumor::wire::{Frame, MAX_FRAME_LEN, MAX_PAYLOAD};

/// A keyed 3-node mesh and its key.
struct Mesh {
    a: Rumor,
    b: Rumor,
    ring: KeyRing,
    dir: PathBuf,
}

impl Drop for Mesh {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn mesh() -> Mesh {
    let o = Command::new(binary()).arg("keygen").output().unwrap();
    let dir = std::env::temp_dir().join(format!(
        "rumor-keyed-hostile-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.key");
    fs::write(&path, &o.stdout).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let k = path.to_str().unwrap();
    let a = Rumor::start(&["--key-file", k, "--period", "0.3"]);
    let b = Rumor::start(&[
        "--key-file",
        k,
        "--period",
        "0.3",
        "--connect",
        &a.addr.to_string(),
    ]);
    b.wait_peers(&[&a]);
    Mesh {
        a,
        b,
        ring: KeyRing::parse(&o.stdout).unwrap(),
        dir,
    }
}

/// A member holding the key, driven by hand: it does the key handshake
/// and says hello, then seals whatever the test gives it.
struct KeyedPeer {
    stream: TcpStream,
    session: Box<Session>,
}

impl KeyedPeer {
    fn join(m: &Mesh, node_id: u64) -> KeyedPeer {
        let mut stream = TcpStream::connect(m.a.addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut e = [0u8; 32];
        e[..8].copy_from_slice(&node_id.to_le_bytes());
        let (mut hs, first) = Handshake::initiator(&m.ring, e);
        stream.write_all(&first).unwrap();
        let mut buf = [0u8; 256];
        let session = loop {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed in the key handshake");
            if let Step::Done { session, .. } = hs.read(&buf[..n]).unwrap() {
                break session;
            }
        };
        let mut p = KeyedPeer { stream, session };
        p.send_plain(&frame_bytes(&hello(node_id, 1)));
        p
    }

    /// Seals `plain` (frames, or not) into records and sends them.
    fn send_plain(&mut self, plain: &[u8]) {
        let mut out = Vec::new();
        self.session.seal(plain, &mut out).unwrap();
        // The node may close mid-write once it has seen enough.
        let _ = self.stream.write_all(&out);
    }
}

fn message(payload: &[u8]) -> Vec<u8> {
    frame_bytes(&Frame::Message {
        id: 7,
        ttl: 0,
        payload,
    })
}

/// The mesh still works: a's next messages reach b, nobody was dropped.
fn carries_on(m: &Mesh) {
    let got = |l: &[String]| {
        count(l, |b| {
            b.starts_with("Received message [") && b.contains(&m.a.name())
        })
    };
    let before = got(&m.b.out.snapshot());
    m.b.wait_out("more of a's messages", |l| got(l) >= before + 2);
    assert_eq!(
        count(&m.b.out.snapshot(), |b| b.starts_with("Disconnected")),
        0
    );
}

#[test]
fn a_keyed_member_declaring_a_huge_frame_is_cut_off() {
    let m = mesh();
    let mut p = KeyedPeer::join(&m, 0xb16);
    m.a.wait_line("Connected to the peer at \"127.0.0.1:1\"");
    // The largest message is fine inside records, one byte more is not.
    p.send_plain(&message(&vec![b'y'; MAX_PAYLOAD]));
    m.a.wait_out("the largest message", |l| {
        l.iter()
            .any(|l| body(l).starts_with("Received message [yyyy"))
    });
    p.send_plain(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
    m.a.wait_closed(&mut p.stream, "the member that declared one byte too many");
    m.a.wait_err(&[&format!("over the {MAX_FRAME_LEN}-byte limit")]);
    carries_on(&m);
}

#[test]
fn non_utf8_from_a_keyed_member_is_replaced() {
    let m = mesh();
    let mut p = KeyedPeer::join(&m, 0xfeed);
    m.a.wait_line("Connected to the peer at \"127.0.0.1:1\"");
    p.send_plain(&message(b"ok \xff\xfe bytes"));
    m.a.wait_out("the message, replaced", |l| {
        l.iter()
            .any(|l| body(l).starts_with("Received message [ok \u{fffd}"))
    });
    carries_on(&m);
}

#[test]
fn megabytes_streamed_by_a_keyed_member_are_consumed_in_bounded_memory() {
    let m = mesh();
    let mut p = KeyedPeer::join(&m, 0x64);
    m.a.wait_line("Connected to the peer at \"127.0.0.1:1\"");
    let rss0 = m.a.rss_kib();
    let chunk: Vec<u8> = (0..64).flat_map(|_| message(&[b'm'; 1000])).collect();
    for _ in 0..256 {
        p.send_plain(&chunk);
    }
    let want = 64 * 256;
    m.a.wait_out("every streamed message", |l| {
        count(l, |b| b.starts_with("Received message [mmm")) >= want
    });
    let peak = m.a.peak_kib();
    eprintln!("16 MiB in records: RSS {rss0} KiB before, peak {peak} KiB");
    assert!(peak < rss0 + 4 * 1024, "{peak} KiB peak");
    carries_on(&m);
}
