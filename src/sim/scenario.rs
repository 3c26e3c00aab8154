//! Scenarios for `rumor-sim`, and their line format (docs/SIMULATOR.md).
//!
//! One setting per line, `#` starts a comment. `scenario NAME` starts a
//! scenario; settings before the first one are defaults for all of them.
//!
//! ```text
//! links 10ms..50ms             # round-trip time per link, drawn once per link
//! scenario one-sender-1k
//! nodes 1000                   # node 0 first, then each joins through it
//! join 2ms                     # one join every 2 ms (default 1ms)
//! loss 0.01 rto 200ms          # per batch; a lost one comes an RTO later
//! peers 8                      # max_peers of every node (default: the node's)
//! senders 10                   # or `all`, or a percentage `5%`
//! messages 20                  # per sender (default 10)
//! interval 1s                  # between one sender's messages (default 1s)
//! start 30s                    # first message (default: 10s after the last join)
//! kill 20% at 40s              # at once, silently
//! leave 10% at 40s             # at once, each saying goodbye
//! churn 10%/min from 20s to 80s [leave]
//! partition halves at 20s heal at 50s
//! idle 10s                     # the quiet window at the end (default 10s)
//! run 120s                     # required
//! seed 7                       # optional; --seed overrides
//! ```

use std::fmt;
use std::time::Duration;

/// Who sends the scenario's messages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Senders {
    Count(usize),
    Percent(f64),
    All,
}

/// Something done to the network during a scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// `percent` of the live nodes (never node 0) killed at once.
    Kill { percent: f64, at: Duration },
    /// The same, each shutting down cleanly.
    Leave { percent: f64, at: Duration },
    /// From `from` to `to`, `percent` of the nodes per minute replaced,
    /// evenly spaced: a random live node (never node 0) killed, or leaving
    /// with `graceful`, and a new one joining through node 0.
    Churn {
        percent: f64,
        from: Duration,
        to: Duration,
        graceful: bool,
    },
    /// The nodes cut into two halves by index at `at`, joined at `heal`.
    Partition {
        at: Duration,
        heal: Option<Duration>,
    },
}

/// One scenario: times count from the start of node 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub nodes: usize,
    pub join_every: Duration,
    /// Round-trip time range of a link; each link's one-way delay is half
    /// of a value drawn from it once.
    pub rtt: (Duration, Duration),
    pub loss: f64,
    pub rto: Duration,
    pub peers: Option<usize>,
    pub senders: Senders,
    pub messages: usize,
    /// Rounds of messages (one per sender each) not counted in RMR: the
    /// first messages build the broadcast tree.
    pub warmup: usize,
    pub interval: Duration,
    pub start: Option<Duration>,
    pub faults: Vec<Fault>,
    pub idle: Duration,
    pub run: Duration,
}

impl Scenario {
    /// A scenario with every default: 100 nodes, 10–50 ms links, one
    /// sender of 10 messages, 60 s.
    pub fn new(name: &str) -> Self {
        Scenario {
            name: name.to_string(),
            seed: 1,
            nodes: 100,
            join_every: Duration::from_millis(1),
            rtt: (Duration::from_millis(10), Duration::from_millis(50)),
            loss: 0.0,
            rto: Duration::from_millis(200),
            peers: None,
            senders: Senders::Count(1),
            messages: 10,
            warmup: 1,
            interval: Duration::from_secs(1),
            start: None,
            faults: Vec::new(),
            idle: Duration::from_secs(10),
            run: Duration::from_secs(60),
        }
    }

    /// When the last node joins.
    pub fn last_join(&self) -> Duration {
        self.join_every * (self.nodes.saturating_sub(1) as u32)
    }

    /// When the first message goes.
    pub fn first_message(&self) -> Duration {
        self.start
            .unwrap_or(self.last_join() + Duration::from_secs(10))
    }

