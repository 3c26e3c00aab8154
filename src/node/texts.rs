//! A node's side of the text hosts (`docs/PROTOCOL.md`, "Text hosts"): the
//! table of text hosts ([`TextHosts`]), the window that prints each text
//! once ([`Dedup`]), the deliveries in flight by connection, and the age
//! limit's timer. The rules are `crate::text`'s; `texting.rs` wires them
//! into the node.

use crate::vecmap::VecMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::config::Config;
use super::conns::ConnId;
use super::liveness::OneTimer;
use super::output::Outputs;
use crate::text::{self, Dedup, Delivery, Failure, Step, TextConfig, TextHosts};

/// What happened to a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryInput<'a> {
    Connected,
    /// The connect failed with this error.
    ConnectFailed(ErrorKind),
    Read(&'a [u8]),
    /// The connection closed (or failed) after it connected.
    Closed,
    Timeout(Instant),
}

/// What the node does next for a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryNext {
    Wait,
    /// Send these bytes of the output arena on the connection.
    Write(Range<usize>),
    /// Over: close the connection. The host at this address took the
    /// message, or the delivery failed.
    Done(SocketAddr, Result<(), Failure>),
}

#[derive(Debug)]
pub struct Texts {
    pub hosts: TextHosts,
    pub dedup: Dedup,
    deliveries: VecMap<ConnId, (SocketAddr, Delivery)>,
    reader: TextConfig,
    delivery_timeout: Duration,
    /// The age limit's timer.
    expiry: OneTimer,
    /// "Not remembered: the table is full" was said since the table last
    /// had room.
    full_noted: bool,
}

impl Texts {
    pub fn new(cfg: &Config, seed: u64) -> Self {
        Texts {
            hosts: TextHosts::new(
                cfg.max_text_hosts,
                text::hosts::MAX_FAILURES,
                cfg.text_host_idle,
                text::hosts::MAX_QUEUED,
            ),
            dedup: Dedup::new(seed, text::dedup::WINDOW, text::dedup::CAP),
            deliveries: VecMap::new(),
            reader: TextConfig {
                pause: cfg.text_pause,
                deadline: cfg.handshake_timeout,
            },
            delivery_timeout: cfg.text_delivery_timeout,
            expiry: OneTimer::default(),
            full_noted: false,
        }
    }

    /// How a text message's reader is timed.
    pub fn reader(&self) -> TextConfig {
        self.reader
    }

    /// Deliveries in flight (each holds a connection).
    pub fn in_flight(&self) -> usize {
        self.deliveries.len()
    }

    /// Starts delivering `text` to `addr` on `conn`, from a node listening
    /// on `listen_port`. False if the text is too long for a text host
    /// (callers check [`text::fits`] first).
    pub fn start(
        &mut self,
        conn: ConnId,
        addr: SocketAddr,
        listen_port: u16,
        text: &[u8],
        now: Instant,
    ) -> bool {
        match Delivery::new(listen_port, text, now, self.delivery_timeout) {
            Ok(d) => {
                self.deliveries.insert(conn, (addr, d));
                true
            }
            Err(_) => false,
        }
    }

    /// Feeds what happened on `conn` to its delivery; the bytes to write go
    /// into `out`'s arena. `None` if `conn` has no delivery in flight.
    pub fn step(
        &mut self,
        conn: ConnId,
        input: DeliveryInput<'_>,
        out: &mut Outputs,
    ) -> Option<DeliveryNext> {
        let (addr, d) = self.deliveries.get_mut(&conn)?;
        let addr = *addr;
        let step = match input {
            DeliveryInput::Connected => d.connected(),
            DeliveryInput::ConnectFailed(kind) => d.connect_failed(kind),
            DeliveryInput::Read(bytes) => d.read(bytes),
            DeliveryInput::Closed => d.closed(),
            DeliveryInput::Timeout(now) => d.handle_timeout(now),
        };
        Some(match step {
            Step::Wait => DeliveryNext::Wait,
            Step::Write(bytes) => DeliveryNext::Write(out.encode(|tx| tx.extend_from_slice(bytes))),
            Step::Done(r) => {
                self.deliveries.remove(&conn);
                DeliveryNext::Done(addr, r)
            }
        })
    }

