//! One inbound text message: its bytes, where it ends, and its `PORT:`.
//!
//! A text message has no length and no end marker, and its sender waits for
//! the reply before it closes, so end of stream alone cannot end it. A
//! message ends at the first of:
//!
//! - [`MAX_TEXT_MESSAGE`] bytes (the older program reads no more; later
//!   bytes are never read and the core closes the connection);
//! - end of stream;
//! - a pause of [`TextConfig::pause`] (100 ms) with no new byte.
//!
//! A connection that has not finished its message [`TextConfig::deadline`]
//! (3 s, the rumor handshake deadline) after it was accepted is closed:
//! that covers a connection that sends nothing and one that trickles.
//!
//! Why 100 ms: the older sender writes the whole message in one `write` and
//! then blocks reading the reply, so the bytes of one message arrive
//! back to back. The only gap inside one write is TCP's: a message longer
//! than one segment (about 1,448 bytes on Ethernet) can have its last,
//! short segment held by Nagle's algorithm until the first ones are
//! acknowledged, which is one round trip, or a delayed ACK (40 ms minimum
//! on Linux). 100 ms covers that on a LAN with a 2.5x margin, while the
//! sender, which waits for each reply in turn, loses at most 100 ms per
//! message. On loopback a message of 4,096 bytes is one segment.

use std::fmt;
use std::time::{Duration, Instant};

use super::{MAX_PORT_DIGITS, MAX_TEXT_MESSAGE};

/// The reader's timing. [`Default`] is the documented one; tests may
/// shorten it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextConfig {
    /// A message ends after this long without a new byte.
    pub pause: Duration,
    /// A message not ended this long after the connection was accepted is
    /// refused, and the connection closed.
    pub deadline: Duration,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            pause: Duration::from_millis(100),
            deadline: Duration::from_secs(3),
        }
    }
}

/// Why a text message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It reached [`MAX_TEXT_MESSAGE`] bytes; anything after is not read.
    Full,
    /// The sender closed (or shut down its write side).
    Closed,
    /// No byte came for [`TextConfig::pause`].
    Pause,
}

/// Why bytes are not a text message. Each is one connection closed, with
/// no reply, and said on stderr as `invalid text message: REASON`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Not one byte.
    Empty,
    /// No `:` at all.
    NoColon,
    /// Nothing before the first `:`.
    EmptyPort,
    /// Something other than the digits 0-9 before the first `:`.
    NotNumber,
    /// More than [`MAX_PORT_DIGITS`] digits (this many).
    TooManyDigits(usize),
    /// Five digits over 65535.
    OutOfRange(u32),
    /// Port 0.
    PortZero,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Empty => write!(f, "no bytes"),
            Invalid::NoColon => write!(f, "no ':' after a port number"),
            Invalid::EmptyPort => write!(f, "no port number before ':'"),
            Invalid::NotNumber => write!(f, "the port before ':' is not a decimal number"),
            Invalid::TooManyDigits(n) => {
                write!(f, "the port has {n} digits, over {MAX_PORT_DIGITS}")
            }
            Invalid::OutOfRange(p) => write!(f, "port {p} is over 65535"),
            Invalid::PortZero => write!(f, "port 0"),
        }
    }
}

impl std::error::Error for Invalid {}

/// What became of one inbound text connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextEvent {
    /// A valid message: reply [`super::REPLY`], close, print it as from the
    /// connection's IP with `port`.
    Message {
        port: u16,
        /// The bytes after the first `:`; any bytes at all (the core
        /// escapes them for display).
        text: Vec<u8>,
        end: End,
    },
    /// Not a text message: close without a reply, say why on stderr.
    Invalid { reason: Invalid, end: End },
    /// The deadline passed first, with `bytes` read (0: it sent nothing).
    /// Close, and say so on stderr.
    TimedOut { bytes: usize },
}

/// Splits a whole text message into its port and its text.
///
/// Total: every input is a port in 1..=65535 and the bytes after the first
/// `:`, or the reason it is not. Looks at no more than the input.
pub fn parse_message(msg: &[u8]) -> Result<(u16, &[u8]), Invalid> {
    if msg.is_empty() {
        return Err(Invalid::Empty);
    }
    let colon = msg
        .iter()
        .position(|&b| b == b':')
        .ok_or(Invalid::NoColon)?;
    let (head, text) = (&msg[..colon], &msg[colon + 1..]);
    if head.is_empty() {
        return Err(Invalid::EmptyPort);
    }
    if !head.iter().all(u8::is_ascii_digit) {
        return Err(Invalid::NotNumber);
    }
    if head.len() > MAX_PORT_DIGITS {
        return Err(Invalid::TooManyDigits(head.len()));
    }
    let port = head.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    match u16::try_from(port) {
        Err(_) => Err(Invalid::OutOfRange(port)),
        Ok(0) => Err(Invalid::PortZero),
        Ok(p) => Ok((p, text)),
    }
}

