//! The handshake rules: what our hello says, and what to make of theirs —
//! ourselves, no port, a claimed id, a duplicate, the peer cap.
//!
//! Pure decisions: the node gathers what it knows and acts on the verdict.

use std::net::SocketAddr;

use super::conns::ConnId;
use crate::wire::{self, Hello, NodeId, overlay};

/// Which end opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Why a dialer dialed (HyParView), said by its hello's flags. An accepted
/// connection's own hello says nothing ([`Intent::Forced`], no flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// A newcomer joins through the receiver ([`overlay::FLAG_JOIN`]): it
    /// is taken even into a full active view, and its join walks start.
    Join,
    /// Taken even into a full active view: the end of a join walk, a node
    /// with no peer at all, or one healing a partition.
    Forced,
    /// A neighbor request: taken only with room ([`overlay::FLAG_LOW`]).
    Low,
}

impl Intent {
    pub fn flags(self) -> u8 {
        match self {
            Intent::Join => overlay::FLAG_JOIN,
            Intent::Forced => 0,
            Intent::Low => overlay::FLAG_LOW,
        }
    }

    pub fn of(flags: u8) -> Self {
        if flags & overlay::FLAG_JOIN != 0 {
            Intent::Join
        } else if flags & overlay::FLAG_LOW != 0 {
            Intent::Low
        } else {
            Intent::Forced
        }
    }
}

/// Our hello. `intent`: why we dialed (an accepted connection's hello says
/// [`Intent::Forced`]: no flag). `advertised`: the address we ask to be
/// known by, when it is not our socket's (the hello then carries it).
pub fn hello(
    node_id: NodeId,
    listen_port: u16,
    intent: Intent,
    advertised: Option<SocketAddr>,
) -> Hello {
    Hello {
        version: wire::VERSION,
        // We take TEXT and TEXT_HOST frames (docs/PROTOCOL.md, "Text hosts").
        flags: wire::text::FLAG_TEXT | intent.flags(),
        node_id,
        listen_port,
        advertised,
    }
}

/// The peer's listening address: the address we dialed; or, for one that
/// dialed us, the address its hello advertises when that address's IP is
/// the connection's source IP (a claim as good as the port alone: a peer
/// cannot send from an IP it does not have), else the source IP with the
/// port its hello names. So a hello can never name its sender after
/// another host, and the duplicate rule below, which compares these
/// addresses, cannot be turned against a peer elsewhere.
pub fn listen_addr(dir: Direction, remote: SocketAddr, h: &Hello) -> SocketAddr {
    match dir {
        Direction::Outbound => remote,
        Direction::Inbound => match h.advertised {
            Some(a) if a.ip().to_canonical() == remote.ip().to_canonical() && a.port() != 0 => {
                SocketAddr::new(remote.ip().to_canonical(), a.port())
            }
            _ => SocketAddr::new(remote.ip(), h.listen_port),
        },
    }
}

/// An advertised address [`listen_addr`] did not take: its IP is not the
/// connection's source IP (or its port is 0).
pub fn unproven_claim(dir: Direction, remote: SocketAddr, h: &Hello) -> Option<SocketAddr> {
    let a = h.advertised?;
    let named = listen_addr(dir, remote, h);
    let taken = named.ip() == a.ip().to_canonical() && named.port() == a.port();
    (dir == Direction::Inbound && !taken).then_some(a)
}

/// An established peer that shares the newcomer's node id.
#[derive(Clone, Copy, Debug)]
pub struct Existing {
    pub conn: ConnId,
    pub listen: SocketAddr,
    pub dir: Direction,
}

/// What we know when a hello arrives.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub me: NodeId,
    pub dir: Direction,
    /// The peer's listening address (see [`listen_addr`]).
    pub listen: SocketAddr,
    /// That address is one of ours.
    pub listen_is_self: bool,
    pub existing: Option<Existing>,
    /// The active view is full.
    pub at_peer_cap: bool,
    /// Another established peer, with another node id, listens at
    /// `listen` already.
    pub addr_taken: bool,
}

/// What to do with a hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It speaks another protocol version: GOODBYE and close.
    Version(u8),
    /// We reached ourselves (the same node id).
    SelfConnect,
    /// It claims to listen on our own address.
    ClaimsOurAddress,
    NoPort,
    /// Its id is a connected peer's, at another address: never displace it.
    IdElsewhere(SocketAddr),
    /// A second connection to a connected peer. Both ends keep the one
    /// dialed by the smaller node id (the newer one if the same node dialed
    /// both) and wind the other down gracefully.
    Duplicate {
        other: ConnId,
        keep_new: bool,
    },
    /// A low-priority neighbor request (or a reply) with a full active view.
    Full,
    /// Another node is a peer under this listening address: peers are
    /// known by it, so the older one stays (a restarted node is taken once
    /// its old connection times out).
    AddrTaken,
    Accept,
}