    /// How many nodes send, given `n` nodes.
    pub fn sender_count(&self) -> usize {
        match self.senders {
            Senders::Count(k) => k.min(self.nodes),
            Senders::Percent(p) => {
                ((self.nodes as f64 * p / 100.0).round() as usize).clamp(1, self.nodes)
            }
            Senders::All => self.nodes,
        }
    }

    /// When the last message goes (senders are spread over one interval).
    pub fn last_message(&self) -> Duration {
        self.first_message()
            + self.interval * (self.messages.saturating_sub(1) as u32)
            + self.interval
    }

    fn check(&self) -> Result<(), String> {
        let quiet = self.run.saturating_sub(self.idle);
        if self.idle >= self.run {
            return Err(format!(
                "idle {:?} must be shorter than run {:?}",
                self.idle, self.run
            ));
        }
        if self.messages > 0 && self.last_message() > quiet {
            return Err(format!(
                "the messages go on until {:?}, after the idle window starts ({:?})",
                self.last_message(),
                quiet
            ));
        }
        if self.last_join() > quiet {
            return Err(format!(
                "the joins go on until {:?}, after the idle window starts",
                self.last_join()
            ));
        }
        for f in &self.faults {
            let end = match *f {
                Fault::Kill { at, .. } | Fault::Leave { at, .. } => at,
                Fault::Churn { to, .. } => to,
                Fault::Partition { at, heal } => heal.unwrap_or(at),
            };
            if end > quiet {
                return Err(format!(
                    "a fault at {end:?} falls in the idle window (after {quiet:?})"
                ));
            }
        }
        Ok(())
    }
}

/// A bad scenario file: the line and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("bad duration {s:?}: {e}"))
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what} {s:?}"))
}

fn percent(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .strip_suffix('%')
        .ok_or_else(|| format!("expected a percentage like 20%, got {s:?}"))
        .and_then(|n| number(n, "percentage"))?;
    if !(p > 0.0 && p <= 100.0) {
        return Err(format!("percentage {s} is not in (0%, 100%]"));
    }
    Ok(p)
}

/// `words` must be exactly `want` (`_` matches any word); returns the
/// words at the `_`s.
fn shape<'a>(words: &[&'a str], want: &[&str]) -> Result<Vec<&'a str>, String> {
    if words.len() != want.len() || words.iter().zip(want).any(|(w, p)| *p != "_" && w != p) {
        return Err(format!("expected `{}`", want.join(" ").replace('_', "…")));
    }
    Ok(words
        .iter()
        .zip(want)
        .filter(|(_, p)| **p == "_")
        .map(|(w, _)| *w)
        .collect())
}

