//! Why a connection ended: one type for what the driver reports (end of
//! stream, a socket error) and what the core decides (a bad frame, a
//! timeout, a duplicate). It decides what is printed and whether the
//! address is dialed again.

use std::io::ErrorKind;
use std::net::SocketAddr;

use crate::oserr;
use crate::record::{HandshakeError, RecordError};
use crate::wire::DecodeError;

/// A socket error, kept as its kind and OS code so a reason is `Copy` and
/// its text is made only when printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoFault {
    kind: ErrorKind,
    code: Option<i32>,
    /// A dial that found no local port to leave from (see [`oserr`]).
    no_local_port: bool,
}

impl IoFault {
    pub fn of(e: &std::io::Error) -> Self {
        IoFault {
            kind: e.kind(),
            code: e.raw_os_error(),
            no_local_port: oserr::describe(e) == oserr::NO_LOCAL_PORT,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A lowercase description, without "(os error N)".
    pub fn text(&self) -> String {
        if self.no_local_port {
            return oserr::NO_LOCAL_PORT.into();
        }
        let e = match self.code {
            Some(c) => std::io::Error::from_raw_os_error(c),
            None => std::io::Error::from(self.kind),
        };
        oserr::describe(&e)
    }
}

/// When a frame came that did not fit the connection's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    BeforeHandshake,
    AfterHandshake,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The peer closed its end (reported by the driver).
    Eof,
    /// A socket error, a failed connect included (reported by the driver).
    Io(IoFault),
    /// The peer sent bytes that are not a frame.
    Protocol(DecodeError),
    /// A frame that does not belong in the connection's phase.
    Unexpected {
        frame: &'static str,
        when: Phase,
    },
    /// The peer said goodbye: it is shutting down.
    Left,
    /// One of two connections to the same peer, wound down.
    Duplicate,
    /// This node is shutting down.
    Shutdown,
    /// The other end is this node.
    SelfConnect,
    /// A hello with port 0.
    NoPort,
    HandshakeTimeout,
    /// Heard nothing for the keepalive timeout.
    Silent,
    /// Its queue stayed over half full; this many messages were not sent.
    Slow {
        dropped: u64,
    },
    /// Closed to make room for a newer handshake.
    Evicted,
    /// At the peer cap.
    Full,
    /// A hello with the node id of a peer connected at another address.
    IdElsewhere(SocketAddr),
    /// GOODBYE(duplicate) on the connection we kept: the peer kept another
    /// that we do not have (no dial of ours to it awaits its hello, see
    /// `handover.rs`). A loss, redialed.
    Disowned,
    /// The network-key handshake failed (wrong key, unkeyed peer, garbage).
    Key(HandshakeError),
    /// A record failed to open: altered, replayed, reordered or cut.
    Record(RecordError),
    /// We run without a key and the peer's first bytes are a keyed node's.
    PeerKeyed,
    /// A host of the older text protocol, which is off with a key.
    TextOff,
    /// Made with a key no longer in the ring.
    Rekeyed,
    /// The driver gave no entropy for a keyed handshake (a driver bug).
    NoEntropy,
    /// A text message or a delivery to a text host is over.
    TextDone,
    /// A peer we dialed answered our hello with `Message received`: it is
    /// a text host, never dialed as a rumor peer again.
    TextHost,
    /// It speaks this other protocol version (0: it said so by GOODBYE).
    Version(u8),
    /// Another node is our peer under the listening address it names.
    AddrTaken(SocketAddr),
    /// Its active view took another peer in our place (GOODBYE
    /// "replaced"), or ours took another in its place: it stays in the
    /// passive view.
    Replaced,
}

/// What losing a connection means for its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aftermath {
    /// Never dial it again (unless it is a bootstrap address).
    Forget,
    /// Nothing changes: another connection stands for it, or we are leaving.
    Keep,
    /// Dial it again with backoff.
    Redial,
}

impl Reason {
    pub fn io(e: &std::io::Error) -> Self {
        Reason::Io(IoFault::of(e))
    }

