//! Sending one message to one text host, sans-IO.
//!
//! One TCP connection per message, as the older program does it: connect
//! (non-blocking), write `LISTEN_PORT:TEXT` (no newline), read the 16-byte
//! [`REPLY`], close. The whole exchange has one deadline, 3 s from the
//! start by default (a lost SYN is retried after 1 s, so this allows one
//! retry and a slow reply); the older program replies after a single read,
//! so a live host answers in about one round trip.
//!
//! The core owns the socket and feeds what happens to it in:
//! [`Delivery::connected`], [`Delivery::connect_failed`],
//! [`Delivery::read`], [`Delivery::closed`], [`Delivery::handle_timeout`].
//! Each returns a [`Step`]: write these bytes, wait, or done (close the
//! socket; delivered, or failed with a reason).

use std::fmt;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use super::{MAX_TEXT_MESSAGE, REPLY, message_len};

/// Default deadline for a whole delivery.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// What the core does next for a delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Nothing yet.
    Wait,
    /// Queue these bytes on the connection (once; the shell's write buffer
    /// finishes a partial write).
    Write(&'a [u8]),
    /// Close the connection: the host replied (`Ok`) or the delivery failed.
    Done(Result<(), Failure>),
}

/// Where a delivery was when it timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Connecting,
    AwaitingReply,
}

/// Why a delivery failed. Each counts as one failure of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connect failed (refused: nothing listens there).
    Connect(ErrorKind),
    /// The connection closed or failed before the whole reply, after this
    /// many bytes of it.
    Closed { reply_bytes: usize },
    /// The host answered something other than [`REPLY`].
    BadReply,
    /// The deadline passed.
    TimedOut(Stage),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(k) => write!(f, "cannot connect: {k}"),
            Failure::Closed { reply_bytes: 0 } => write!(f, "closed without a reply"),
            Failure::Closed { reply_bytes } => {
                write!(f, "closed after {reply_bytes} bytes of its reply")
            }
            Failure::BadReply => write!(f, "did not reply \"Message received\""),
            Failure::TimedOut(Stage::Connecting) => write!(f, "connect timed out"),
            Failure::TimedOut(Stage::AwaitingReply) => write!(f, "no reply in time"),
        }
    }
}

/// A text too long for a text host: `len` bytes with its `PORT:` header,
/// over [`MAX_TEXT_MESSAGE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryError {
    pub len: usize,
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a text message of {} bytes is over the {MAX_TEXT_MESSAGE}-byte limit of text hosts",
            self.len
        )
    }
}

impl std::error::Error for DeliveryError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Connecting,
    AwaitingReply { got: usize },
    Done,
}

/// One message on its way to one text host.
#[derive(Debug)]
pub struct Delivery {
    bytes: Vec<u8>,
    state: State,
    deadline: Instant,
}

impl Delivery {
    /// Starts a delivery at `now` of `text` from a node listening on
    /// `listen_port`; the core starts a non-blocking connect. Refuses a
    /// text whose message would be over [`MAX_TEXT_MESSAGE`] bytes.
    pub fn new(
        listen_port: u16,
        text: &[u8],
        now: Instant,
        timeout: Duration,
    ) -> Result<Self, DeliveryError> {
        let len = message_len(listen_port, text.len());
        if len > MAX_TEXT_MESSAGE {
            return Err(DeliveryError { len });
        }
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(listen_port.to_string().as_bytes());
        bytes.push(b':');
        bytes.extend_from_slice(text);
        Ok(Delivery {
            bytes,
            state: State::Connecting,
            deadline: now + timeout,
        })
    }

    /// The message as written: `LISTEN_PORT:TEXT`.
    pub fn message(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether it has finished (any further input is ignored).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// When [`Self::handle_timeout`] fails it; `None` once done.
    pub fn deadline(&self) -> Option<Instant> {
        (!self.is_done()).then_some(self.deadline)
    }

    /// The connect completed: write the message.
    pub fn connected(&mut self) -> Step<'_> {
        if self.state != State::Connecting {
            return Step::Wait;
        }
        self.state = State::AwaitingReply { got: 0 };
        Step::Write(&self.bytes)
    }

