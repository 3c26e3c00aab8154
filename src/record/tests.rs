//! The handshake and the record layer, both ends in memory.

use super::*;
use crate::keyring::{Key, KeyRing};
use crate::wire::{Frame, Hello};

fn key(b: u8) -> Key {
    Key([b; 32])
}

fn ring(bytes: &[u8]) -> KeyRing {
    KeyRing::new(bytes.iter().map(|&b| key(b)).collect()).unwrap()
}

fn entropy(n: u8) -> [u8; 32] {
    [n; 32]
}

/// Feeds `bytes` to `hs` in pieces of `piece` bytes; the first non-NeedMore
/// outcome, or NeedMore if none.
fn feed(hs: &mut Handshake, bytes: &[u8], piece: usize) -> Result<Step, HandshakeError> {
    for chunk in bytes.chunks(piece.max(1)) {
        match hs.read(chunk)? {
            Step::NeedMore => {}
            done => return Ok(done),
        }
    }
    Ok(Step::NeedMore)
}

fn done(step: Result<Step, HandshakeError>) -> (Box<Session>, Vec<u8>, Vec<u8>) {
    match step {
        Ok(Step::Done {
            session,
            reply,
            leftover,
        }) => (session, reply, leftover),
        other => panic!("not done: {other:?}"),
    }
}

/// A full handshake between a dialer with `dial` and an acceptor with
/// `accept`, bytes delivered in pieces of `piece`: (initiator, responder).
fn pair(dial: &KeyRing, accept: &KeyRing, piece: usize) -> (Box<Session>, Box<Session>) {
    let (mut i, i_first) = Handshake::initiator(dial, entropy(1));
    let (mut r, r_first) = Handshake::responder(accept, entropy(2));
    assert_eq!(i_first.len(), PREAMBLE.len() + HANDSHAKE_MSG_LEN);
    assert_eq!(r_first, PREAMBLE);
    // The responder's preamble arrives first, alone: the initiator waits.
    assert!(matches!(i.read(&r_first), Ok(Step::NeedMore)));
    let (r_session, reply, leftover) = done(feed(&mut r, &i_first, piece));
    assert!(leftover.is_empty());
    assert_eq!(reply.len(), 1 + HANDSHAKE_MSG_LEN);
    let (i_session, none, leftover) = done(feed(&mut i, &reply, piece));
    assert!(none.is_empty() && leftover.is_empty());
    assert_eq!(r.read(b"x").unwrap_err(), HandshakeError::Spent);
    (i_session, r_session)
}

fn seal(s: &mut Session, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    s.seal(plain, &mut out).unwrap();
    out
}

fn open(s: &mut Session, records: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    s.open(records, &mut out).map(|()| out)
}

#[test]
fn handshake_both_ways_then_records_both_ways() {
    for piece in [1, 2, 7, 100] {
        let (mut i, mut r) = pair(&ring(&[9]), &ring(&[9]), piece);
        assert_eq!((i.key_index(), r.key_index()), (0, 0));
        let rec = seal(&mut i, b"hello from the dialer");
        assert_eq!(rec.len(), 21 + RECORD_OVERHEAD);
        assert_eq!(open(&mut r, &rec).unwrap(), b"hello from the dialer");
        let rec = seal(&mut r, b"and back");
        assert_eq!(open(&mut i, &rec).unwrap(), b"and back");
    }
}

#[test]
fn each_key_of_the_ring_is_accepted_and_named() {
    let acceptor = ring(&[1, 2, 3]);
    for (index, b) in [1u8, 2, 3].into_iter().enumerate() {
        let (mut i, mut r) = pair(&ring(&[b, 7]), &acceptor, 64);
        assert_eq!(r.key_index(), index);
        assert_eq!(i.key_index(), 0);
        assert_eq!(r.key_in(&acceptor), Some(index));
        // After a rotation that removed the key, the session says so.
        assert_eq!(r.key_in(&ring(&[4, 5])), None);
        assert_eq!(r.key_in(&ring(&[5, b])), Some(1));
        let rec = seal(&mut i, b"x");
        assert_eq!(open(&mut r, &rec).unwrap(), b"x");
    }
}

#[test]
fn a_wrong_key_is_refused_on_both_ends() {
    let (mut i, first) = Handshake::initiator(&ring(&[1]), entropy(1));
    let (mut r, _) = Handshake::responder(&ring(&[2, 3]), entropy(2));
    assert_eq!(r.read(&first).unwrap_err(), HandshakeError::WrongKey);
    assert_eq!(r.read(b"").unwrap_err(), HandshakeError::WrongKey);
    // The responder's preamble and refusal tell the dialer why.
    let farewell = [&PREAMBLE[..], r.farewell()].concat();
    assert_eq!(
        feed(&mut i, &farewell, 1).unwrap_err(),
        HandshakeError::KeyRefused
    );
    assert!(i.farewell().is_empty());
    assert_eq!(
        HandshakeError::WrongKey.to_string(),
        "the peer's network key is not in our key ring"
    );
    assert_eq!(
        HandshakeError::KeyRefused.to_string(),
        "the peer refused our network key (our primary key is not in its ring)"
    );
}

