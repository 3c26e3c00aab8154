//! Hostile peers and faults against a live three-node mesh of real
//! binaries on loopback. Each attack is aimed at node `a`; while it still
//! holds its sockets a newcomer joins through `a` and hears everyone; then
//! every node must be up, the honest nodes must have exchanged every message
//! exactly once, `a`'s peak memory must be under [`PEAK_KIB`] and, once the
//! attack is over, `a` must be back to idle CPU. See docs/LIMITS.md.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::attack::{self, *};
use common::*;
use rumor::wire::{Frame, MAX_FRAME_LEN, PeerEntry};

#[test]
fn garbage_bytes_close_only_that_connection_with_a_reason() {
    let mut m = mesh3(Net::plain());
    let mut rng = fastrand::Rng::with_seed(1);
    let noise: Vec<u8> = (0..100_000).map(|_| rng.u8(..)).collect();
    let mut bad_magic = frame_bytes(&hello(5, 4000));
    bad_magic[5..9].copy_from_slice(b"XXXX");
    // A first byte other than 0 is a text message (docs/PROTOCOL.md,
    // "Telling them apart"): junk that is not one is refused as such.
    let not_number = "invalid text message: the port before ':' is not a decimal number";
    let mut rumor_noise = noise.clone();
    rumor_noise[0] = 0;
    let mut text_noise = noise;
    text_noise[0] = b'x';
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), not_number),
        (b"{\"type\":\"hello\",\"port\":1}\n".to_vec(), not_number),
        (
            b"hello\n".to_vec(),
            "invalid text message: no ':' after a port number",
        ),
        (b"0:text\n".to_vec(), "invalid text message: port 0"),
        (vec![0, 0, 0, 0], "empty frame"),
        (vec![0, 0, 0, 1, 99], "unknown frame type 99"),
        (
            vec![0, 0, 0, 2, 4, 0],
            "frame type 4 cannot be 2 bytes long",
        ),
        (bad_magic, "bad magic"),
        (frame_bytes(&message(b"hi")), "message before the handshake"),
        (frame_bytes(&hello(5, 0)), "hello without a listening port"),
        (rumor_noise, "protocol error"),
        (text_noise, "invalid text message"),
    ];
    let mut held = Vec::new();
    for (bytes, reason) in cases {
        let mut s = TcpStream::connect(m.a.addr).unwrap();
        let local = s.local_addr().unwrap().to_string();
        let _ = s.write_all(&bytes);
        m.a.wait_closed(&mut s, &format!("the connection that sent {reason:?}"));
        let who = format!("closed connection with {local}: ");
        m.a.wait_err(&[&who, reason]);
        held.push(s);
    }
    // `1:text` is a valid text message: answered, printed on every node,
    // and its host (where nothing listens) dropped at its first delivery.
    let reply = common::text_host::send_text(m.a.addr, 1, b"text\n").unwrap();
    assert_eq!(reply, b"Message received");
    for n in [&m.a, &m.b, &m.c] {
        n.wait_line("Received message [text\\n] from \"127.0.0.1:1\"");
    }
    m.a.wait_err(&["dropped the text host \"127.0.0.1:1\": the first message to it failed"]);
    // An established peer that turns to garbage is dropped, named.
    let mut p = m.a.join_raw(0xbad, NO_PORT);
    let name = format!("\"127.0.0.1:{NO_PORT}\"");
    p.stream.write_all(&[0, 0, 0, 1, 77]).unwrap();
    m.a.wait_closed(&mut p.stream, "the peer that sent garbage");
    let reason = "protocol error: unknown frame type 77";
    m.a.wait_err(&[&format!("closed connection to {name}: {reason}")]);
    m.a.wait_line(&format!("Disconnected from the peer at {name} ({reason})"));
    let mut d = newcomer(&m);
    drop(held);
    after_attack("garbage", &mut m, &mut d);
}

#[test]
fn non_utf8_from_a_peer_and_from_stdin_is_replaced_never_a_panic() {
    attack::non_utf8(Net::plain());
}