    /// The connect failed.
    pub fn connect_failed(&mut self, kind: ErrorKind) -> Step<'_> {
        self.fail(Failure::Connect(kind))
    }

    /// Bytes arrived from the host.
    pub fn read(&mut self, data: &[u8]) -> Step<'_> {
        let State::AwaitingReply { got } = self.state else {
            return match self.state {
                // Bytes before our write: nothing the host could reply to.
                State::Connecting => self.fail(Failure::BadReply),
                _ => Step::Wait,
            };
        };
        let n = data.len().min(REPLY.len() - got);
        if data[..n] != REPLY[got..got + n] {
            return self.fail(Failure::BadReply);
        }
        if got + n == REPLY.len() {
            self.state = State::Done;
            return Step::Done(Ok(()));
        }
        self.state = State::AwaitingReply { got: got + n };
        Step::Wait
    }

    /// The connection closed or failed (end of stream, reset, write error).
    pub fn closed(&mut self) -> Step<'_> {
        match self.state {
            State::Connecting => self.fail(Failure::Closed { reply_bytes: 0 }),
            State::AwaitingReply { got } => self.fail(Failure::Closed { reply_bytes: got }),
            State::Done => Step::Wait,
        }
    }

    /// Fails the delivery if its deadline has passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Step<'_> {
        if now < self.deadline {
            return Step::Wait;
        }
        match self.state {
            State::Connecting => self.fail(Failure::TimedOut(Stage::Connecting)),
            State::AwaitingReply { .. } => self.fail(Failure::TimedOut(Stage::AwaitingReply)),
            State::Done => Step::Wait,
        }
    }

    fn fail(&mut self, f: Failure) -> Step<'_> {
        if self.state == State::Done {
            return Step::Wait;
        }
        self.state = State::Done;
        Step::Done(Err(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(text: &[u8]) -> (Delivery, Instant) {
        start_at(text, Instant::now())
    }

    fn start_at(text: &[u8], t0: Instant) -> (Delivery, Instant) {
        (Delivery::new(8082, text, t0, TIMEOUT).unwrap(), t0)
    }

    #[test]
    fn connect_write_reply_in_any_pieces() {
        for step in 1..=16 {
            let (mut d, _) = start(b"urban willow 307");
            assert_eq!(d.connected(), Step::Write(b"8082:urban willow 307"));
            let chunks: Vec<&[u8]> = REPLY.chunks(step).collect();
            let (last, first) = chunks.split_last().unwrap();
            for c in first {
                assert_eq!(d.read(c), Step::Wait);
            }
            assert_eq!(d.read(last), Step::Done(Ok(())));
            assert!(d.is_done());
            assert_eq!(d.deadline(), None);
            assert_eq!(d.closed(), Step::Wait);
        }
    }

    #[test]
    fn every_failure_has_its_reason() {
        let (mut d, t0) = start(b"x");
        assert_eq!(
            d.connect_failed(ErrorKind::ConnectionRefused),
            Step::Done(Err(Failure::Connect(ErrorKind::ConnectionRefused)))
        );
        assert_eq!(d.connected(), Step::Wait);

        let (mut d, _) = start(b"x");
        d.connected();
        d.read(b"Message");
        assert_eq!(
            d.closed(),
            Step::Done(Err(Failure::Closed { reply_bytes: 7 }))
        );

        let (mut d, _) = start(b"x");
        d.connected();
        assert_eq!(
            d.read(b"Message rejected"),
            Step::Done(Err(Failure::BadReply))
        );

        let (mut d, _) = start(b"x");
        assert_eq!(d.read(b"M"), Step::Done(Err(Failure::BadReply)));

        let (mut d, _) = start_at(b"x", t0);
        assert_eq!(
            d.handle_timeout(t0 + TIMEOUT - Duration::from_millis(1)),
            Step::Wait
        );
        assert_eq!(
            d.handle_timeout(t0 + TIMEOUT),
            Step::Done(Err(Failure::TimedOut(Stage::Connecting)))
        );

        let (mut d, _) = start_at(b"x", t0);
        d.connected();
        d.read(b"Mess");
        assert_eq!(
            d.handle_timeout(t0 + TIMEOUT),
            Step::Done(Err(Failure::TimedOut(Stage::AwaitingReply)))
        );
        assert_eq!(
            Failure::Connect(ErrorKind::ConnectionRefused).to_string(),
            "cannot connect: connection refused"
        );
    }

    #[test]
    fn a_message_over_4096_bytes_is_never_sent() {
        let t0 = Instant::now();
        assert!(Delivery::new(8082, &[b'x'; 4091], t0, TIMEOUT).is_ok());
        let e = Delivery::new(8082, &[b'x'; 4092], t0, TIMEOUT).unwrap_err();
        assert_eq!(e, DeliveryError { len: 4097 });
        assert_eq!(
            e.to_string(),
            "a text message of 4097 bytes is over the 4096-byte limit of text hosts"
        );
        let d = Delivery::new(1, &[b'x'; 4094], t0, TIMEOUT).unwrap();
        assert_eq!(d.message().len(), MAX_TEXT_MESSAGE);
    }
}
