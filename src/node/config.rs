//! Every limit and timeout of a node, in one place. [`Config::new`] gives
//! the defaults; `docs/LIMITS.md` says what happens at each cap.

use std::net::SocketAddr;
use std::time::Duration;

use crate::keyring::KeyRing;
use crate::text;
use crate::wire::MAX_PAYLOAD;

/// Every limit and timeout of a node. [`Config::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// The address this node listens on (its port is the real one).
    pub listen: SocketAddr,
    /// The address peers should dial and print (`--advertise`), when it is
    /// not `listen`.
    pub advertise: Option<SocketAddr>,
    /// How often to send a random message; `None` sends none.
    pub period: Option<Duration>,
    /// Peers to join through.
    pub bootstrap: Vec<SocketAddr>,
    /// Bootstrap host names the driver is still resolving: the node starts
    /// joining even with no address yet, and each resolved one comes in
    /// through [`super::Node::handle_bootstrap`].
    pub unresolved_bootstraps: usize,
    /// Send a keepalive after this long without sending anything.
    pub keepalive_interval: Duration,
    /// Drop a peer heard nothing from for this long.
    pub keepalive_timeout: Duration,
    /// Close a connection whose handshake is not done in this long.
    pub handshake_timeout: Duration,
    /// Most established peers: the active view (`--max-peers`). A network
    /// of at most `max_peers + 1` nodes is a full mesh.
    pub max_peers: usize,
    /// Most addresses in the passive view (known, not connected).
    pub max_passive: usize,
    /// HyParView's active random walk length: a FORWARD_JOIN walks this
    /// many steps before its end takes the newcomer in any case. 16, not
    /// the paper's 6: joins through one busy contact start their walks
    /// among the newest nodes, and shorter walks end near them
    /// (docs/PROTOCOL.md, "The join").
    pub active_walk: u8,
    /// At this many steps left, a node on the walk puts the newcomer in
    /// its passive view.
    pub passive_walk: u8,
    /// How often a node shuffles its passive view with a random peer, and
    /// tries to fill an active view that has room.
    pub shuffle_interval: Duration,
    /// Most addresses sent in one shuffle or welcome.
    pub shuffle_size: usize,
    /// The least important diagnostic the driver shows (`-q`, `-v`): less
    /// important ones are not even formatted.
    pub diag_level: super::event::Level,
    /// A gap in one origin's sequence numbers is waited for this long,
    /// then skipped (stderr says so).
    pub gap_wait: Duration,
    /// The join ends this long after its last new peer if the active view
    /// is not full and the welcome's peers have not all come.
    pub join_settle: Duration,
    /// Most connections still in their handshake; a new one over it closes
    /// the oldest inbound one. Dials take at most half of these, so joins
    /// always find room.
    pub max_pending: usize,
    /// Most remembered peer addresses.
    pub max_known: usize,
    /// Most entries taken from one peer list.
    pub max_list_take: usize,
    /// Most bytes queued for one peer; a message that would go over it is
    /// not sent to that peer (and counted).
    pub max_unsent: usize,
    /// Most bytes queued for all peers together. Over it, a peer with
    /// anything still queued gets no new message, and stdin waits while the
    /// total is over half of it: many slow peers cannot add up to more.
    pub max_unsent_total: usize,
    /// A peer whose queue stays over half of `max_unsent` this long is
    /// disconnected as too slow.
    pub slow_timeout: Duration,
    /// First redial delay; it doubles per failure up to `redial_max`.
    pub redial_min: Duration,
    pub redial_max: Duration,
    /// Quick redials (doubling from `redial_min` to `redial_max`). After
    /// them an address never connected is forgotten, while a bootstrap or
    /// a lost member is retried every `heal_interval`, forever.
    pub redial_attempts: u32,
    /// The capped retry interval of bootstrap and member addresses after
    /// their quick redials (each try drawn from its upper half).
    pub heal_interval: Duration,
    /// How long to wait for an announced newcomer to dial before dialing it.
    pub announce_grace: Duration,
    /// Longest stdin line (bytes, without the newline).
    pub max_line: usize,
    /// Leave once stdin ends: goodbye to every peer after the last line,
    /// then wait for each to close (`--exit-on-eof`).
    pub exit_on_eof: bool,
    /// How long a departure waits for its peers to close.
    pub leave_timeout: Duration,
    /// With `exit_on_eof`, how long the join may take before stdin is read
    /// anyway (its lines then go to whoever is connected, maybe nobody).
    pub join_timeout: Duration,
    /// The network key ring (`--key-file`): every connection runs the
    /// record handshake and is encrypted. `None`: the plain protocol.
    pub key: Option<KeyRing>,
    /// Text hosts (`docs/PROTOCOL.md`, "Text hosts"): a text message ends
    /// after this long without a byte. Its deadline is `handshake_timeout`.
    pub text_pause: Duration,
    /// A delivery to a text host (connect, write, reply) must be done in
    /// this long.
    pub text_delivery_timeout: Duration,
    /// Most text hosts remembered.
    pub max_text_hosts: usize,
    /// A text host neither heard from nor delivered to this long is dropped.
    pub text_host_idle: Duration,
    /// Slots of the timer wheel (a power of two, at least 64; rounded up
    /// otherwise). 24 bytes each even when idle: the node's 4,096 cover its
    /// timers in one 4 s turn, the simulator's 256 keep an idle node small.
    pub wheel_slots: usize,
}