    /// Forgets `conn`'s delivery, if one is in flight; returns its host.
    pub fn take(&mut self, conn: ConnId) -> Option<SocketAddr> {
        self.deliveries.remove(&conn).map(|(a, _)| a)
    }

    /// When `conn`'s delivery times out.
    pub fn deadline(&self, conn: ConnId) -> Option<Instant> {
        self.deliveries.get(&conn).and_then(|(_, d)| d.deadline())
    }

    /// Whether the age limit's timer must be set for `at` (none is set for
    /// an earlier time). Records it.
    pub fn arm_expiry(&mut self, at: Instant) -> bool {
        self.expiry.arm(at)
    }

    /// The age limit's timer fired at `now`: false if it is stale.
    pub fn expiry_fired(&mut self, now: Instant) -> bool {
        self.expiry.fire(now)
    }

    /// Whether to say that a host was not remembered: once, until the
    /// table has room again.
    pub fn note_full(&mut self) -> bool {
        !std::mem::replace(&mut self.full_noted, true)
    }

    /// A host left the table: the next refusal is worth a line again.
    pub fn room_made(&mut self) {
        self.full_noted = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(i: u32) -> ConnId {
        ConnId {
            index: i,
            generation: 0,
        }
    }

    fn texts() -> Texts {
        Texts::new(&Config::new("127.0.0.1:7000".parse().unwrap()), 1)
    }

    #[test]
    fn a_delivery_writes_its_message_and_ends_with_the_reply() {
        let mut t = texts();
        let mut out = Outputs::default();
        let host: SocketAddr = "127.0.0.1:1248".parse().unwrap();
        let now = Instant::now();
        assert!(t.start(conn(1), host, 7000, b"hi", now));
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.deadline(conn(1)), Some(now + text::delivery::TIMEOUT));
        let Some(DeliveryNext::Write(r)) = t.step(conn(1), DeliveryInput::Connected, &mut out)
        else {
            panic!("no write");
        };
        assert_eq!(r.len(), b"7000:hi".len());
        assert_eq!(
            t.step(conn(1), DeliveryInput::Read(b"Message "), &mut out),
            Some(DeliveryNext::Wait)
        );
        assert_eq!(
            t.step(conn(1), DeliveryInput::Read(b"received"), &mut out),
            Some(DeliveryNext::Done(host, Ok(())))
        );
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.step(conn(1), DeliveryInput::Closed, &mut out), None);
    }

    #[test]
    fn failures_and_the_long_text_rule() {
        let mut t = texts();
        let mut out = Outputs::default();
        let host: SocketAddr = "127.0.0.1:1248".parse().unwrap();
        let now = Instant::now();
        assert!(!t.start(conn(2), host, 7000, &[b'x'; 4092], now));
        assert!(t.start(conn(2), host, 7000, &[b'x'; 4091], now));
        let refused = DeliveryInput::ConnectFailed(ErrorKind::ConnectionRefused);
        assert_eq!(
            t.step(conn(2), refused, &mut out),
            Some(DeliveryNext::Done(
                host,
                Err(Failure::Connect(ErrorKind::ConnectionRefused))
            ))
        );
        assert!(t.start(conn(3), host, 7000, b"x", now));
        let late = now + text::delivery::TIMEOUT;
        assert!(matches!(
            t.step(conn(3), DeliveryInput::Timeout(late), &mut out),
            Some(DeliveryNext::Done(_, Err(Failure::TimedOut(_))))
        ));
        assert!(t.start(conn(4), host, 7000, b"x", now));
        assert_eq!(t.take(conn(4)), Some(host));
        assert_eq!(t.take(conn(4)), None);
    }

    #[test]
    fn the_expiry_timer_is_set_once_and_stale_fires_are_ignored() {
        let mut t = texts();
        let now = Instant::now();
        let s = Duration::from_secs(1);
        assert!(t.arm_expiry(now + 2 * s));
        assert!(!t.arm_expiry(now + 3 * s));
        assert!(t.arm_expiry(now + s));
        assert!(!t.expiry_fired(now));
        assert!(t.expiry_fired(now + s));
        assert!(!t.expiry_fired(now + 2 * s), "stale");
        assert!(t.note_full() && !t.note_full());
        t.room_made();
        assert!(t.note_full());
    }
}
