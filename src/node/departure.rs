//! `--exit-on-eof`: once stdin has ended, say goodbye to every peer after
//! the last line and wait, for a bounded time, for each to close its end.
//! TCP delivers in order, so a peer that closes after our goodbye has read
//! every line before it. Text hosts with our lines still on their way are
//! waited for too, each until its last one is answered. The outcome says
//! who did not.

use std::net::SocketAddr;

use super::conns::ConnId;

/// How a departure ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Peers that closed after our goodbye: they have every line.
    pub confirmed: usize,
    /// Peers that did not close in time, or whose connection failed.
    pub unconfirmed: Vec<SocketAddr>,
    /// stdin lines (or copies of one to a peer) that were not sent: too
    /// long, no peers, or a full queue.
    pub lines_dropped: u64,
}

impl Outcome {
    /// Everything read from stdin reached every peer.
    pub fn complete(&self) -> bool {
        self.unconfirmed.is_empty() && self.lines_dropped == 0
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Not asked to leave at the end of stdin.
    Off,
    /// Leaves once stdin ends.
    Armed,
    /// Goodbyes sent; waiting for these connections to close.
    Waiting(Vec<(ConnId, SocketAddr)>),
    Done,
}

#[derive(Debug)]
pub struct Departure {
    phase: Phase,
    outcome: Outcome,
    /// Text hosts with our messages still on their way to them: each is
    /// confirmed when its last one is answered.
    texts: Vec<SocketAddr>,
}

impl Departure {
    pub fn new(exit_on_eof: bool) -> Self {
        Departure {
            phase: if exit_on_eof {
                Phase::Armed
            } else {
                Phase::Off
            },
            outcome: Outcome::default(),
            texts: Vec::new(),
        }
    }

    pub fn armed(&self) -> bool {
        self.phase == Phase::Armed
    }

    /// Goodbyes went to these peers: wait for each to close.
    pub fn begin(
        &mut self,
        peers: Vec<(ConnId, SocketAddr)>,
        texts: Vec<SocketAddr>,
        lines_dropped: u64,
    ) {
        self.outcome.lines_dropped = lines_dropped;
        self.texts = texts;
        self.phase = Phase::Waiting(peers);
        self.settle();
    }

    /// Done once no peer and no text host is waited for.
    fn settle(&mut self) {
        if matches!(&self.phase, Phase::Waiting(w) if w.is_empty()) && self.texts.is_empty() {
            self.phase = Phase::Done;
        }
    }

    /// Whether our messages to the text host `addr` are waited for.
    pub fn waits_for_text(&self, addr: SocketAddr) -> bool {
        matches!(self.phase, Phase::Waiting(_)) && self.texts.contains(&addr)
    }

    /// Whether any text host is waited for.
    pub fn waits_for_texts(&self) -> bool {
        matches!(self.phase, Phase::Waiting(_)) && !self.texts.is_empty()
    }

    /// The text host `addr` took our last message (`confirmed`), or one
    /// of them failed.
    pub fn text_done(&mut self, addr: SocketAddr, confirmed: bool) {
        let Some(i) = self.texts.iter().position(|&a| a == addr) else {
            return;
        };
        self.texts.swap_remove(i);
        if confirmed {
            self.outcome.confirmed += 1;
        } else {
            self.outcome.unconfirmed.push(addr);
        }
        self.settle();
    }

    /// The text hosts still waited for.
    pub fn texts_waiting(&self) -> Vec<SocketAddr> {
        self.texts.clone()
    }

    /// Whether `conn` is one we are waiting on.
    pub fn waits_for(&self, conn: ConnId) -> bool {
        matches!(&self.phase, Phase::Waiting(w) if w.iter().any(|(c, _)| *c == conn))
    }

    /// The peers still waited on.
    pub fn waiting(&self) -> Vec<ConnId> {
        match &self.phase {
            Phase::Waiting(w) => w.iter().map(|(c, _)| *c).collect(),
            _ => Vec::new(),
        }
    }

    /// `conn` is gone; `confirmed` when it closed cleanly after our goodbye.
    pub fn gone(&mut self, conn: ConnId, confirmed: bool) {
        let Phase::Waiting(w) = &mut self.phase else {
            return;
        };
        let Some(i) = w.iter().position(|(c, _)| *c == conn) else {
            return;
        };
        let (_, addr) = w.swap_remove(i);
        if confirmed {
            self.outcome.confirmed += 1;
        } else {
            self.outcome.unconfirmed.push(addr);
        }
        self.settle();
    }

    /// The outcome, once every peer has closed or been given up on.
    pub fn outcome(&self) -> Option<&Outcome> {
        (self.phase == Phase::Done).then_some(&self.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(i: u32) -> ConnId {
        ConnId {
            index: i,
            generation: 0,
        }
    }

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn done_when_every_peer_has_closed() {
        let mut d = Departure::new(true);
        assert!(d.armed());
        d.begin(vec![(c(1), a(1)), (c(2), a(2))], Vec::new(), 0);
        assert!(d.waits_for(c(1)) && d.outcome().is_none());
        d.gone(c(1), true);
        d.gone(c(9), false);
        assert!(d.outcome().is_none());
        d.gone(c(2), false);
        let o = d.outcome().unwrap();
        assert_eq!((o.confirmed, o.unconfirmed.clone()), (1, vec![a(2)]));
        assert!(!o.complete());
    }

    #[test]
    fn no_peers_is_done_at_once_and_dropped_lines_count() {
        let mut d = Departure::new(true);
        d.begin(Vec::new(), Vec::new(), 2);
        assert_eq!(d.outcome().map(|o| o.complete()), Some(false));
        let mut d = Departure::new(false);
        assert!(!d.armed());
        d.begin(Vec::new(), Vec::new(), 0);
        assert!(d.outcome().unwrap().complete());
    }

    #[test]
    fn text_hosts_are_waited_for_too() {
        let mut d = Departure::new(true);
        d.begin(vec![(c(1), a(1))], vec![a(7), a(8)], 0);
        assert!(d.waits_for_text(a(7)) && d.waits_for_texts());
        d.gone(c(1), true);
        d.text_done(a(7), true);
        assert!(d.outcome().is_none());
        d.text_done(a(9), false);
        d.text_done(a(8), false);
        assert_eq!(d.texts_waiting(), Vec::<SocketAddr>::new());
        let o = d.outcome().unwrap();
        assert_eq!((o.confirmed, o.unconfirmed.clone()), (2, vec![a(8)]));
        assert!(!d.waits_for_texts());
        let mut d = Departure::new(true);
        d.begin(Vec::new(), vec![a(7)], 0);
        assert!(d.outcome().is_none());
    }
}