impl Config {
    pub fn new(listen: SocketAddr) -> Self {
        Config {
            listen,
            advertise: None,
            period: Some(Duration::from_secs(5)),
            bootstrap: Vec::new(),
            unresolved_bootstraps: 0,
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(3),
            max_peers: 8,
            max_passive: 64,
            active_walk: 16,
            passive_walk: 3,
            shuffle_interval: Duration::from_secs(10),
            shuffle_size: 8,
            join_settle: Duration::from_millis(500),
            gap_wait: Duration::from_secs(2),
            diag_level: super::event::Level::Debug,
            max_pending: 64,
            max_known: 1024,
            max_list_take: 1024,
            max_unsent: 4 << 20,
            max_unsent_total: 64 << 20,
            slow_timeout: Duration::from_secs(5),
            redial_min: Duration::from_millis(250),
            redial_max: Duration::from_secs(10),
            redial_attempts: 8,
            heal_interval: Duration::from_secs(30),
            announce_grace: Duration::from_secs(1),
            max_line: MAX_PAYLOAD,
            exit_on_eof: false,
            leave_timeout: Duration::from_secs(5),
            join_timeout: Duration::from_secs(10),
            key: None,
            text_pause: Duration::from_millis(100),
            text_delivery_timeout: text::delivery::TIMEOUT,
            max_text_hosts: text::hosts::CAP,
            text_host_idle: text::hosts::MAX_IDLE,
            wheel_slots: crate::wheel::DEFAULT_SLOTS,
        }
    }

    /// The address this node is known by: `advertise`, else `listen`
    /// (unspecified when bound to every interface without `--advertise`:
    /// then each peer knows it by the IP it reached it at).
    pub fn name(&self) -> SocketAddr {
        self.advertise.unwrap_or(self.listen)
    }

    /// The address our hellos carry: `advertise`, when peers could not
    /// tell it from the connection (it is not `listen`). Otherwise the
    /// hello has the v1 layout.
    pub fn hello_advertised(&self) -> Option<SocketAddr> {
        self.advertise.filter(|&a| a != self.listen)
    }

    /// Most connections of any state: peers plus handshakes.
    pub fn conn_cap(&self) -> usize {
        self.max_peers + self.max_pending
    }

    /// Most dials in progress at once: half the handshake slots, so the
    /// other half stays free for inbound joins.
    pub fn dial_cap(&self) -> usize {
        (self.max_pending / 2).max(1)
    }
}