/// Accumulates one inbound text message (see the module docs).
///
/// Holds at most [`MAX_TEXT_MESSAGE`] bytes. Once it has returned an event
/// it is finished: every later call returns `None` and [`Self::deadline`]
/// is `None`.
#[derive(Debug)]
pub struct TextReader {
    cfg: TextConfig,
    buf: Vec<u8>,
    /// When the connection was accepted.
    started: Instant,
    /// When the last byte came.
    last: Option<Instant>,
    done: bool,
}

impl TextReader {
    /// A reader for a connection accepted at `now`.
    pub fn new(now: Instant, cfg: TextConfig) -> Self {
        TextReader {
            cfg,
            buf: Vec::new(),
            started: now,
            last: None,
            done: false,
        }
    }

    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Allocated capacity, for memory accounting.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Takes bytes read at `now`. Returns the event when they fill the
    /// message; bytes past [`MAX_TEXT_MESSAGE`] are dropped unread (the
    /// core stops reading and closes).
    pub fn feed(&mut self, data: &[u8], now: Instant) -> Option<TextEvent> {
        if self.done || data.is_empty() {
            return None;
        }
        if self.due(now) {
            // Bytes that come after the deadline cannot save the message.
            return self.handle_timeout(now);
        }
        let take = data.len().min(MAX_TEXT_MESSAGE - self.buf.len());
        let need = self.buf.len() + take;
        if need > self.buf.capacity() {
            // Grow by doubling, but never past the cap.
            let cap = need
                .max(2 * self.buf.capacity())
                .clamp(64, MAX_TEXT_MESSAGE);
            self.buf.reserve_exact(cap - self.buf.len());
        }
        self.buf.extend_from_slice(&data[..take]);
        self.last = Some(now);
        if self.buf.len() == MAX_TEXT_MESSAGE {
            return Some(self.finish(End::Full));
        }
        None
    }

    /// The sender closed its side (end of stream, or a read error).
    pub fn close(&mut self) -> Option<TextEvent> {
        if self.done {
            return None;
        }
        Some(self.finish(End::Closed))
    }

    /// When [`Self::handle_timeout`] has something to do: the end of the
    /// pause after the last byte, or the deadline, whichever is first.
    pub fn deadline(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let hard = self.started + self.cfg.deadline;
        Some(match self.last {
            Some(t) => hard.min(t + self.cfg.pause),
            None => hard,
        })
    }