#[test]
fn an_unkeyed_peer_a_text_host_and_garbage_each_have_a_reason() {
    let mut hello = Vec::new();
    Frame::Hello(Hello {
        version: 1,
        flags: 0,
        node_id: 42,
        listen_port: 7000,
        advertised: None,
    })
    .encode(&mut hello);
    let cases: [(&[u8], HandshakeError); 6] = [
        (&hello, HandshakeError::Unkeyed),
        (b"7001:hi there", HandshakeError::TextHost),
        (b"Message received", HandshakeError::TextHost),
        (b"GET / HTTP/1.1\r\n\r\n", HandshakeError::Garbage),
        (b"RUMK\x07", HandshakeError::Version(7)),
        (&[0xff; 64], HandshakeError::Garbage),
    ];
    for (bytes, want) in cases {
        for piece in [1, 3, 64] {
            let (mut r, _) = Handshake::responder(&ring(&[1]), entropy(2));
            assert_eq!(feed(&mut r, bytes, piece).unwrap_err(), want, "{bytes:?}");
            assert!(r.farewell().is_empty());
            let (mut i, _) = Handshake::initiator(&ring(&[1]), entropy(1));
            assert_eq!(feed(&mut i, bytes, piece).unwrap_err(), want, "{bytes:?}");
        }
    }
    // A status byte that is neither accept nor refuse.
    let (mut i, _) = Handshake::initiator(&ring(&[1]), entropy(1));
    let bad = [&PREAMBLE[..], &[9]].concat();
    assert_eq!(i.read(&bad).unwrap_err(), HandshakeError::Garbage);
}

#[test]
fn a_handshake_cut_off_halfway_waits_and_holds_little() {
    let (_, first) = Handshake::initiator(&ring(&[1]), entropy(1));
    for cut in 0..first.len() {
        let (mut r, _) = Handshake::responder(&ring(&[1]), entropy(2));
        assert!(matches!(r.read(&first[..cut]), Ok(Step::NeedMore)));
        assert!(r.buffered() <= HANDSHAKE_CAP);
    }
    // A flood of bytes after the first message: held is capped, the rest is
    // leftover for the record layer (which refuses it).
    let (mut r, _) = Handshake::responder(&ring(&[1]), entropy(2));
    let flood = [&first[..], &[0xaa; 100_000]].concat();
    let (mut session, _, leftover) = done(r.read(&flood));
    assert_eq!(leftover.len(), 100_000);
    assert!(open(&mut session, &leftover).is_err());
}

#[test]
fn a_recorded_handshake_replayed_gets_nowhere() {
    let (mut i, first) = Handshake::initiator(&ring(&[1]), entropy(1));
    let (mut r, _) = Handshake::responder(&ring(&[1]), entropy(2));
    let (mut r_session, reply, _) = done(r.read(&first));
    let (mut i_session, _, _) = done(i.read(&[&PREAMBLE[..], &reply].concat()));
    let recorded = seal(&mut i_session, b"a secret line");
    assert_eq!(open(&mut r_session, &recorded).unwrap(), b"a secret line");
    // The first message again, to a fresh responder: it answers (no clock),
    // but the recorded records do not open in the new session.
    let (mut r2, _) = Handshake::responder(&ring(&[1]), entropy(3));
    let (mut replayed, _, _) = done(r2.read(&first));
    assert_eq!(open(&mut replayed, &recorded), Err(RecordError::Forged));
    // Its reply replayed to a fresh initiator fails at once.
    let (mut i2, _) = Handshake::initiator(&ring(&[1]), entropy(4));
    let replay = [&PREAMBLE[..], &reply].concat();
    assert_eq!(i2.read(&replay).unwrap_err(), HandshakeError::Forged);
}

