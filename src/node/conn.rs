//! One connection: its direction and phase, the peer it turned out to be,
//! its deadlines, its queue and its input. The parts with rules of their own
//! live in their own modules ([`Liveness`], [`PeerQueue`], [`Inbound`]).

use std::net::SocketAddr;
use std::time::Instant;

use super::handshake::{Direction, Intent};
use super::inbound::Inbound;
use super::keyed::KeyedConn;
use super::liveness::{Liveness, Stage};
use super::outbox::PeerQueue;
use crate::wire::NodeId;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Outbound, waiting for the TCP connect.
    Connecting,
    /// Our hello is sent; waiting for theirs.
    Handshaking,
    /// An established peer.
    Active,
    /// A duplicate being wound down: no new sends, messages still
    /// delivered, closed when the peer's goodbye arrives.
    Retiring,
}

/// What a text-protocol connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextRole {
    /// Accepted, and its first byte said text: one message from a text host.
    Message,
    /// Dialed to deliver one message to a text host.
    Delivery,
}

/// The peer a connection's hello named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub id: NodeId,
    /// Its listening address: what we print and pass on.
    pub listen: SocketAddr,
}

#[derive(Debug)]
pub struct Conn {
    dir: Direction,
    /// The socket's remote address (inbound) or the address dialed.
    remote: SocketAddr,
    state: State,
    /// When the current state began (for handshake and retire deadlines).
    since: Instant,
    peer: Option<PeerInfo>,
    /// Its first peer list (the welcome) has come.
    got_peer_list: bool,
    /// The peer said GOODBYE(duplicate) on it, keeping our dial that is
    /// still in its handshake: it stands for the peer until that dial is
    /// answered or fails (`handover.rs`).
    disowned: bool,
    /// Why it was dialed: ours for an outbound connection, theirs (from
    /// their hello) for an accepted one.
    intent: Intent,
    /// Its hello set TEXT: it takes TEXT and TEXT_HOST frames.
    text_frames: bool,
    /// A text-protocol connection, not a rumor one.
    text: Option<TextRole>,
    pub live: Liveness,
    pub queue: PeerQueue,
    pub inbound: Inbound,
    /// With a network key: the handshake, then the session.
    pub key: Option<Box<KeyedConn>>,
}

// A node keeps one a connection (boxed in the table): 232 bytes, 280
// with a text reader inline in `inbound`.
const _: () = assert!(std::mem::size_of::<Conn>() <= 232);

impl Conn {
    pub fn inbound(remote: SocketAddr, now: Instant) -> Self {
        let input = Inbound::accepted(now);
        Self::new(
            Direction::Inbound,
            remote,
            State::Handshaking,
            Intent::Forced,
            input,
            now,
        )
    }

    pub fn dial(addr: SocketAddr, intent: Intent, now: Instant) -> Self {
        let input = Inbound::dialed();
        Self::new(
            Direction::Outbound,
            addr,
            State::Connecting,
            intent,
            input,
            now,
        )
    }

    /// A connection that delivers one message to the text host at `addr`.
    pub fn delivery(addr: SocketAddr, now: Instant) -> Self {
        let input = Inbound::delivery();
        let mut c = Self::new(
            Direction::Outbound,
            addr,
            State::Connecting,
            Intent::Forced,
            input,
            now,
        );
        c.text = Some(TextRole::Delivery);
        c
    }

    fn new(
        dir: Direction,
        remote: SocketAddr,
        state: State,
        intent: Intent,
        inbound: Inbound,
        now: Instant,
    ) -> Self {
        Conn {
            dir,
            remote,
            state,
            since: now,
            peer: None,
            got_peer_list: false,
            disowned: false,
            intent,
            text_frames: false,
            text: None,
            live: Liveness::new(now),
            queue: PeerQueue::default(),
            inbound,
            key: None,
        }
    }

    pub fn dir(&self) -> Direction {
        self.dir
    }

    pub fn is_outbound(&self) -> bool {
        self.dir == Direction::Outbound
    }

    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn since(&self) -> Instant {
        self.since
    }

    pub fn peer(&self) -> Option<PeerInfo> {
        self.peer
    }

    /// The address this connection stands for in the address book: the
    /// peer's listening address, or the address we dialed.
    pub fn book_addr(&self) -> Option<SocketAddr> {
        self.peer
            .map(|p| p.listen)
            .or(self.is_outbound().then_some(self.remote))
    }

    pub fn intent(&self) -> Intent {
        self.intent
    }

    pub fn set_intent(&mut self, intent: Intent) {
        self.intent = intent;
    }

    pub fn text_frames(&self) -> bool {
        self.text_frames
    }

    /// Its hello set TEXT.
    pub fn mark_text_frames(&mut self) {
        self.text_frames = true;
    }

    /// What it is for, if it speaks the text protocol.
    pub fn text_role(&self) -> Option<TextRole> {
        self.text
    }

    /// Its first byte said text: it carries one text host's message.
    pub fn mark_text_message(&mut self) {
        self.text = Some(TextRole::Message);
    }

    pub fn got_peer_list(&self) -> bool {
        self.got_peer_list
    }

    /// Records a peer list; true if it is the first (the welcome).
    pub fn take_peer_list(&mut self) -> bool {
        !std::mem::replace(&mut self.got_peer_list, true)
    }

    /// Whether the peer disowned it for our dial still in its handshake.
    pub fn is_disowned(&self) -> bool {
        self.disowned
    }

    /// The peer kept our dial still in its handshake instead of it.
    pub fn disown(&mut self) {
        self.disowned = true;
    }

    /// Not yet an established peer or a retiring one.
    pub fn in_handshake(&self) -> bool {
        matches!(self.state, State::Connecting | State::Handshaking)
    }

    /// The TCP connect finished; our hello goes out now.
    pub fn connected(&mut self, now: Instant) {
        self.state = State::Handshaking;
        self.since = now;
    }

    /// Our hello went out now (the handshake deadline counts from here).
    pub fn hello_sent(&mut self, now: Instant) {
        self.since = now;
    }

    /// The hello named `peer` (the connection may still be retired).
    pub fn name(&mut self, peer: PeerInfo) {
        self.peer = Some(peer);
    }

    /// Becomes the established connection to `peer`.
    pub fn promote(&mut self, peer: PeerInfo, now: Instant) {
        self.state = State::Active;
        self.since = now;
        self.peer = Some(peer);
    }

    /// Winds down as a duplicate.
    pub fn retire(&mut self, now: Instant) {
        self.state = State::Retiring;
        self.since = now;
    }

    /// The stage its deadlines depend on.
    pub fn stage(&self) -> Stage {
        match self.state {
            State::Connecting | State::Handshaking => Stage::Handshake(self.since),
            State::Retiring => Stage::Retiring(self.since),
            State::Active => Stage::Active {
                congested_since: self.queue.congested_since(),
            },
        }
    }
}
