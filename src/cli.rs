//! The command line. Usage errors exit 2 (clap's own), with one line naming
//! the flag and the problem.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// A peer-to-peer gossip node: joins a network through one known peer,
/// connects to every other peer, sends each a random message every period
/// and broadcasts every line typed on stdin.
#[derive(Debug, Parser)]
#[command(name = "rumor", version, after_help = EXAMPLES)]
pub struct Args {
    /// Port to listen on; 0 picks a free one (the printed address shows it).
    /// Example: --port 8080
    #[arg(long, default_value_t = 1248, value_name = "PORT")]
    pub port: u16,

    /// Address to listen on; IPv6 works too; 0.0.0.0 or :: listens on
    /// every interface. Example: --bind ::1
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST), value_name = "IP")]
    pub bind: IpAddr,

    /// The address other nodes should dial and print for this one, when it
    /// is not the --bind address (every interface, a forwarded port); host
    /// names resolve. Example: --advertise 192.0.2.7:8080
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_advertise)]
    pub advertise: Option<Peer>,

    /// How often to send a random message to every peer: a duration such as
    /// 5s, 1m30s or 250ms, a bare number of seconds, or "off" for none.
    /// Example: --period 5
    #[arg(long, default_value = "5s", value_parser = parse_period, value_name = "DURATION")]
    pub period: Period,

    /// A peer to join through (repeatable); host names resolve, and one
    /// that does not resolve yet is retried.
    /// Example: --connect 127.0.0.1:8080
    #[arg(long = "connect", visible_alias = "bootstrap", value_name = "HOST:PORT", value_parser = parse_peer)]
    pub connect: Vec<Peer>,

    /// Peers to keep connections to (the active view). Any number of nodes
    /// can join: each message is relayed to all. A network of at most N+1
    /// nodes is a full mesh.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024), value_name = "N")]
    pub max_peers: u16,

    /// Leave once stdin ends: after the join, send every line, say goodbye
    /// and wait (up to 5s) for each peer to close; exit 0 if every peer has
    /// every line, 3 if not. For scripts: printf 'done\n' | rumor ... --exit-on-eof
    #[arg(long)]
    pub exit_on_eof: bool,

    /// Print one JSON object per line on stdout instead of text (the
    /// schema is in the README); stderr stays text.
    #[arg(long)]
    pub json: bool,

    /// Print only errors on stderr (no retries, no refused connections).
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also print each dial and each handshake's outcome on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// A file holding the network key ring: one base64 key a line (as
    /// `rumor keygen` prints), the first the primary; `#` comments allowed.
    /// It must be readable by its owner only (chmod 600). Also from
    /// RUMOR_KEY_FILE. A key is never taken on the command line. With a
    /// key every connection is encrypted and only nodes holding a key of
    /// the ring can join; SIGHUP reloads the file.
    #[arg(long, env = "RUMOR_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do instead of running a node.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a new random network key (base64, one line) and exit.
    Keygen,
}

const EXAMPLES: &str = "\
Examples:
  rumor --period 5 --port 8080
  rumor --period 6 --port 8081 --connect 127.0.0.1:8080
  rumor --period off --port 0 --connect localhost:8080
  rumor keygen > net.key && chmod 600 net.key
  rumor --port 8080 --key-file net.key

Each line typed on stdin is sent to every peer. Ctrl-C says goodbye and exits.
SIGHUP reloads the --key-file ring (a bad file keeps the old one).";

/// The send period: `None` is `--period off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period(pub Option<Duration>);

/// Longest period accepted: a year.
const MAX_PERIOD: Duration = Duration::from_secs(365 * 24 * 3600);

pub fn parse_period(s: &str) -> Result<Period, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(Period(None));
    }
    let d = if let Some(d) = decimal_secs(s) {
        d.ok_or_else(|| format!("'{s}' is too long"))?
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("'{s}' is not a duration (try 5s, 250ms or off): {e}"))?
    };
    if d < Duration::from_millis(1) {
        return Err("the period must be at least 1ms (use \"off\" for no random messages)".into());
    }
    if d > MAX_PERIOD {
        return Err("the period must be at most 365 days".into());
    }
    Ok(Period(Some(d)))
}

/// Plain seconds, `5` or `0.25` (digits, at most one point): `None` if it
/// is not that form, `Some(None)` if too long. Parsed by hand: the float
/// parser costs 15 KB of the binary.
fn decimal_secs(s: &str) -> Option<Option<Duration>> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let Ok(secs) = (if int.is_empty() {
        Ok(0)
    } else {
        int.parse::<u64>()
    }) else {
        return Some(None);
    };
    let mut nanos = 0u32;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Some(Some(Duration::new(secs, nanos)))
}