#[test]
fn the_same_entropy_makes_the_same_bytes() {
    let a = Handshake::initiator(&ring(&[1]), entropy(5)).1;
    let b = Handshake::initiator(&ring(&[1]), entropy(5)).1;
    let c = Handshake::initiator(&ring(&[1]), entropy(6)).1;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn replayed_reordered_altered_truncated_records_fail() {
    let (mut i, _) = pair(&ring(&[1]), &ring(&[1]), 64);
    let r1 = seal(&mut i, b"first");
    let r2 = seal(&mut i, b"second");
    let fresh = || pair(&ring(&[1]), &ring(&[1]), 64);
    // The pair above and these are seeded alike, so they share keys: the
    // records below are valid for each fresh responder in order.
    let (_, mut r) = fresh();
    assert_eq!(open(&mut r, &r1).unwrap(), b"first");
    assert_eq!(open(&mut r, &r1), Err(RecordError::Forged), "replayed");
    assert_eq!(
        open(&mut r, &r2),
        Err(RecordError::Forged),
        "dead after an error"
    );
    let (_, mut r) = fresh();
    assert_eq!(open(&mut r, &r2), Err(RecordError::Forged), "reordered");
    let (_, mut r) = fresh();
    let mut flipped = r1.clone();
    for bit in [0u8, 3, 7] {
        for at in [RECORD_HEADER, r1.len() - 1] {
            flipped.copy_from_slice(&r1);
            flipped[at] ^= 1 << bit;
            let (_, mut r) = fresh();
            assert_eq!(
                open(&mut r, &flipped),
                Err(RecordError::Forged),
                "bit {bit} at {at}"
            );
        }
    }
    // A shorter length field, and one under a tag.
    let mut short = r1.clone();
    short[1] -= 1;
    assert_eq!(
        open(&mut r, &short[..short.len() - 1]),
        Err(RecordError::Forged)
    );
    let (_, mut r) = fresh();
    assert_eq!(open(&mut r, &[0, 15]), Err(RecordError::Short(15)));
    let (_, mut r) = fresh();
    // Cut short: waits, holding the bytes, and says so.
    assert_eq!(open(&mut r, &r1[..r1.len() - 1]).unwrap(), b"");
    assert_eq!(r.buffered(), r1.len() - 1);
    // A dropped record: the next one fails.
    let (_, mut r) = fresh();
    assert_eq!(open(&mut r, &r2), Err(RecordError::Forged));
}

#[test]
fn seal_open_round_trip_over_every_split() {
    let (mut i, mut r) = pair(&ring(&[1]), &ring(&[1]), 64);
    let batches: Vec<Vec<u8>> = vec![
        b"one".to_vec(),
        vec![],
        (0..200u8).collect(),
        vec![7; MAX_RECORD_PLAIN],
        vec![8; MAX_RECORD_PLAIN + 1],
        vec![9; 3 * MAX_RECORD_PLAIN + 17],
    ];
    let mut stream = Vec::new();
    let mut plain = Vec::new();
    for b in &batches {
        let before = stream.len();
        i.seal(b, &mut stream).unwrap();
        let records = b.len().div_ceil(MAX_RECORD_PLAIN);
        assert_eq!(stream.len() - before, b.len() + records * RECORD_OVERHEAD);
        plain.extend_from_slice(b);
    }
    // Whole.
    assert_eq!(open(&mut r, &stream).unwrap(), plain);
    // In pieces of many sizes, each on a fresh pair seeded alike.
    for piece in [1, 2, 3, 17, 1000, 65_537, 70_000] {
        let (_, mut r) = pair(&ring(&[1]), &ring(&[1]), 64);
        let mut out = Vec::new();
        for chunk in stream.chunks(piece) {
            r.open(chunk, &mut out).unwrap();
            assert!(r.buffered() < OPEN_CAP);
        }
        assert_eq!(out, plain, "pieces of {piece}");
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.capacity(), 0, "nothing held between records");
    }
    // Cut in two at every point of a small stream.
    let (mut i, _) = pair(&ring(&[1]), &ring(&[1]), 64);
    let mut small = Vec::new();
    for n in 0..5u8 {
        i.seal(&[n; 20], &mut small).unwrap();
    }
    for cut in 0..=small.len() {
        let (_, mut r) = pair(&ring(&[1]), &ring(&[1]), 64);
        let mut out = Vec::new();
        r.open(&small[..cut], &mut out).unwrap();
        r.open(&small[cut..], &mut out).unwrap();
        assert_eq!(out.len(), 100, "cut at {cut}");
    }
}

#[test]
fn the_leftover_after_the_reply_is_records() {
    let (mut i, first) = Handshake::initiator(&ring(&[1]), entropy(1));
    let (mut r, pre) = Handshake::responder(&ring(&[1]), entropy(2));
    let (mut r_session, reply, _) = done(r.read(&first));
    // The responder seals its hello at once: it arrives with the reply.
    let mut wire = [&pre[..], &reply[..]].concat();
    r_session.seal(b"sealed hello", &mut wire).unwrap();
    let (mut i_session, _, leftover) = done(i.read(&wire));
    assert_eq!(open(&mut i_session, &leftover).unwrap(), b"sealed hello");
}