    /// Ends the message if its pause or its deadline has passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TextEvent> {
        if self.done {
            return None;
        }
        if self.due(now) {
            self.done = true;
            let bytes = self.buf.len();
            self.buf = Vec::new();
            return Some(TextEvent::TimedOut { bytes });
        }
        match self.last {
            Some(t) if now >= t + self.cfg.pause => Some(self.finish(End::Pause)),
            _ => None,
        }
    }

    fn due(&self, now: Instant) -> bool {
        now >= self.started + self.cfg.deadline
    }

    fn finish(&mut self, end: End) -> TextEvent {
        self.done = true;
        let buf = std::mem::take(&mut self.buf);
        match parse_message(&buf) {
            Ok((port, text)) => TextEvent::Message {
                port,
                text: text.to_vec(),
                end,
            },
            Err(reason) => TextEvent::Invalid { reason, end },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ports_and_reasons() {
        assert_eq!(parse_message(b"8080:hello"), Ok((8080, &b"hello"[..])));
        assert_eq!(parse_message(b"1:"), Ok((1, &b""[..])));
        assert_eq!(parse_message(b"65535:a:b"), Ok((65535, &b"a:b"[..])));
        assert_eq!(parse_message(b"08080:x"), Ok((8080, &b"x"[..])));
        let cases: [(&[u8], Invalid); 10] = [
            (b"", Invalid::Empty),
            (b"hello", Invalid::NoColon),
            (b"8080", Invalid::NoColon),
            (b":hello", Invalid::EmptyPort),
            (b"abc:hello", Invalid::NotNumber),
            (b"+80:x", Invalid::NotNumber),
            (b"80 :x", Invalid::NotNumber),
            (b"123456:x", Invalid::TooManyDigits(6)),
            (b"65536:x", Invalid::OutOfRange(65536)),
            (b"0:x", Invalid::PortZero),
        ];
        for (msg, want) in cases {
            assert_eq!(parse_message(msg), Err(want), "{msg:?}");
        }
        assert_eq!(parse_message(b"00000:x"), Err(Invalid::PortZero));
        assert_eq!(parse_message(b"99999:x"), Err(Invalid::OutOfRange(99999)));
        let long = [b'9'; 4095];
        assert_eq!(parse_message(&long), Err(Invalid::NoColon));
        assert_eq!(
            parse_message(&[&long[..], b":"].concat()),
            Err(Invalid::TooManyDigits(4095))
        );
        assert_eq!(
            parse_message(b"\xff\xfe:x").unwrap_err().to_string(),
            "the port before ':' is not a decimal number"
        );
    }

    #[test]
    fn a_message_ends_after_the_pause_wherever_it_was_split() {
        let t0 = Instant::now();
        let cfg = TextConfig::default();
        let msg = b"8080:hello there";
        for step in 1..=msg.len() {
            let mut r = TextReader::new(t0, cfg);
            let mut now = t0 + ms(5);
            for chunk in msg.chunks(step) {
                assert_eq!(r.feed(chunk, now), None);
                now += ms(99);
                assert_eq!(r.handle_timeout(now), None, "step {step}");
            }
            let last = now - ms(99);
            assert_eq!(r.deadline(), Some(last + cfg.pause));
            assert_eq!(
                r.handle_timeout(last + ms(100)),
                Some(msg_event(End::Pause))
            );
            assert_eq!(r.deadline(), None);
            assert_eq!(r.feed(b"more", now), None);
            assert_eq!(r.close(), None);
        }
    }

    fn msg_event(end: End) -> TextEvent {
        TextEvent::Message {
            port: 8080,
            text: b"hello there".to_vec(),
            end,
        }
    }

    #[test]
    fn a_message_ends_at_end_of_stream() {
        let t0 = Instant::now();
        let mut r = TextReader::new(t0, TextConfig::default());
        r.feed(b"8080:hello ", t0);
        r.feed(b"there", t0 + ms(1));
        assert_eq!(r.close(), Some(msg_event(End::Closed)));
        let mut r = TextReader::new(t0, TextConfig::default());
        assert_eq!(
            r.close(),
            Some(TextEvent::Invalid {
                reason: Invalid::Empty,
                end: End::Closed
            })
        );
    }

    #[test]
    fn a_message_ends_at_4096_bytes_and_the_rest_is_not_read() {
        let t0 = Instant::now();
        let mut r = TextReader::new(t0, TextConfig::default());
        let mut stream = b"8080:".to_vec();
        stream.resize(10_000_000, b'x');
        let mut got = None;
        for chunk in stream.chunks(1000) {
            if let Some(e) = r.feed(chunk, t0) {
                got = Some(e);
                break;
            }
            assert!(r.buffered() <= MAX_TEXT_MESSAGE);
            assert!(r.capacity() <= MAX_TEXT_MESSAGE);
        }
        assert_eq!(
            got,
            Some(TextEvent::Message {
                port: 8080,
                text: vec![b'x'; MAX_TEXT_MESSAGE - 5],
                end: End::Full,
            })
        );
        assert_eq!(r.buffered(), 0);
        // In one piece too.
        let mut r = TextReader::new(t0, TextConfig::default());
        assert!(matches!(
            r.feed(&stream, t0),
            Some(TextEvent::Message { end: End::Full, .. })
        ));
        assert!(r.capacity() <= MAX_TEXT_MESSAGE);
    }

    #[test]
    fn silence_and_trickles_hit_the_deadline() {
        let t0 = Instant::now();
        let cfg = TextConfig::default();
        let mut r = TextReader::new(t0, cfg);
        assert_eq!(r.deadline(), Some(t0 + cfg.deadline));
        assert_eq!(r.handle_timeout(t0 + ms(2999)), None);
        assert_eq!(
            r.handle_timeout(t0 + cfg.deadline),
            Some(TextEvent::TimedOut { bytes: 0 })
        );
        // One byte every 90 ms never pauses long enough, and is cut at 3 s.
        let mut r = TextReader::new(t0, cfg);
        let mut now = t0;
        let mut n = 0;
        let got = loop {
            if let Some(e) = r.feed(b"9", now) {
                break e;
            }
            n += 1;
            now += ms(90);
            assert!(r.deadline().unwrap() <= t0 + cfg.deadline);
            if let Some(e) = r.handle_timeout(now) {
                break e;
            }
        };
        assert_eq!(got, TextEvent::TimedOut { bytes: n });
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn invalid_messages_end_like_valid_ones() {
        let t0 = Instant::now();
        let mut r = TextReader::new(t0, TextConfig::default());
        r.feed(b"abc:hello", t0);
        assert_eq!(
            r.handle_timeout(t0 + ms(100)),
            Some(TextEvent::Invalid {
                reason: Invalid::NotNumber,
                end: End::Pause
            })
        );
        let mut r = TextReader::new(t0, TextConfig::default());
        r.feed(b"\xff\x00\x80:\xfe", t0);
        assert_eq!(
            r.close(),
            Some(TextEvent::Invalid {
                reason: Invalid::NotNumber,
                end: End::Closed
            })
        );
    }
}
