//! The counters a node keeps of what it sent, received, relayed and
//! dropped, for drivers, tests and the simulator to read.

/// Counters a driver or test can read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Copies of our own messages queued to peers.
    pub messages_sent: u64,
    /// Messages printed (each once, whoever wrote it).
    pub messages_received: u64,
    /// GOSSIP frames received, duplicates included (the simulator's RMR).
    pub payload_frames: u64,
    /// GOSSIP frames of a message already seen.
    pub duplicates: u64,
    /// Relayed GOSSIP frames left alone because their origin is a
    /// neighbor whose own copy, still on its way, comes first in order.
    pub relays_ahead: u64,
    /// Copies of other nodes' messages queued to peers.
    pub relayed: u64,
    /// Messages given up on in a gap of their origin's sequence.
    pub messages_skipped: u64,
    /// Message copies not sent to a peer because its queue was full.
    pub messages_dropped: u64,
    pub peers_refused: u64,
    /// stdin lines not sent (too long, no peers), and copies of a line not
    /// sent to a peer whose queue was full.
    pub lines_dropped: u64,
}
