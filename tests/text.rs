//! The text-protocol pieces (`rumor::text`) against a text host written
//! from the older program's README (`tests/common/text_host.rs`), and that
//! host's listener and sender against each other. Loopback only.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::text_host::{Got, TextHost, send_text};
use rumor::text::{
    self, Delivery, Dialed, End, REPLY, Sniff, Step, TextConfig, TextEvent, TextReader,
};
use rumor::wire::{self, Frame, Hello};

const LIMIT: Duration = Duration::from_secs(10);

fn localhost() -> std::net::IpAddr {
    [127, 0, 0, 1].into()
}

#[test]
fn two_text_hosts_learn_each_other_and_talk_both_ways() {
    let a = TextHost::start(None);
    let b = TextHost::start(Some(a.addr));
    assert!(a.known_hosts().is_empty());

    let sent = b.broadcast(b"hello from b");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, a.addr);
    assert_eq!(sent[0].1.as_deref().unwrap(), REPLY);
    assert!(a.wait(LIMIT, |g| !g.is_empty()));
    assert_eq!(
        a.got(),
        vec![Got::Message {
            from: localhost(),
            port: b.port(),
            text: b"hello from b".to_vec()
        }]
    );
    // A learned B from the message, once however often B writes.
    b.broadcast(b"again");
    assert!(a.wait(LIMIT, |g| g.len() == 2));
    assert_eq!(a.known_hosts(), vec![b.addr]);

    let back = a.broadcast(b"hi b");
    assert_eq!(back[0].1.as_deref().unwrap(), REPLY);
    assert!(b.wait(LIMIT, |g| !g.is_empty()));
    assert_eq!(b.texts(), vec![b"hi b".to_vec()]);
    assert_eq!(b.known_hosts(), vec![a.addr]);
}

#[test]
fn the_text_host_takes_one_read_and_replies_even_to_malformed_bytes() {
    let h = TextHost::start(None);
    // A rumor hello, as a rumor node dialing it with --connect sends.
    let mut hello = Vec::new();
    Frame::Hello(Hello {
        version: wire::VERSION,
        flags: 0,
        node_id: 7,
        listen_port: 8080,
        advertised: None,
    })
    .encode(&mut hello);
    let mut conn = TcpStream::connect(h.addr).unwrap();
    conn.set_read_timeout(Some(LIMIT)).unwrap();
    conn.write_all(&hello).unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, REPLY);
    assert_eq!(text::sniff_dialed(&reply), Dialed::TextHost);
    assert!(h.wait(LIMIT, |g| g.len() == 1));
    assert!(matches!(&h.got()[0], Got::Malformed { bytes, .. } if *bytes == hello));
    assert!(h.known_hosts().is_empty());

    // More than 4,096 bytes: it keeps what its one read returned, at most
    // 4,096, which is why rumor never sends it a longer message.
    let long = vec![b'x'; 10_000];
    // It closes with bytes unread, so the reply may be lost to a reset.
    match send_text(h.addr, 9, &long) {
        Ok(reply) => assert_eq!(reply, REPLY),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(h.wait(LIMIT, |g| g.len() == 2));
    let kept = h.texts()[0].len();
    assert!((1..=4096 - 2).contains(&kept), "{kept}");
    assert!(!text::fits(9, long.len()));
}

#[test]
fn a_delivery_reaches_the_text_host_and_its_reply_completes_it() {
    let h = TextHost::start(None);
    let mut d = Delivery::new(8082, b"urban willow 307", Instant::now(), LIMIT).unwrap();
    let mut conn = match TcpStream::connect(h.addr) {
        Ok(c) => c,
        Err(e) => panic!("{:?}", d.connect_failed(e.kind())),
    };
    conn.set_read_timeout(Some(LIMIT)).unwrap();
    let Step::Write(bytes) = d.connected() else {
        panic!("no write")
    };
    conn.write_all(bytes).unwrap();
    let mut buf = [0u8; 64];
    let outcome = loop {
        let n = conn.read(&mut buf).unwrap();
        let step = if n == 0 {
            d.closed()
        } else {
            d.read(&buf[..n])
        };
        if let Step::Done(r) = step {
            break r;
        }
    };
    assert_eq!(outcome, Ok(()));
    assert!(h.wait(LIMIT, |g| g.len() == 1));
    assert_eq!(
        h.got(),
        vec![Got::Message {
            from: localhost(),
            port: 8082,
            text: b"urban willow 307".to_vec()
        }]
    );
    // The host now knows the rumor node's listening address.
    assert_eq!(
        h.known_hosts(),
        vec![SocketAddr::from(([127, 0, 0, 1], 8082))]
    );
}