/// One setting line (its words, the keyword first) applied to `sc`.
fn setting(sc: &mut Scenario, words: &[&str]) -> Result<(), String> {
    let arg = |i: usize| {
        words
            .get(i)
            .copied()
            .ok_or_else(|| format!("{} needs a value", words[0]))
    };
    let one = || {
        if words.len() > 2 {
            Err(format!("{} takes one value", words[0]))
        } else {
            arg(1)
        }
    };
    match words[0] {
        "nodes" => {
            sc.nodes = number(one()?, "node count")?;
            if !(1..=1 << 24).contains(&sc.nodes) {
                return Err("nodes must be 1 to 16777216".into());
            }
        }
        "join" => sc.join_every = duration(one()?)?,
        "links" => {
            let v = one()?;
            let (lo, hi) = v.split_once("..").unwrap_or((v, v));
            sc.rtt = (duration(lo)?, duration(hi)?);
            if sc.rtt.0 > sc.rtt.1 {
                return Err(format!("links range {v} runs backwards"));
            }
        }
        "loss" => {
            let w = if words.len() == 2 {
                vec![words[1]]
            } else {
                shape(&words[1..], &["_", "rto", "_"])?
            };
            sc.loss = number(w[0], "loss")?;
            if !(0.0..1.0).contains(&sc.loss) {
                return Err("loss must be at least 0 and below 1".into());
            }
            if let Some(r) = w.get(1) {
                sc.rto = duration(r)?;
            }
        }
        "peers" => {
            let p: usize = number(one()?, "peer count")?;
            if p == 0 {
                return Err("peers must be at least 1".into());
            }
            sc.peers = Some(p);
        }
        "senders" => {
            let v = one()?;
            sc.senders = match v {
                "all" => Senders::All,
                _ if v.ends_with('%') => Senders::Percent(percent(v)?),
                _ => Senders::Count(number(v, "sender count")?),
            };
        }
        "messages" => sc.messages = number(one()?, "message count")?,
        "warmup" => sc.warmup = number(one()?, "warm-up rounds")?,
        "interval" => sc.interval = duration(one()?)?,
        "start" => sc.start = Some(duration(one()?)?),
        "idle" => sc.idle = duration(one()?)?,
        "run" => sc.run = duration(one()?)?,
        "seed" => sc.seed = number(one()?, "seed")?,
        "kill" | "leave" => {
            let w = shape(&words[1..], &["_", "at", "_"])?;
            let (percent, at) = (percent(w[0])?, duration(w[1])?);
            sc.faults.push(if words[0] == "kill" {
                Fault::Kill { percent, at }
            } else {
                Fault::Leave { percent, at }
            });
        }
        "churn" => {
            let graceful = words.last() == Some(&"leave");
            let end = if graceful {
                words.len() - 1
            } else {
                words.len()
            };
            let w = shape(&words[1..end], &["_", "from", "_", "to", "_"])?;
            let rate = w[0]
                .strip_suffix("/min")
                .ok_or("churn takes a rate like 10%/min")?;
            let (from, to) = (duration(w[1])?, duration(w[2])?);
            if to <= from {
                return Err("churn must end after it starts".into());
            }
            sc.faults.push(Fault::Churn {
                percent: percent(rate)?,
                from,
                to,
                graceful,
            });
        }
        "partition" => {
            let w = match words.len() {
                4 => shape(&words[1..], &["halves", "at", "_"])?,
                _ => shape(&words[1..], &["halves", "at", "_", "heal", "at", "_"])?,
            };
            let at = duration(w[0])?;
            let heal = w.get(1).map(|h| duration(h)).transpose()?;
            if heal.is_some_and(|h| h <= at) {
                return Err("a partition must heal after it starts".into());
            }
            sc.faults.push(Fault::Partition { at, heal });
        }
        k => return Err(format!("unknown setting {k:?}")),
    }
    Ok(())
}

/// Every scenario in `text`, checked; the first error names its line.
pub fn parse(text: &str) -> Result<Vec<Scenario>, ParseError> {
    let mut defaults = Scenario::new("");
    let mut out: Vec<(usize, Scenario)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let err = |msg: String| ParseError { line, msg };
        let words: Vec<&str> = raw
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if words.is_empty() {
            continue;
        }
        if words[0] == "scenario" {
            let name =
                shape(&words[1..], &["_"]).map_err(|_| err("expected `scenario NAME`".into()))?[0];
            if out.iter().any(|(_, s)| s.name == name) {
                return Err(err(format!("a second scenario named {name:?}")));
            }
            let mut sc = defaults.clone();
            sc.name = name.to_string();
            out.push((line, sc));
            continue;
        }
        let sc = match out.last_mut() {
            Some((_, sc)) => sc,
            None => &mut defaults,
        };
        setting(sc, &words).map_err(err)?;
    }
    if out.is_empty() {
        return Err(ParseError {
            line: text.lines().count().max(1),
            msg: "no `scenario NAME` line".into(),
        });
    }
    for (line, sc) in &out {
        if let Senders::Count(k) = sc.senders
            && k > sc.nodes
        {
            return Err(ParseError {
                line: *line,
                msg: format!("{}: {k} senders but {} nodes", sc.name, sc.nodes),
            });
        }
        sc.check().map_err(|msg| ParseError {
            line: *line,
            msg: format!("{}: {msg}", sc.name),
        })?;
    }
    Ok(out.into_iter().map(|(_, s)| s).collect())
}
