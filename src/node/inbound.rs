//! A connection's input: the bytes the driver read, turned into frames, or
//! into a text host's message. This is the one place bytes become frames,
//! and, with a network key, where the opened records' plaintext comes in
//! (`keyed.rs` opens them; a keyed connection is frames only).
//!
//! What the bytes are is decided here, once per connection
//! (`docs/PROTOCOL.md`, "Telling them apart"):
//! - an accepted connection's first byte: `0x00` is a rumor frame stream
//!   ([`Input::Rumor`], then frames), any other byte a text message read by
//!   a [`TextReader`] ([`Input::TextBegun`], then one [`Input::Text`]);
//! - on a connection we dialed, the first bytes after our hello: `0x00` is
//!   rumor, exactly `Message received` a text host ([`Input::TextHost`]);
//! - a delivery to a text host reads its reply raw ([`Input::Reply`]).

use std::time::Instant;

use crate::text::{self, Dialed, Sniff, TextConfig, TextEvent, TextReader};
use crate::wire::{DecodeError, Frame, FrameReader};

/// What the bytes of a connection turned out to be, one piece at a time.
#[derive(Debug)]
pub enum Input<'a> {
    /// An accepted connection's first byte says rumor: our hello goes out.
    Rumor,
    /// An accepted connection's first bytes are an unfinished text
    /// message: its reader's deadline (the pause or the handshake
    /// deadline; later ones from [`Inbound::text_deadline`]) is now the
    /// connection's. (A message done in its first read comes as
    /// [`Input::Text`] alone.)
    TextBegun(Instant),
    /// A rumor frame.
    Frame(Frame<'a>),
    /// The text message is over (complete, invalid or timed out).
    Text(TextEvent),
    /// The peer we dialed answered our hello with `Message received`.
    TextHost,
    /// Bytes of a text host's reply to a delivery.
    Reply(&'a [u8]),
}

#[derive(Debug)]
enum Mode {
    /// Accepted at this instant; nothing read yet.
    Sniff(Instant),
    /// Dialed, our hello sent: at most [`text::REPLY`]'s length of bytes
    /// held while they could be a text host's reply.
    Answer(Vec<u8>),
    Frames(FrameReader),
    /// Boxed: a text reader is 88 bytes, and inline every connection's
    /// input would be that large (96 bytes, not 40), rumor ones too.
    Text(Box<TextReader>),
    /// A delivery to a text host.
    Reply,
    /// A text exchange is over: nothing more is read.
    Done,
}

#[derive(Debug)]
pub struct Inbound {
    mode: Mode,
}

/// What is left while the node holds a connection's input (see
/// `Node::handle_read`): nothing more is read.
impl Default for Inbound {
    fn default() -> Self {
        Inbound { mode: Mode::Done }
    }
}

impl Inbound {
    /// For a connection we accepted at `now`: its first byte decides.
    pub fn accepted(now: Instant) -> Self {
        Inbound {
            mode: Mode::Sniff(now),
        }
    }

    /// For a keyed connection once its session is up: frames only (the
    /// text protocol is off with a network key).
    pub fn frames() -> Self {
        Inbound {
            mode: Mode::Frames(FrameReader::new()),
        }
    }

    /// For a rumor dial: a text host's answer to our hello is recognised.
    pub fn dialed() -> Self {
        Inbound {
            mode: Mode::Answer(Vec::new()),
        }
    }

    /// For a delivery to a text host: every byte is its reply.
    pub fn delivery() -> Self {
        Inbound { mode: Mode::Reply }
    }

    /// Feeds `bytes` read at `now`, calling `on` for each piece until it
    /// returns false. `Ok(false)` when it stopped early (or the text
    /// exchange is over); an error when the bytes are not frames (the
    /// connection must close). `text` times a text message's reader.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        now: Instant,
        text: TextConfig,
        mut on: impl FnMut(Input<'_>) -> bool,
    ) -> Result<bool, DecodeError> {
        loop {
            match &mut self.mode {
                &mut Mode::Sniff(since) => match text::sniff(bytes) {
                    Sniff::NeedMore => return Ok(true),
                    Sniff::Rumor => {
                        self.mode = Mode::Frames(FrameReader::new());
                        if !on(Input::Rumor) {
                            return Ok(false);
                        }
                    }
                    Sniff::Text => {
                        // Its deadline counts from the accept.
                        let mut r = Box::new(TextReader::new(since, text));
                        let ev = r.feed(bytes, now);
                        let at = r.deadline();
                        self.mode = Mode::Text(r);
                        return Ok(match (ev, at) {
                            (None, Some(at)) => on(Input::TextBegun(at)),
                            (None, None) => true,
                            (Some(ev), _) => {
                                self.mode = Mode::Done;
                                on(Input::Text(ev));
                                false
                            }
                        });
                    }
                },
                Mode::Answer(held) => {
                    let room = text::REPLY.len() - held.len();
                    let n = bytes.len().min(room);
                    held.extend_from_slice(&bytes[..n]);
                    match text::sniff_dialed(held) {
                        Dialed::NeedMore => return Ok(true),
                        Dialed::TextHost => {
                            self.mode = Mode::Done;
                            on(Input::TextHost);
                            return Ok(false);
                        }
                        Dialed::Rumor => {
                            let held = std::mem::take(held);
                            let mut r = FrameReader::new();
                            let fed = match r.feed(&held, |f| on(Input::Frame(f))) {
                                Ok(true) => r.feed(&bytes[n..], |f| on(Input::Frame(f))),
                                other => other,
                            };
                            self.mode = Mode::Frames(r);
                            return fed;
                        }
                    }
                }
                Mode::Frames(r) => return r.feed(bytes, |f| on(Input::Frame(f))),
                Mode::Text(r) => {
                    return Ok(match r.feed(bytes, now) {
                        None => true,
                        Some(ev) => {
                            self.mode = Mode::Done;
                            on(Input::Text(ev));
                            false
                        }
                    });
                }
                Mode::Reply => return Ok(on(Input::Reply(bytes))),
                Mode::Done => return Ok(false),
            }
        }
    }

    /// A text message's reader: its pause or deadline is due at `now`.
    pub fn text_timeout(&mut self, now: Instant) -> Option<TextEvent> {
        let Mode::Text(r) = &mut self.mode else {
            return None;
        };
        let ev = r.handle_timeout(now)?;
        self.mode = Mode::Done;
        Some(ev)
    }

    /// The sender closed: a text message ends here.
    pub fn text_closed(&mut self) -> Option<TextEvent> {
        let Mode::Text(r) = &mut self.mode else {
            return None;
        };
        let ev = r.close();
        self.mode = Mode::Done;
        ev
    }

    /// When a text message's reader has something to do.
    pub fn text_deadline(&self) -> Option<Instant> {
        match &self.mode {
            Mode::Text(r) => r.deadline(),
            _ => None,
        }
    }

    /// Whether nothing at all has been read (an accepted connection).
    pub fn is_silent(&self) -> bool {
        matches!(self.mode, Mode::Sniff(_))
    }

    /// Whether our hello went out on it (or goes out at connect): a rumor
    /// connection, or a dial that is presumed one.
    pub fn speaks_rumor(&self) -> bool {
        matches!(self.mode, Mode::Answer(_) | Mode::Frames(_))
    }

    /// Bytes held for an unfinished frame or text message.
    pub fn buffered(&self) -> usize {
        match &self.mode {
            Mode::Answer(held) => held.len(),
            Mode::Frames(r) => r.buffered(),
            Mode::Text(r) => r.buffered(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{self, Hello};

    fn hello() -> Vec<u8> {
        let mut v = Vec::new();
        Frame::Hello(Hello {
            version: wire::VERSION,
            flags: 0,
            node_id: 9,
            listen_port: 7001,
            advertised: None,
        })
        .encode(&mut v);
        v
    }

    /// Feeds `chunks` one by one; names every piece that came out.
    fn run(mut i: Inbound, chunks: &[&[u8]]) -> (Vec<String>, Inbound) {
        let t = Instant::now();
        let mut seen = Vec::new();
        for c in chunks {
            let r = i.feed(c, t, TextConfig::default(), |p| {
                seen.push(match p {
                    Input::Rumor => "rumor".to_string(),
                    Input::TextBegun(_) => "text".into(),
                    Input::Frame(f) => format!("frame {f:?}"),
                    Input::Text(e) => format!("{e:?}"),
                    Input::TextHost => "text host".into(),
                    Input::Reply(b) => format!("reply {}", b.len()),
                });
                true
            });
            if let Err(e) = r {
                seen.push(format!("error {e}"));
                break;
            }
        }
        (seen, i)
    }

    #[test]
    fn an_accepted_rumor_stream_is_frames_after_its_first_byte() {
        let h = hello();
        let (seen, i) = run(Inbound::accepted(Instant::now()), &[&h[..1], &h[1..]]);
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], "rumor");
        assert!(seen[1].starts_with("frame Hello"));
        assert!(i.speaks_rumor() && !i.is_silent());
        let (seen, _) = run(Inbound::accepted(Instant::now()), &[&[0, 0, 0, 0]]);
        assert_eq!(seen, ["rumor", "error empty frame"]);
    }

    #[test]
    fn an_accepted_text_message_is_read_whole_and_ends_the_input() {
        let (seen, mut i) = run(Inbound::accepted(Instant::now()), &[b"80", b"80:hi"]);
        assert_eq!(seen, ["text"]);
        assert_eq!(i.buffered(), 7);
        assert!(!i.speaks_rumor() && i.text_deadline().is_some());
        let ev = i.text_closed().unwrap();
        assert!(matches!(ev, TextEvent::Message { port: 8080, ref text, .. } if text == b"hi"));
        assert!(i.text_deadline().is_none() && i.text_closed().is_none());
        let full = [b'7'; 5000];
        let (seen, i) = run(Inbound::accepted(Instant::now()), &[&full]);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("Invalid"), "{seen:?}");
        assert_eq!(i.buffered(), 0);
    }

    #[test]
    fn a_dialed_peer_is_a_text_host_or_rumor() {
        let (seen, i) = run(Inbound::dialed(), &[b"Message ", b"receivedXYZ"]);
        assert_eq!(seen, ["text host"]);
        assert!(!i.speaks_rumor());
        let h = hello();
        let (seen, i) = run(Inbound::dialed(), &[&h[..3], &h[3..]]);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with("frame Hello"));
        assert!(i.speaks_rumor());
        // A prefix of the reply that then differs goes to the frame reader.
        let (seen, _) = run(Inbound::dialed(), &[b"Mess", b"y"]);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with("error frame of"), "{seen:?}");
    }

    #[test]
    fn a_delivery_reads_its_reply_raw() {
        let (seen, i) = run(Inbound::delivery(), &[b"Message", b" received"]);
        assert_eq!(seen, ["reply 7", "reply 9"]);
        assert!(!i.speaks_rumor() && i.buffered() == 0);
    }
}