    /// The reason as printed, in lowercase.
    pub fn text(&self) -> String {
        match self {
            Reason::Eof => "connection closed".into(),
            Reason::Io(e) => e.text(),
            Reason::Protocol(e) => format!("protocol error: {e}"),
            Reason::Unexpected { frame, when } => {
                let when = match when {
                    Phase::BeforeHandshake => "before the handshake",
                    Phase::AfterHandshake => "after the handshake",
                };
                format!("protocol error: {frame} {when}")
            }
            Reason::Left => "it left".into(),
            Reason::Duplicate => "duplicate connection".into(),
            Reason::Shutdown => "shutting down".into(),
            Reason::SelfConnect => "that is this node".into(),
            Reason::NoPort => "protocol error: hello without a listening port".into(),
            Reason::HandshakeTimeout => "no handshake in time".into(),
            Reason::Silent => "silent too long".into(),
            Reason::Slow { dropped } => format!("not reading; {dropped} messages not sent to it"),
            Reason::Evicted => "too many connections still in their handshake".into(),
            Reason::Full => "at the peer limit".into(),
            Reason::IdElsewhere(a) => format!("its node id is connected at {a}"),
            Reason::Disowned => "it kept another connection that is gone".into(),
            Reason::Key(e) => e.to_string(),
            Reason::Record(e) => e.to_string(),
            Reason::PeerKeyed => "the peer uses a network key (we run without one)".into(),
            Reason::TextOff => HandshakeError::TextHost.to_string(),
            Reason::Rekeyed => "made with a key no longer in the key ring".into(),
            Reason::NoEntropy => "no random bytes for the handshake".into(),
            Reason::TextDone => "text message over".into(),
            Reason::TextHost => "it is a text host".into(),
            Reason::Version(0) => "it speaks another protocol version".into(),
            Reason::Version(v) => format!("it speaks protocol version {v}"),
            Reason::Replaced => "replaced by another peer in the active view".into(),
            Reason::AddrTaken(a) => format!("another node is connected as {a}"),
        }
    }

    /// A fault of the peer's, worth a line on stderr even when the
    /// connection never became a peer.
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            Reason::Protocol(_)
                | Reason::Unexpected { .. }
                | Reason::NoPort
                | Reason::IdElsewhere(_)
                | Reason::AddrTaken(_)
                | Reason::Key(_)
                | Reason::Record(_)
                | Reason::PeerKeyed
        )
    }

    /// A fault that also gets a stderr line when an established peer is
    /// closed for it (its stdout line says the rest).
    pub fn is_notable_loss(&self) -> bool {
        matches!(
            self,
            Reason::Slow { .. }
                | Reason::Protocol(_)
                | Reason::Unexpected { .. }
                | Reason::Record(_)
        )
    }

    /// What the loss of a connection for this reason means for its address,
    /// given whether it was an established peer or our own dial.
    pub fn aftermath(&self, was_peer: bool, outbound: bool) -> Aftermath {
        match self {
            Reason::Left
            | Reason::Protocol(_)
            | Reason::Unexpected { .. }
            | Reason::SelfConnect
            | Reason::NoPort
            | Reason::TextHost
            | Reason::Version(_)
            | Reason::TextOff => Aftermath::Forget,
            Reason::Duplicate
            | Reason::Shutdown
            | Reason::Evicted
            | Reason::Full
            | Reason::Replaced
            | Reason::AddrTaken(_)
            | Reason::IdElsewhere(_)
            | Reason::TextDone => Aftermath::Keep,
            _ if was_peer || outbound => Aftermath::Redial,
            _ => Aftermath::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_lowercase_without_os_codes() {
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(Reason::io(&refused).text(), "connection refused");
        let e = std::io::Error::from(ErrorKind::BrokenPipe);
        let t = Reason::io(&e).text();
        assert!(!t.contains("os error") && t.chars().next().unwrap().is_lowercase());
    }

    #[test]
    fn no_local_port_never_blames_the_peer() {
        let e = oserr::dial_connect_error(std::io::Error::from(ErrorKind::AddrNotAvailable));
        assert_eq!(Reason::io(&e).text(), "no free local port to dial from");
        let e = std::io::Error::from(ErrorKind::AddrInUse);
        assert_eq!(Reason::io(&e).text(), "address already in use");
    }

    #[test]
    fn aftermath_rules() {
        assert_eq!(Reason::Left.aftermath(true, true), Aftermath::Forget);
        assert_eq!(Reason::Duplicate.aftermath(true, true), Aftermath::Keep);
        assert_eq!(Reason::Silent.aftermath(true, false), Aftermath::Redial);
        assert_eq!(Reason::Eof.aftermath(false, true), Aftermath::Redial);
        assert_eq!(Reason::Eof.aftermath(false, false), Aftermath::Keep);
    }
}
