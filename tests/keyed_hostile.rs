//! `tests/hostile.rs`'s attacks against a keyed network. The attacks whose
//! logic is the same with a key run from `tests/common/attack.rs` with
//! [`Net::keyed`]: their members do the key handshake and seal what they
//! send. The ones that need plaintext from an outsider become what an
//! outsider can do against a key: garbage before and inside the handshake,
//! a stream of junk, huge declared lengths; and what a member holding the
//! key can do inside valid records. Every one ends as in `hostile.rs`:
//! everyone up, honest nodes exchanging exactly once, `a`'s memory and CPU
//! bounded, nothing of the attacker's printed.

mod common;

use std::io::Write;
use std::net::TcpStream;

use common::attack::{self, *};
use common::*;
use rumor::record::{HANDSHAKE_MSG_LEN, PREAMBLE};

#[test]
fn keyed_garbage_before_and_inside_the_handshake_closes_only_that_connection() {
    let mut m = mesh3(Net::keyed());
    let mut rng = fastrand::Rng::with_seed(1);
    let noise: Vec<u8> = (0..100_000).map(|_| rng.u8(..)).collect();
    let not_ours = "the peer's first bytes are not a rumor handshake";
    let unkeyed = "the peer runs without a network key";
    let wrong_key = "the peer's network key is not in our key ring";
    let mut forged = PREAMBLE.to_vec();
    forged.extend_from_slice(&noise[..HANDSHAKE_MSG_LEN]);
    let mut bad_version = PREAMBLE.to_vec();
    bad_version[4] = 99;
    bad_version.extend_from_slice(&noise[..HANDSHAKE_MSG_LEN]);
    let mut zero_noise = noise.clone();
    zero_noise[0] = 0;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), not_ours),
        (b"{\"type\":\"hello\",\"port\":1}\n".to_vec(), not_ours),
        (noise.clone(), not_ours),
        // Plaintext frames, as an unkeyed outsider speaks them: a hello is
        // named an unkeyed peer; any other frame is not a handshake.
        (frame_bytes(&hello(5, 4000)), unkeyed),
        (frame_bytes(&message(b"hi")), not_ours),
        (zero_noise, not_ours),
        // Inside the handshake: our preamble, then a first message that no
        // key of the ring made, or another version.
        (forged, wrong_key),
        (
            bad_version,
            "the peer speaks keyed protocol version 99, we speak 1",
        ),
    ];
    let mut held = Vec::new();
    for (bytes, reason) in cases {
        let mut s = TcpStream::connect(m.a.addr).unwrap();
        let local = s.local_addr().unwrap().to_string();
        let _ = s.write_all(&bytes);
        m.a.wait_closed(&mut s, &format!("the connection that sent {reason:?}"));
        m.a.wait_err(&[&format!("closed connection with {local}: "), reason]);
        held.push(s);
    }
    // A text host is refused (text is off with a key), said once.
    for _ in 0..2 {
        let mut t = TcpStream::connect(m.a.addr).unwrap();
        t.write_all(b"1:text\n").unwrap();
        m.a.wait_closed(&mut t, "a text host");
    }
    assert_eq!(
        count(&m.a.err.snapshot(), |l| l.contains("older text protocol")),
        1
    );
    // A member that turns to garbage: sealed, a protocol error; unsealed,
    // a record that fails to open. Each is dropped, named.
    let name = format!("\"127.0.0.1:{NO_PORT}\"");
    let mut p = m.member(0xbad, NO_PORT);
    p.send_plain(&[0, 0, 0, 1, 77]).unwrap();
    m.a.wait_closed(p.stream(), "the member that sealed garbage");
    let reason = "protocol error: unknown frame type 77";
    m.a.wait_err(&[&format!("closed connection to {name}: {reason}")]);
    m.a.wait_line(&format!("Disconnected from the peer at {name} ({reason})"));
    let mut p = m.member(0xbad2, NO_PORT);
    p.stream().write_all(&[0, 20, 1, 2, 3]).unwrap();
    p.stream().write_all(&noise[..20]).unwrap();
    m.a.wait_closed(p.stream(), "the member that sent unsealed bytes");
    m.a.wait_err(&[
        &format!("closed connection to {name}"),
        "a record failed authentication",
    ]);
    let mut d = newcomer(&m);
    drop(held);
    attack::nothing_from(&m, "\"127.0.0.1:1\"");
    after_attack("keyed garbage", &mut m, &mut d);
}

#[test]
fn keyed_non_utf8_from_a_member_and_from_stdin_is_replaced_never_a_panic() {
    attack::non_utf8(Net::keyed());
}

#[test]
fn keyed_huge_declared_lengths_and_lines_are_refused_at_once() {
    let m = mesh3(Net::keyed());
    // Before the handshake: an outsider's huge length is not a handshake.
    let mut s = TcpStream::connect(m.a.addr).unwrap();
    s.write_all(&[0, 0xff, 0xff, 0xff]).unwrap();
    m.a.wait_closed(&mut s, "a connection that declared 16 MiB");
    attack::frame_limits(m, "keyed huge length");
}

#[test]
fn keyed_megabytes_streamed_at_a_node_are_consumed_in_bounded_memory() {
    // 16 MiB: sealing in a debug build is slow; the bound is the same.
    attack::streamed(Net::keyed(), 16 << 20);
}

#[test]
fn keyed_members_sending_control_bytes_at_once_cannot_swell_the_log_buffer() {
    attack::control_bytes(Net::keyed());
}

#[test]
fn keyed_half_handshakes_and_half_frames_are_closed_by_their_deadlines() {
    attack::half_frames(Net::keyed());
}

#[test]
fn keyed_hundreds_of_idle_sockets_neither_pile_up_nor_block_joins() {
    attack::idle_sockets(Net::keyed());
}

#[test]
fn keyed_flood_past_the_descriptor_limit_neither_spins_nor_blocks_joins() {
    attack::descriptor_flood(Net::keyed());
}

#[test]
fn keyed_member_that_stops_reading_is_cut_off_and_stdin_loses_nothing() {
    attack::slow_reader(Net::keyed());
}

#[test]
fn keyed_frozen_peer_is_dropped_by_keepalive_and_rejoins_when_thawed() {
    attack::frozen_peer(Net::keyed());
}