#[test]
fn huge_declared_lengths_and_lines_are_refused_at_once() {
    let m = mesh3(Net::plain());
    // Before the handshake: closed on the four length bytes. (A rumor
    // stream starts with 0; any other first byte is a text message.)
    let mut s = TcpStream::connect(m.a.addr).unwrap();
    let local = s.local_addr().unwrap().to_string();
    s.write_all(&[0, 0xff, 0xff, 0xff]).unwrap();
    m.a.wait_closed(&mut s, "a connection that declared 16 MiB");
    let limit = format!("frame of 16777215 bytes is over the {MAX_FRAME_LEN}-byte limit");
    m.a.wait_err(&[&format!("closed connection with {local}"), &limit]);
    let mut s = TcpStream::connect(m.a.addr).unwrap();
    let local = s.local_addr().unwrap().to_string();
    s.write_all(&[0xff; 4]).unwrap();
    m.a.wait_closed(&mut s, "a connection that sent 0xff 0xff 0xff 0xff");
    m.a.wait_err(&[
        &format!("closed connection with {local}"),
        "invalid text message: no ':' after a port number",
    ]);
    attack::frame_limits(m, "huge length");
}

#[test]
fn sixty_four_mib_streamed_at_a_node_is_consumed_in_bounded_memory() {
    attack::streamed(Net::plain(), 64 << 20);
}

#[test]
fn many_peers_sending_control_bytes_at_once_cannot_swell_the_log_buffer() {
    attack::control_bytes(Net::plain());
}

#[test]
fn half_sent_frames_held_open_are_closed_by_the_handshake_and_keepalive_deadlines() {
    attack::half_frames(Net::plain());
}

#[test]
fn hundreds_of_idle_sockets_neither_pile_up_nor_block_joins() {
    attack::idle_sockets(Net::plain());
}

/// Waits up to `limit` for a connection to come to `l` (poll(2) on it).
fn readable_within(l: &TcpListener, limit: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, left.as_millis() as i32) };
        if r > 0 {
            return true;
        }
        // 0: the deadline; -1: a signal, so look again.
        if r == 0 || left.is_zero() {
            return false;
        }
    }
}

#[test]
fn a_flood_past_the_descriptor_limit_neither_spins_nor_blocks_joins() {
    attack::descriptor_flood(Net::plain());
}

#[test]
fn a_peer_that_stops_reading_is_cut_off_and_stdin_loses_nothing() {
    attack::slow_reader(Net::plain());
}

#[test]
fn a_peer_list_full_of_bogus_and_self_addresses_dials_none_of_them() {
    // An active view with room for every good entry, so each is dialed.
    let mut m = mesh(Net::plain(), &["--period", "0.3", "--max-peers", "64"]);
    // Listeners that never accept: a dial to one hangs in its handshake.
    const HOLES: usize = 24;
    let holes: Vec<TcpListener> = (0..HOLES)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let hole = |i: usize| holes[i].local_addr().unwrap();
    let target = hole(0);
    let mut p = m.a.join_raw(0x12, NO_PORT);
    let a_id = p.hello.node_id;
    let entry = |node_id: u64, addr: SocketAddr| PeerEntry { node_id, addr };
    let at = |ip: &str, port: u16| SocketAddr::new(ip.parse().unwrap(), port);
    let mut list = vec![
        entry(1, m.a.addr),
        entry(2, at("0.0.0.0", target.port())),
        entry(3, at("::", target.port())),
        entry(4, at("127.0.0.1", 0)),
        entry(5, at("224.0.0.1", target.port())),
        entry(6, at("255.255.255.255", target.port())),
        entry(7, at("ff02::1", target.port())),
        entry(a_id, hole(1)),
        entry(8, target),
        entry(9, target),
        entry(10, target),
    ];
    list.extend((2..HOLES).map(|i| entry(100 + i as u64, hole(i))));
    p.send(&Frame::Peers(list)).unwrap();
    let accepted = |l: &TcpListener| {
        l.set_nonblocking(true).unwrap();
        let mut n = 0;
        while l.accept().is_ok() {
            n += 1;
        }
        n
    };
    // Every good address is dialed (in a random order, all at once: the
    // view has room and the dial slots suffice), each once.
    for i in std::iter::once(0).chain(2..HOLES) {
        assert!(
            readable_within(&holes[i], WAIT),
            "hole {i} was never dialed{}",
            m.a.tails()
        );
        assert_eq!(accepted(&holes[i]), 1, "hole {i} was dialed twice");
    }
    assert_eq!(
        accepted(&holes[1]),
        0,
        "an entry with a's own id was dialed"
    );
    // Dials hanging in their handshakes do not lock joins out.
    let mut d = newcomer(&m);
    drop(holes);
    drop(p);
    after_attack("bogus peer list", &mut m, &mut d);
}

#[test]
fn a_frozen_peer_is_dropped_by_keepalive_and_rejoins_when_thawed() {
    attack::frozen_peer(Net::plain());
}