pub fn judge(h: &Hello, a: &Arrival) -> Verdict {
    if h.version != wire::VERSION {
        return Verdict::Version(h.version);
    }
    if h.node_id == a.me {
        return Verdict::SelfConnect;
    }
    if h.listen_port == 0 {
        return Verdict::NoPort;
    }
    if a.listen_is_self {
        return Verdict::ClaimsOurAddress;
    }
    if let Some(e) = a.existing {
        if e.listen != a.listen {
            return Verdict::IdElsewhere(e.listen);
        }
        let dialer = |d: Direction| match d {
            Direction::Outbound => a.me,
            Direction::Inbound => h.node_id,
        };
        return Verdict::Duplicate {
            other: e.conn,
            keep_new: dialer(a.dir) <= dialer(e.dir),
        };
    }
    if a.addr_taken {
        return Verdict::AddrTaken;
    }
    // Our own dial was answered: we asked, so the answer is ours to take
    // (the promotion makes room if it must). An inbound one is taken when
    // its intent says so.
    let low = a.dir == Direction::Inbound && Intent::of(h.flags) == Intent::Low;
    if a.at_peer_cap && low {
        return Verdict::Full;
    }
    Verdict::Accept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(dir: Direction) -> Arrival {
        Arrival {
            me: 10,
            dir,
            listen: "127.0.0.1:7001".parse().unwrap(),
            listen_is_self: false,
            existing: None,
            at_peer_cap: false,
            addr_taken: false,
        }
    }

    fn their(id: NodeId, port: u16) -> Hello {
        hello(id, port, Intent::Forced, None)
    }

    #[test]
    fn an_advertised_address_names_an_inbound_peer_only_from_its_own_ip() {
        let remote: SocketAddr = "10.77.0.2:40000".parse().unwrap();
        let adv = |a: &str| hello(5, 7000, Intent::Forced, Some(a.parse().unwrap()));
        // A forwarded port on its own IP: believed.
        let h = adv("10.77.0.2:9000");
        let at = listen_addr(Direction::Inbound, remote, &h);
        assert_eq!(at, "10.77.0.2:9000".parse().unwrap());
        assert_eq!(unproven_claim(Direction::Inbound, remote, &h), None);
        // Another host's address: not believed; named as a v1 hello would be.
        let h = adv("10.77.0.3:7000");
        let at = listen_addr(Direction::Inbound, remote, &h);
        assert_eq!(at, "10.77.0.2:7000".parse().unwrap());
        assert_eq!(
            unproven_claim(Direction::Inbound, remote, &h),
            Some("10.77.0.3:7000".parse().unwrap())
        );
        // Port 0 is no address.
        let h = adv("10.77.0.2:0");
        let at = listen_addr(Direction::Inbound, remote, &h);
        assert_eq!(at, "10.77.0.2:7000".parse().unwrap());
        // The same IP written as IPv4-mapped IPv6.
        let mapped: SocketAddr = "[::ffff:10.77.0.2]:40000".parse().unwrap();
        let h = adv("10.77.0.2:9000");
        let at = listen_addr(Direction::Inbound, mapped, &h);
        assert_eq!(at, "10.77.0.2:9000".parse().unwrap());
        // What we dialed is what we dialed.
        let h = adv("10.77.0.3:7000");
        assert_eq!(listen_addr(Direction::Outbound, remote, &h), remote);
        assert_eq!(unproven_claim(Direction::Outbound, remote, &h), None);
    }

    #[test]
    fn a_hello_claiming_a_peers_address_from_another_ip_cannot_displace_it() {
        // The honest peer 5 is connected at 10.77.0.3:7000; a forger at
        // 10.77.0.9 sends a hello with id 5 advertising 10.77.0.3:7000.
        let honest: SocketAddr = "10.77.0.3:7000".parse().unwrap();
        let forged = hello(5, 7000, Intent::Forced, Some(honest));
        let remote: SocketAddr = "10.77.0.9:5555".parse().unwrap();
        let listen = listen_addr(Direction::Inbound, remote, &forged);
        let other = ConnId {
            index: 1,
            generation: 0,
        };
        let a = Arrival {
            me: 10,
            dir: Direction::Inbound,
            listen,
            listen_is_self: false,
            existing: Some(Existing {
                conn: other,
                listen: honest,
                dir: Direction::Outbound,
            }),
            at_peer_cap: false,
            addr_taken: false,
        };
        assert_eq!(judge(&forged, &a), Verdict::IdElsewhere(honest));
    }

    #[test]
    fn self_port_and_cap_rules() {
        let a = arrival(Direction::Inbound);
        assert_eq!(judge(&their(10, 7001), &a), Verdict::SelfConnect);
        assert_eq!(judge(&their(5, 0), &a), Verdict::NoPort);
        let own = Arrival {
            listen_is_self: true,
            ..a
        };
        assert_eq!(judge(&their(5, 7001), &own), Verdict::ClaimsOurAddress);
        let full = Arrival {
            at_peer_cap: true,
            ..a
        };
        // A full active view refuses a low-priority request only: a join
        // and a forced dial make room, and our own dial's answer is ours.
        let low = Hello {
            flags: Intent::Low.flags(),
            ..their(5, 7001)
        };
        assert_eq!(judge(&low, &full), Verdict::Full);
        assert_eq!(judge(&low, &a), Verdict::Accept);
        let join = Hello {
            flags: Intent::Join.flags(),
            ..their(5, 7001)
        };
        assert_eq!(judge(&join, &full), Verdict::Accept);
        assert_eq!(judge(&their(5, 7001), &full), Verdict::Accept);
        let ours = Arrival {
            dir: Direction::Outbound,
            ..full
        };
        assert_eq!(judge(&low, &ours), Verdict::Accept);
        assert_eq!(judge(&their(5, 7001), &a), Verdict::Accept);
    }

    #[test]
    fn a_second_node_under_a_peers_listening_address_is_refused() {
        let a = Arrival {
            addr_taken: true,
            ..arrival(Direction::Inbound)
        };
        assert_eq!(judge(&their(5, 7001), &a), Verdict::AddrTaken);
    }

    #[test]
    fn another_version_is_refused_first_and_intents_round_trip() {
        let a = arrival(Direction::Inbound);
        let v1 = Hello {
            version: 1,
            ..their(5, 7001)
        };
        assert_eq!(judge(&v1, &a), Verdict::Version(1));
        for i in [Intent::Join, Intent::Forced, Intent::Low] {
            assert_eq!(Intent::of(i.flags() | wire::text::FLAG_TEXT), i);
        }
    }

    #[test]
    fn a_claimed_id_from_elsewhere_never_displaces_the_peer() {
        let other = ConnId {
            index: 3,
            generation: 0,
        };
        let elsewhere: SocketAddr = "127.0.0.1:6666".parse().unwrap();
        let a = Arrival {
            existing: Some(Existing {
                conn: other,
                listen: elsewhere,
                dir: Direction::Outbound,
            }),
            ..arrival(Direction::Inbound)
        };
        assert_eq!(judge(&their(5, 7001), &a), Verdict::IdElsewhere(elsewhere));
    }

    #[test]
    fn both_ends_keep_the_smaller_dialers_connection() {
        let other = ConnId {
            index: 3,
            generation: 0,
        };
        let dup = |me, dir, other_dir| Arrival {
            me,
            existing: Some(Existing {
                conn: other,
                listen: "127.0.0.1:7001".parse().unwrap(),
                dir: other_dir,
            }),
            ..arrival(dir)
        };
        use Direction::*;
        // We (10) dialed the new one, they (20) dialed the old: ours wins.
        let v = judge(&their(20, 7001), &dup(10, Outbound, Inbound));
        assert_eq!(
            v,
            Verdict::Duplicate {
                other,
                keep_new: true
            }
        );
        // The mirror view at the other end agrees: keep ours (the old one).
        let v = judge(&their(10, 7001), &dup(20, Inbound, Outbound));
        assert_eq!(
            v,
            Verdict::Duplicate {
                other,
                keep_new: true
            }
        );
        // They (5) dialed the old one and we (10) the new: theirs wins.
        let v = judge(&their(5, 7001), &dup(10, Outbound, Inbound));
        assert_eq!(
            v,
            Verdict::Duplicate {
                other,
                keep_new: false
            }
        );
        // The same node dialed both: the newer one stays.
        let v = judge(&their(5, 7001), &dup(10, Inbound, Inbound));
        assert_eq!(
            v,
            Verdict::Duplicate {
                other,
                keep_new: true
            }
        );
    }
}
