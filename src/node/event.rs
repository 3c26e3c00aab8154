//! What a node tells its user: structured events, formatted by the driver
//! (`crate::format`: the task's text lines, or one JSON object per line).

use std::net::SocketAddr;

use super::reason::Reason;

/// Something that happened, for stdout. Texts are the bytes as they came:
/// escaping is the formatter's job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The node listens here (the first event).
    Listening { addr: SocketAddr },
    /// The join is done; these are the peers it found.
    Joined { peers: &'a [SocketAddr] },
    /// A new peer, after the join.
    Connected { peer: SocketAddr },
    /// A message went to these peers (exactly those, in order).
    Sending {
        text: &'a [u8],
        to: &'a [SocketAddr],
    },
    /// A message written by `from` (its origin), delivered here after
    /// `hops` relays (0: straight from its origin).
    Received {
        text: &'a [u8],
        from: SocketAddr,
        hops: u8,
    },
    /// An established peer is gone.
    Disconnected { peer: SocketAddr, reason: Reason },
    /// A diagnostic for stderr, with its kind.
    Diag { kind: DiagKind, text: &'a str },
}

/// How much a diagnostic matters: `-q` shows only errors, `-v` adds debug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Notice,
    Debug,
}

/// What a diagnostic is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagKind {
    /// A stdin line that was not sent (too long, or no peers).
    LineDropped,
    /// The join did not finish in time for `--exit-on-eof`.
    JoinTimeout,
    /// A configured address that cannot be used (it is this node).
    Config,
    /// An inbound connection turned away (at a cap).
    Refused,
    /// A connection closed for something the peer did.
    PeerFault,
    /// A dial failed; it is retried.
    Retry,
    /// A dial started (verbose).
    Dial,
    /// A handshake finished or failed (verbose).
    Handshake,
    /// Text hosts: one learned by a dial, dropped, or not remembered; a
    /// message too long for them.
    TextHost,
    /// One delivery to a text host failed, or a text host's message was
    /// taken (verbose).
    TextDelivery,
    /// Messages of one origin skipped: they did not come in time.
    Gap,
}

impl DiagKind {
    pub fn level(self) -> Level {
        match self {
            DiagKind::LineDropped | DiagKind::JoinTimeout => Level::Error,
            DiagKind::Config
            | DiagKind::Refused
            | DiagKind::PeerFault
            | DiagKind::Retry
            | DiagKind::TextHost
            | DiagKind::Gap => Level::Notice,
            DiagKind::Dial | DiagKind::Handshake | DiagKind::TextDelivery => Level::Debug,
        }
    }

    /// Its name in JSON and in tests.
    pub fn name(self) -> &'static str {
        match self {
            DiagKind::LineDropped => "line_dropped",
            DiagKind::JoinTimeout => "join_timeout",
            DiagKind::Config => "config",
            DiagKind::Refused => "refused",
            DiagKind::PeerFault => "peer_fault",
            DiagKind::Retry => "retry",
            DiagKind::Dial => "dial",
            DiagKind::Handshake => "handshake",
            DiagKind::TextHost => "text_host",
            DiagKind::TextDelivery => "text_delivery",
            DiagKind::Gap => "gap",
        }
    }
}

/// A duration in seconds for a diagnostic, `3s` or `1.5s`, without the
/// floating-point formatting code (10 KB of the binary).
#[derive(Clone, Copy, Debug)]
pub struct Secs(pub std::time::Duration);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.subsec_millis();
        match ms {
            0 => write!(f, "{}s", self.0.as_secs()),
            _ if ms.is_multiple_of(100) => write!(f, "{}.{}s", self.0.as_secs(), ms / 100),
            _ if ms.is_multiple_of(10) => write!(f, "{}.{:02}s", self.0.as_secs(), ms / 10),
            _ => write!(f, "{}.{:03}s", self.0.as_secs(), ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seconds_print_without_trailing_zeros() {
        let s = |ms| Secs(Duration::from_millis(ms)).to_string();
        assert_eq!(
            [s(3000), s(1500), s(250), s(1), s(10_050)],
            ["3s", "1.5s", "0.25s", "0.001s", "10.05s"]
        );
    }
}