#[test]
fn a_delivery_to_a_port_where_nothing_listens_fails_at_connect() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let mut d = Delivery::new(8082, b"x", Instant::now(), LIMIT).unwrap();
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(
        d.connect_failed(err.kind()),
        Step::Done(Err(text::Failure::Connect(ErrorKind::ConnectionRefused)))
    );
}

/// Serves one connection with a `TextReader`, as the core will: reads with
/// the reader's deadline, replies to a valid message, closes.
fn serve_one(listener: &TcpListener, cfg: TextConfig) -> TextEvent {
    let (mut conn, _) = listener.accept().unwrap();
    let mut r = TextReader::new(Instant::now(), cfg);
    let mut buf = [0u8; 1024];
    let mut first = true;
    let ev = loop {
        let wait = r
            .deadline()
            .unwrap()
            .saturating_duration_since(Instant::now());
        conn.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        let got = match conn.read(&mut buf) {
            Ok(0) => r.close(),
            Ok(n) => {
                if first {
                    assert_eq!(text::sniff(&buf[..n]), Sniff::Text);
                    first = false;
                }
                r.feed(&buf[..n], Instant::now())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                r.handle_timeout(Instant::now())
            }
            Err(_) => r.close(),
        };
        if let Some(ev) = got {
            break ev;
        }
    };
    if matches!(ev, TextEvent::Message { .. }) {
        conn.write_all(REPLY).unwrap();
    }
    ev
}

#[test]
fn the_reader_ends_the_text_hosts_message_at_the_pause_and_it_gets_its_reply() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap();
    let sender = thread::spawn(move || send_text(to, 4242, b"gentle kettle 814"));
    let t0 = Instant::now();
    let ev = serve_one(&listener, TextConfig::default());
    let took = t0.elapsed();
    assert_eq!(
        ev,
        TextEvent::Message {
            port: 4242,
            text: b"gentle kettle 814".to_vec(),
            end: End::Pause
        }
    );
    // The sender never closes first: only the pause ended the message.
    assert!(took >= TextConfig::default().pause, "{took:?}");
    assert_eq!(sender.join().unwrap().unwrap(), REPLY);
}

#[test]
fn the_reader_ends_a_long_message_at_4096_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap();
    let sender = thread::spawn(move || send_text(to, 1, &vec![b'y'; 10_000]));
    let ev = serve_one(&listener, TextConfig::default());
    assert_eq!(
        ev,
        TextEvent::Message {
            port: 1,
            text: vec![b'y'; 4094],
            end: End::Full
        }
    );
    // The rest was never read; the sender got the reply or a reset.
    let _ = sender.join().unwrap();
}

#[test]
fn the_reader_refuses_what_is_not_a_text_message() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap();
    for (bytes, want) in [
        (&b"hello"[..], text::Invalid::NoColon),
        (b"abc:hello", text::Invalid::NotNumber),
        (b"0:hello", text::Invalid::PortZero),
        (b"123456:hello", text::Invalid::TooManyDigits(6)),
    ] {
        let sender = thread::spawn(move || {
            let mut c = TcpStream::connect(to).unwrap();
            c.set_read_timeout(Some(LIMIT)).unwrap();
            c.write_all(bytes).unwrap();
            let mut reply = Vec::new();
            let _ = c.read_to_end(&mut reply);
            reply
        });
        let ev = serve_one(&listener, TextConfig::default());
        assert_eq!(
            ev,
            TextEvent::Invalid {
                reason: want,
                end: End::Pause
            }
        );
        // No reply to an invalid message.
        assert_eq!(sender.join().unwrap(), b"");
    }
}
