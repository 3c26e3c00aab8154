//! The text protocol's properties (`rumor::text`, `rumor::wire::text`), as
//! checks that panic when one fails.
//!
//! Used by the `text` fuzz target and, through a `#[path]` module, by the
//! main crate's `tests/text_props.rs` on every `cargo test`. Only `std` and
//! `rumor` may be used here.

use std::time::{Duration, Instant};

use rumor::text::{
    self, Delivery, Dialed, MAX_TEXT_MESSAGE, REPLY, Sniff, Step, TextConfig, TextEvent,
    TextReader, parse_message,
};
use rumor::wire::Status;
use rumor::wire::text::{MAX_TEXT, decode_text};

/// Runs every check on `data`. `data`'s last bytes choose how the stream is
/// cut and when time passes.
pub fn check_text(data: &[u8]) {
    check_sniff(data);
    check_parse(data);
    check_reader(data);
    check_delivery(data);
    check_frames(data);
}

/// The sniff looks at one byte; the dialed sniff at most 16.
pub fn check_sniff(data: &[u8]) {
    let s = text::sniff(data);
    match data.first() {
        None => assert_eq!(s, Sniff::NeedMore),
        Some(0) => assert_eq!(s, Sniff::Rumor),
        Some(_) => assert_eq!(s, Sniff::Text),
    }
    let cut = &data[..data.len().min(1)];
    assert_eq!(text::sniff(cut), s, "the sniff looked past byte 1");
    let d = text::sniff_dialed(data);
    let cut16 = &data[..data.len().min(REPLY.len())];
    assert_eq!(
        text::sniff_dialed(cut16),
        d,
        "the dialed sniff looked past 16"
    );
    if d == Dialed::TextHost {
        assert_eq!(cut16, REPLY);
    }
    if d == Dialed::NeedMore {
        assert!(data.len() < REPLY.len() && REPLY.starts_with(data));
    }
}

/// A parsed message is exactly `DIGITS ":" text` with the digits naming
/// the port; an error is never a message the older program would take
/// with a port in 1..=65535 written in at most 5 digits.
pub fn check_parse(data: &[u8]) {
    match parse_message(data) {
        Ok((port, rest)) => {
            assert!(port >= 1);
            let head_len = data.len() - rest.len() - 1;
            assert!((1..=5).contains(&head_len));
            let head = &data[..head_len];
            assert!(head.iter().all(u8::is_ascii_digit));
            assert_eq!(data[head_len], b':');
            assert_eq!(std::str::from_utf8(head).unwrap().parse::<u16>(), Ok(port));
            assert!(!head.contains(&b':'));
        }
        Err(_) => {
            if let Some(colon) = data.iter().position(|&b| b == b':') {
                let head = &data[..colon];
                let ok = (1..=5).contains(&head.len())
                    && head.iter().all(u8::is_ascii_digit)
                    && std::str::from_utf8(head)
                        .ok()
                        .and_then(|h| h.parse::<u16>().ok())
                        .is_some_and(|p| p != 0);
                assert!(!ok, "refused a valid message {head:?}");
            }
        }
    }
}

/// Fed in pieces with time passing, the reader holds at most 4,096 bytes,
/// ends once, and a message it returns is the parse of the bytes it took.
pub fn check_reader(data: &[u8]) {
    let t0 = Instant::now();
    let cfg = TextConfig::default();
    let mut r = TextReader::new(t0, cfg);
    let mut now = t0;
    let mut taken = Vec::new();
    let mut event = None;
    let mut steps = data.iter().rev();
    let mut rest = data;
    while !rest.is_empty() && event.is_none() {
        let b = steps.next().copied().unwrap_or(0);
        let n = usize::from(b & 0x3f) + 1;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        // Sometimes wait: under or over the pause, now and then past the
        // deadline.
        now += Duration::from_millis(match b >> 6 {
            0 => 0,
            1 => 10,
            2 => 99,
            _ => 150,
        });
        let before = r.deadline().expect("a reader with no event has a deadline");
        if let Some(e) = r.handle_timeout(now) {
            assert!(now >= before);
            event = Some(e);
            break;
        }
        let room = MAX_TEXT_MESSAGE - taken.len();
        taken.extend_from_slice(&piece[..piece.len().min(room)]);
        event = r.feed(piece, now);
        assert!(r.buffered() <= MAX_TEXT_MESSAGE);
        assert!(r.capacity() <= MAX_TEXT_MESSAGE);
    }
    let event = event.or_else(|| r.close()).expect("close always ends it");
    assert_eq!(r.deadline(), None);
    assert_eq!(r.close(), None);
    assert_eq!(r.feed(b"1:x", now), None);
    match event {
        TextEvent::Message { port, text, .. } => {
            let (p, t) = parse_message(&taken).expect("a message parses");
            assert_eq!((p, t), (port, &text[..]));
        }
        TextEvent::Invalid { reason, .. } => {
            assert_eq!(parse_message(&taken), Err(reason));
        }
        TextEvent::TimedOut { bytes } => assert!(bytes <= MAX_TEXT_MESSAGE),
    }
}

/// A delivery that reads `data` as its reply succeeds exactly when `data`
/// starts with the reply, however it is split.
pub fn check_delivery(data: &[u8]) {
    let t0 = Instant::now();
    let mut d = Delivery::new(1248, b"x", t0, Duration::from_secs(3)).unwrap();
    assert_eq!(d.connected(), Step::Write(b"1248:x"));
    let mut outcome = None;
    for piece in data.chunks(5) {
        if let Step::Done(r) = d.read(piece) {
            outcome = Some(r);
            break;
        }
    }
    let outcome = outcome.or_else(|| match d.closed() {
        Step::Done(r) => Some(r),
        _ => None,
    });
    assert_eq!(outcome.map(|r| r.is_ok()), Some(data.starts_with(REPLY)));
    assert!(d.is_done());
}

/// TEXT and TEXT_HOST frames: a decoded frame re-encodes to exactly the
/// bytes it took; a text is never over `MAX_TEXT`.
pub fn check_frames(data: &[u8]) {
    if let Ok(Status::Complete((f, used))) = decode_text(data) {
        assert!(used <= data.len());
        let mut again = Vec::new();
        f.encode(&mut again);
        assert_eq!(again, data[..used]);
        if let rumor::wire::text::TextFrame::Text { text, .. } = f {
            assert!(text.len() <= MAX_TEXT);
        }
    }
}
