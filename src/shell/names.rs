//! Bootstrap host names that did not resolve at start, retried with
//! backoff (250 ms doubling to 30 s) until each resolves; then its address
//! goes to the core like any bootstrap address. A lookup blocks the loop
//! (getaddrinfo has no non-blocking form, and the node has one thread), so
//! it is tried only when due, and only while a name is unresolved.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::cli::{Peer, resolve};

const FIRST: Duration = Duration::from_millis(250);
const MOST: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Name {
    host: String,
    port: u16,
    failures: u32,
    next: Instant,
}

/// What a due lookup found.
#[derive(Debug)]
pub(super) enum Lookup {
    Resolved {
        host: String,
        addr: SocketAddr,
    },
    Failed {
        host: String,
        why: String,
        retry_in: Duration,
    },
}

#[derive(Debug, Default)]
pub(super) struct Names {
    family_of: Option<IpAddr>,
    names: Vec<Name>,
}

impl Names {
    /// The peers that did not resolve at start; the first retry is due at
    /// once-plus-backoff.
    pub(super) fn new(peers: &[Peer], family_of: IpAddr, now: Instant) -> Self {
        Names {
            family_of: Some(family_of),
            names: peers
                .iter()
                .filter(|p| p.addrs.is_empty())
                .map(|p| Name {
                    host: p.host.clone(),
                    port: p.port,
                    failures: 1,
                    next: now + FIRST,
                })
                .collect(),
        }
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// When the next lookup is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.names.iter().map(|n| n.next).min()
    }

    /// The delay after `failures` failed lookups.
    pub(super) fn delay(failures: u32) -> Duration {
        FIRST
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(MOST)
    }

    /// Looks up every name that is due.
    pub(super) fn lookup_due(&mut self, now: Instant) -> Vec<Lookup> {
        let mut out = Vec::new();
        let family = self.family_of;
        self.names.retain_mut(|n| {
            if n.next > now {
                return true;
            }
            match resolve(&n.host, n.port) {
                Ok(addrs) => {
                    let addr = addrs
                        .iter()
                        .find(|a| family.is_none_or(|f| a.is_ipv4() == f.is_ipv4()))
                        .or(addrs.first())
                        .copied();
                    if let Some(addr) = addr {
                        out.push(Lookup::Resolved {
                            host: n.host.clone(),
                            addr,
                        });
                    }
                    false
                }
                Err(why) => {
                    n.failures += 1;
                    let retry_in = Self::delay(n.failures);
                    n.next = now + retry_in;
                    out.push(Lookup::Failed {
                        host: n.host.clone(),
                        why,
                        retry_in,
                    });
                    true
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_peer;

    #[test]
    fn backoff_doubles_to_thirty_seconds() {
        let d: Vec<u128> = (1..=10).map(|f| Names::delay(f).as_millis()).collect();
        assert_eq!(
            d,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
    }

    #[test]
    fn a_name_is_retried_until_it_resolves() {
        let t = Instant::now();
        let peers = [
            parse_peer("later.invalid:8080").unwrap(),
            parse_peer("127.0.0.1:9").unwrap(),
        ];
        let mut n = Names::new(&peers, "127.0.0.1".parse().unwrap(), t);
        assert_eq!(n.next_due(), Some(t + FIRST), "only the unresolved one");
        assert!(n.lookup_due(t).is_empty(), "not due yet");
        let r = n.lookup_due(t + FIRST);
        assert!(
            matches!(&r[..], [Lookup::Failed { retry_in, .. }] if *retry_in == Duration::from_millis(500))
        );
        // The name now resolves (as if the network came up).
        n.names[0].host = "localhost".into();
        let r = n.lookup_due(t + Duration::from_secs(1));
        assert!(
            matches!(&r[..], [Lookup::Resolved { addr, .. }] if addr.port() == 8080 && addr.is_ipv4()),
            "{r:?}"
        );
        assert!(n.is_empty());
    }
}
