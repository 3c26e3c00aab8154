//! The record layer's properties (`rumor::record`), as checks that panic
//! when one fails. Used by the `record` fuzz target and, through a `#[path]`
//! module, by the main crate's `tests/replay.rs`. Only `std` and `rumor`.
//!
//! The first input byte picks a check, the rest drives it:
//!
//! | `data[0] % 5` | check |
//! |---|---|
//! | 0 | arbitrary bytes into a responder's handshake, in pieces |
//! | 1 | arbitrary bytes into an initiator's handshake (after the preamble) |
//! | 2 | arbitrary bytes into `Session::open`, in pieces |
//! | 3 | round trip: frames sealed in batches open to the same bytes, fed in pieces |
//! | 4 | a real handshake or record stream with one byte altered never passes |

use rumor::keyring::{Key, KeyRing, MAX_KEYS};
use rumor::record::{
    HANDSHAKE_CAP, Handshake, HandshakeError, MAX_RECORD_PLAIN, OPEN_CAP, PREAMBLE,
    RECORD_OVERHEAD, Session, Step,
};
use rumor::wire::{self, FrameReader, MAX_PAYLOAD};

/// Bytes taken from the front of the input, 0 once it runs out.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}

/// A ring of `n` (1..=MAX_KEYS) keys, key `i` all bytes `i + 1`.
pub fn ring(n: usize) -> KeyRing {
    let n = n.clamp(1, MAX_KEYS);
    KeyRing::new((0..n).map(|i| Key([i as u8 + 1; 32])).collect()).expect("a valid ring")
}

fn entropy(n: u8) -> [u8; 32] {
    [n; 32]
}

/// Piece sizes from `sizes`, cycled: mostly small, some large, some empty
/// (on the first pass only, so the pieces always end). At most about 2048
/// pieces, so a large stream is not fed byte by byte (the unit tests cut
/// small streams at every point).
fn pieces<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    let least = data.len() / 2048;
    while !rest.is_empty() {
        let b = if sizes.is_empty() {
            0x7f
        } else {
            sizes[i % sizes.len()]
        };
        i += 1;
        let n = match b {
            0 if i <= sizes.len() => 0,
            0 => least.max(1),
            b @ 1..=0xbf => least.max(usize::from(b & 0x3f) + 1),
            b => least.max(usize::from(b & 0x3f) * 2048 + 1),
        };
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
    }
    out
}

/// A whole handshake between rings of `dial` and `accept` keys, with the
/// dialer's primary key `which` of the acceptor's: the two sessions.
pub fn sessions(keys: usize, which: usize) -> (Session, Session) {
    let accept = ring(keys);
    let k = accept.keys()[which % accept.len()].clone();
    let dial = KeyRing::new(vec![k]).expect("one key");
    let (mut i, first) = Handshake::initiator(&dial, entropy(1));
    let (mut r, pre) = Handshake::responder(&accept, entropy(2));
    let Ok(Step::Done {
        session: rs, reply, ..
    }) = r.read(&first)
    else {
        panic!("a genuine first message was refused");
    };
    assert_eq!(rs.key_index(), which % accept.len());
    let Ok(Step::Done { session: is, .. }) = i.read(&[&pre[..], &reply].concat()) else {
        panic!("a genuine reply was refused");
    };
    (*is, *rs)
}

/// Feeds `chunks` to `hs`: the outcome, checking the cap after each.
fn drive(hs: &mut Handshake, chunks: &[&[u8]]) -> Result<Option<Vec<u8>>, HandshakeError> {
    for c in chunks {
        match hs.read(c) {
            Ok(Step::NeedMore) => assert!(hs.buffered() <= HANDSHAKE_CAP),
            Ok(Step::Done { leftover, .. }) => return Ok(Some(leftover)),
            Err(e) => {
                // Spent: the same error again, nothing held.
                assert!(matches!(hs.read(b"more"), Err(again) if again == e));
                assert_eq!(hs.buffered(), 0);
                return Err(e);
            }
        }
    }
    Ok(None)
}

/// Arbitrary bytes at a handshake: never a panic, never more than the cap
/// held, never `Done` (no forged message authenticates), the same outcome
/// whole and in pieces.
fn handshake_garbage(data: &[u8], initiator: bool) {
    let mut c = Cursor(data);
    let keys = usize::from(c.byte() % MAX_KEYS as u8) + 1;
    let split = usize::from(c.byte());
    let input = if initiator {
        // Get past the preamble so the reply itself is fuzzed.
        [&PREAMBLE[..], c.0].concat()
    } else {
        c.0.to_vec()
    };
    let start = |r: &KeyRing| {
        if initiator {
            Handshake::initiator(r, entropy(1)).0
        } else {
            Handshake::responder(r, entropy(2)).0
        }
    };
    let r = ring(keys);
    let whole = drive(&mut start(&r), &[&input]);
    assert!(
        !matches!(whole, Ok(Some(_))),
        "arbitrary bytes made a session"
    );
    let sizes = &data[..split.min(data.len())];
    let parts = pieces(&input, sizes);
    let parted = drive(&mut start(&r), &parts);
    assert_eq!(
        whole, parted,
        "the outcome depends on where the bytes were split"
    );
}