/// A peer to join through, as typed and as resolved. A host name that
/// does not resolve at start has no addresses yet: the node retries it
/// (names often resolve only once a network is up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub text: String,
    pub host: String,
    pub port: u16,
    pub addrs: Vec<SocketAddr>,
    /// Why it did not resolve, when it did not.
    pub unresolved: Option<String>,
}

impl Peer {
    /// The address to dial: the first of the listening address's family,
    /// else the first.
    pub fn pick(&self, family_of: IpAddr) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|a| a.is_ipv4() == family_of.is_ipv4())
            .or(self.addrs.first())
            .copied()
    }
}

pub fn parse_peer(s: &str) -> Result<Peer, String> {
    let s = s.trim();
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("'{s}' has no port (expected HOST:PORT)"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' is not a port number (0 to 65535)"))?;
    if port == 0 {
        return Err(format!("'{s}': port 0 cannot be dialed"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("'{s}' has no host (expected HOST:PORT)"));
    }
    if host.parse::<IpAddr>().is_err() && !valid_host_name(host) {
        return Err(format!("'{host}' is neither an IP address nor a host name"));
    }
    let (addrs, unresolved) = match resolve(host, port) {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(Peer {
        text: s.to_string(),
        host: host.to_string(),
        port,
        addrs,
        unresolved,
    })
}

/// `--advertise`: a peer address (see [`parse_peer`]) that can be dialed,
/// so never an unspecified one.
pub fn parse_advertise(s: &str) -> Result<Peer, String> {
    let mut p = parse_peer(s)?;
    if let Some(why) = &p.unresolved {
        return Err(format!("cannot resolve '{}': {why}", p.host));
    }
    p.addrs.retain(|a| !a.ip().is_unspecified());
    if p.addrs.is_empty() {
        return Err(format!(
            "'{}' is no address to dial (0.0.0.0 and :: listen everywhere; name this host's address)",
            p.text
        ));
    }
    Ok(p)
}

/// Resolves `host` (blocking, as getaddrinfo is); an error says why.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            let e = e.to_string();
            // getaddrinfo's words, without its "failed to lookup address
            // information: " preamble.
            e.rsplit(": ").next().unwrap_or(&e).to_lowercase()
        })?
        .collect();
    if addrs.is_empty() {
        return Err("it has no address".into());
    }
    Ok(addrs)
}

/// RFC 1123 host name syntax: dot-separated labels of letters, digits and
/// hyphens, none empty, none starting or ending with a hyphen.
fn valid_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let ok = |s: &str| parse_period(s).unwrap().0;
        assert_eq!(ok("5"), Some(Duration::from_secs(5)));
        assert_eq!(ok("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(ok(".5"), Some(Duration::from_millis(500)));
        assert_eq!(ok("1.0000000019"), Some(Duration::new(1, 1)));
        assert_eq!(ok("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(ok("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(ok("off"), None);
        for bad in [
            "0",
            "0s",
            "-1",
            "nonsense",
            "",
            "5 parsecs",
            "NaN",
            "inf",
            "1000y",
            ".",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn advertised_addresses() {
        let p = parse_advertise("192.0.2.7:8080").unwrap();
        assert_eq!(p.addrs, vec!["192.0.2.7:8080".parse().unwrap()]);
        for bad in [
            "0.0.0.0:8080",
            "[::]:8080",
            "192.0.2.7:0",
            "192.0.2.7",
            "no.such.host.invalid:80",
        ] {
            assert!(parse_advertise(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn peers() {
        let p = parse_peer("127.0.0.1:8080").unwrap();
        assert_eq!(p.addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
        let p = parse_peer("[::1]:9").unwrap();
        assert_eq!(p.addrs, vec!["[::1]:9".parse().unwrap()]);
        let p = parse_peer("localhost:8080").unwrap();
        assert_eq!(
            p.pick("127.0.0.1".parse().unwrap()),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        for bad in [
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:99999",
            ":80",
            "127.0.0.1:0",
            "bad_host!:80",
            "-x.example:80",
            "a..b:80",
        ] {
            assert!(parse_peer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_name_that_does_not_resolve_yet_is_kept_with_its_reason() {
        // `.invalid` never resolves (RFC 6761).
        let p = parse_peer("later.invalid:8080").unwrap();
        assert!(p.addrs.is_empty());
        assert!(p.unresolved.is_some());
        assert_eq!((p.host.as_str(), p.port), ("later.invalid", 8080));
    }
}