/// Arbitrary bytes at `Session::open`, after a few genuine records: never
/// a panic, plaintext no longer than the input, at most one record held,
/// dead after an error.
fn open_garbage(data: &[u8]) {
    let mut c = Cursor(data);
    let genuine = c.byte() % 4;
    let (mut tx, mut rx) = sessions(1, 0);
    let mut stream = Vec::new();
    for n in 0..genuine {
        tx.seal(&[n; 10], &mut stream).expect("seal");
    }
    let want = usize::from(genuine) * 10;
    stream.extend_from_slice(c.0);
    let mut plain = Vec::new();
    let mut failed = None;
    for piece in pieces(&stream, &data[..data.len().min(8)]) {
        match rx.open(piece, &mut plain) {
            Ok(()) => assert!(rx.buffered() < OPEN_CAP),
            Err(e) => {
                assert_eq!(rx.open(b"x", &mut plain), Err(e));
                failed = Some(e);
                break;
            }
        }
    }
    assert!(plain.len() <= stream.len());
    assert!(plain.len() >= want || failed.is_some());
    let expected: Vec<u8> = (0..genuine).flat_map(|n| [n; 10]).collect();
    let n = want.min(plain.len());
    assert_eq!(plain[..n], expected[..n], "genuine records opened wrong");
}

/// Message frames from the input, grouped in batches: each batch sealed at
/// once, the whole stream fed to `open` in pieces, the plaintext equal to
/// the frames in order, and the frames read back.
fn round_trip(data: &[u8]) {
    let mut c = Cursor(data);
    let keys = usize::from(c.byte() % MAX_KEYS as u8) + 1;
    let which = usize::from(c.byte());
    let frames = usize::from(c.byte() % 24) + 1;
    let (mut tx, mut rx) = sessions(keys, which);
    let mut plain = Vec::new();
    let mut sealed = Vec::new();
    let mut batch = Vec::new();
    let mut payloads = Vec::new();
    for n in 0..frames {
        let size = c.byte();
        let len = if size & 0x80 != 0 {
            (usize::from(size & 0x7f) * 1031).min(MAX_PAYLOAD)
        } else {
            usize::from(size)
        };
        let fill = c.byte();
        let payload: Vec<u8> = (0..len).map(|i| fill ^ (i as u8)).collect();
        wire::encode_message(&mut batch, n as u64, 0, &payload);
        payloads.push(payload);
        if c.byte() & 1 == 1 || n + 1 == frames {
            let before = sealed.len();
            tx.seal(&batch, &mut sealed).expect("seal");
            let records = batch.len().div_ceil(MAX_RECORD_PLAIN);
            assert_eq!(
                sealed.len() - before,
                batch.len() + records * RECORD_OVERHEAD
            );
            plain.extend_from_slice(&batch);
            batch.clear();
        }
    }
    let mut opened = Vec::new();
    for piece in pieces(&sealed, c.0) {
        rx.open(piece, &mut opened)
            .expect("a genuine record failed to open");
        assert!(rx.buffered() < OPEN_CAP);
    }
    assert_eq!(rx.buffered(), 0);
    assert_eq!(opened, plain, "opened bytes differ from the sealed ones");
    let mut reader = FrameReader::new();
    let mut got = Vec::new();
    reader
        .feed(&opened, |f| {
            if let wire::Frame::Message { payload, .. } = f {
                got.push(payload.to_vec());
            }
            true
        })
        .expect("the frames decode");
    assert_eq!(got, payloads);
}

/// A genuine first message, reply or record stream with one byte XORed
/// never passes as genuine.
fn altered(data: &[u8]) {
    let mut c = Cursor(data);
    let what = c.byte() % 3;
    let at = usize::from(c.byte()) << 8 | usize::from(c.byte());
    let mask = c.byte().max(1);
    let r = ring(2);
    let start = || {
        let (i, first) = Handshake::initiator(&r, entropy(1));
        let (resp, pre) = Handshake::responder(&r, entropy(2));
        (i, first, resp, pre)
    };
    match what {
        0 => {
            let (_, first, mut resp, _) = start();
            let mut bad = first.clone();
            let at = at % bad.len();
            bad[at] ^= mask;
            assert!(
                !matches!(resp.read(&bad), Ok(Step::Done { .. })),
                "altered first message at {at}"
            );
        }
        1 => {
            let (mut i, first, mut resp, pre) = start();
            let Ok(Step::Done { reply, .. }) = resp.read(&first) else {
                panic!("a genuine first message was refused");
            };
            let mut bad = [&pre[..], &reply].concat();
            let at = at % bad.len();
            bad[at] ^= mask;
            assert!(
                !matches!(i.read(&bad), Ok(Step::Done { .. })),
                "altered reply at {at}"
            );
        }
        _ => {
            let (mut tx, mut rx) = sessions(1, 0);
            let mut stream = Vec::new();
            for n in 0..4u8 {
                tx.seal(&vec![n; usize::from(c.byte()) + 1], &mut stream)
                    .expect("seal");
            }
            let at = at % stream.len();
            let mut bad = stream.clone();
            bad[at] ^= mask;
            let mut plain = Vec::new();
            let ok = rx.open(&bad, &mut plain).is_ok();
            // Passing means: waiting for a record made longer.
            assert!(!ok || rx.buffered() > 0, "altered record at {at} opened");
        }
    }
}

/// Runs the check `data[0]` picks.
pub fn check_record(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => handshake_garbage(rest, false),
        1 => handshake_garbage(rest, true),
        2 => open_garbage(rest),
        3 => round_trip(rest),
        _ => altered(rest),
    }
}
