//! Turns the core's events into what the user reads: the task's text lines
//! (`HH:MM:SS - Received message [...] from "..."`) or, with `--json`, one
//! JSON object per line. Not part of the core: the core never formats.
//!
//! The JSON schema (fields are only ever added, never renamed or removed):
//! every object has `event` (its name) and `ms` (milliseconds since the
//! node started), then per event:
//! - `listening`: `addr`
//! - `joined`: `peers` (array of addresses)
//! - `connected`: `peer`
//! - `sending`: `text`, `to` (array of addresses)
//! - `received`: `text`, `from`
//! - `disconnected`: `peer`, `reason`
//!
//! Addresses are `"IP:PORT"` strings. A `text` is the message as received,
//! invalid UTF-8 replaced by U+FFFD, escaped only as JSON requires.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::node::{Event, View};
use crate::scan::printable_ascii;

/// Which format stdout uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Text,
    Json,
}

/// A formatter with small caches for what repeats line after line: the
/// timestamp of the current second, the last peer list and the last sender.
#[derive(Debug)]
pub struct Format {
    style: Style,
    stamp_secs: u64,
    stamp: Vec<u8>,
    list_addrs: Vec<SocketAddr>,
    list: Vec<u8>,
    from_addr: Option<SocketAddr>,
    from: Vec<u8>,
}

impl Format {
    pub fn new(style: Style) -> Self {
        Format {
            style,
            stamp_secs: u64::MAX,
            stamp: Vec::new(),
            list_addrs: Vec::new(),
            list: Vec::new(),
            from_addr: None,
            from: Vec::new(),
        }
    }

    pub fn style(&self) -> Style {
        self.style
    }

    /// Appends `event`'s stdout line, newline included. Diagnostics are
    /// not stdout's: they append nothing (see [`diag_line`]).
    pub fn line(&mut self, out: &mut Vec<u8>, at: Duration, event: &Event<'_>) {
        if matches!(event, Event::Diag { .. }) {
            return;
        }
        match self.style {
            Style::Text => {
                self.push_stamp(out, at);
                self.text_body(out, event);
            }
            Style::Json => self.json(out, at, event),
        }
        out.push(b'\n');
    }

    fn push_stamp(&mut self, out: &mut Vec<u8>, at: Duration) {
        let secs = at.as_secs();
        if secs != self.stamp_secs {
            self.stamp_secs = secs;
            self.stamp.clear();
            let _ = write!(
                self.stamp,
                "{:02}:{:02}:{:02} - ",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
        }
        out.extend_from_slice(&self.stamp);
    }

    fn text_body(&mut self, out: &mut Vec<u8>, event: &Event<'_>) {
        match *event {
            Event::Listening { addr } => {
                let _ = write!(out, "My address is \"{addr}\"");
            }
            Event::Joined { peers } => {
                out.extend_from_slice(b"Connected to the peers at ");
                self.push_list(out, peers);
            }
            Event::Connected { peer } => {
                let _ = write!(out, "Connected to the peer at \"{peer}\"");
            }
            Event::Sending { text, to } => {
                out.extend_from_slice(b"Sending message [");
                push_escaped(out, text);
                out.extend_from_slice(b"] to ");
                self.push_list(out, to);
            }
            Event::Received { text, from, .. } => {
                out.extend_from_slice(b"Received message [");
                push_escaped(out, text);
                out.extend_from_slice(b"] from ");
                self.push_from(out, from);
            }
            Event::Disconnected { peer, reason } => {
                let _ = write!(
                    out,
                    "Disconnected from the peer at \"{peer}\" ({})",
                    reason.text()
                );
            }
            Event::Diag { text, .. } => out.extend_from_slice(text.as_bytes()),
        }
    }

    fn json(&mut self, out: &mut Vec<u8>, at: Duration, event: &Event<'_>) {
        let name = match event {
            Event::Listening { .. } => "listening",
            Event::Joined { .. } => "joined",
            Event::Connected { .. } => "connected",
            Event::Sending { .. } => "sending",
            Event::Received { .. } => "received",
            Event::Disconnected { .. } => "disconnected",
            Event::Diag { .. } => "diag",
        };
        let _ = write!(out, "{{\"event\":\"{name}\",\"ms\":{}", at.as_millis());
        match *event {
            Event::Listening { addr } => {
                let _ = write!(out, ",\"addr\":\"{addr}\"");
            }
            Event::Joined { peers } => {
                out.extend_from_slice(b",\"peers\":");
                self.push_list(out, peers);
            }
            Event::Connected { peer } => {
                let _ = write!(out, ",\"peer\":\"{peer}\"");
            }
            Event::Sending { text, to } => {
                out.extend_from_slice(b",\"text\":");
                push_json_str(out, text);
                out.extend_from_slice(b",\"to\":");
                self.push_list(out, to);
            }
            Event::Received { text, from, hops } => {
                out.extend_from_slice(b",\"text\":");
                push_json_str(out, text);
                out.extend_from_slice(b",\"from\":");
                self.push_from(out, from);
                let _ = write!(out, ",\"hops\":{hops}");
            }
            Event::Disconnected { peer, reason } => {
                let _ = write!(out, ",\"peer\":\"{peer}\",\"reason\":");
                push_json_str(out, reason.text().as_bytes());
            }
            Event::Diag { kind, text } => {
                let _ = write!(out, ",\"kind\":\"{}\",\"text\":", kind.name());
                push_json_str(out, text.as_bytes());
            }
        }
        out.push(b'}');
    }

    /// `["a", "b"]` (text) or `["a","b"]` (JSON), cached while it repeats.
    fn push_list(&mut self, out: &mut Vec<u8>, addrs: &[SocketAddr]) {
        if self.list.is_empty() || self.list_addrs != addrs {
            self.list.clear();
            self.list_addrs.clear();
            self.list_addrs.extend_from_slice(addrs);
            let sep: &[u8] = match self.style {
                Style::Text => b", ",
                Style::Json => b",",
            };
            self.list.push(b'[');
            for (i, a) in addrs.iter().enumerate() {
                if i > 0 {
                    self.list.extend_from_slice(sep);
                }
                let _ = write!(self.list, "\"{a}\"");
            }
            self.list.push(b']');
        }
        out.extend_from_slice(&self.list);
    }

    /// `"ip:port"`, cached while the sender repeats.
    fn push_from(&mut self, out: &mut Vec<u8>, from: SocketAddr) {
        if self.from_addr != Some(from) {
            self.from_addr = Some(from);
            self.from.clear();
            let _ = write!(self.from, "\"{from}\"");
        }
        out.extend_from_slice(&self.from);
    }
}

/// The membership report (SIGUSR1) as stderr lines: a summary, then one
/// line per peer with how long it has been connected.
pub fn view_text(v: &View) -> String {
    let n = |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    let mut s = format!(
        "rumor: view of {}: {}, {}, {} being retried\n",
        v.addr,
        n(v.peers.len(), "peer", "peers"),
        n(v.known, "known address", "known addresses"),
        v.retrying
    );
    for p in &v.peers {
        let d = Duration::from_secs(p.connected_for.as_secs());
        s.push_str(&format!(
            "rumor:   {} connected for {}\n",
            p.addr,
            humantime::format_duration(d)
        ));
    }
    for h in &v.text_hosts {
        s.push_str(&format!("rumor:   {h} text host\n"));
    }
    s
}

/// The membership report as one JSON object on one line (`event` is
/// `view`): `addr`, `peers` (each `addr` and `connected_ms`), `known`,
/// `retrying`, `text_hosts` (addresses).
pub fn view_json(out: &mut Vec<u8>, at: Duration, v: &View) {
    let _ = write!(
        out,
        "{{\"event\":\"view\",\"ms\":{},\"addr\":\"{}\",\"peers\":[",
        at.as_millis(),
        v.addr
    );
    for (i, p) in v.peers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(
            out,
            "{{\"addr\":\"{}\",\"connected_ms\":{}}}",
            p.addr,
            p.connected_for.as_millis()
        );
    }
    let _ = write!(out, "],\"known\":{},\"retrying\":{}", v.known, v.retrying);
    out.extend_from_slice(b",\"text_hosts\":[");
    for (i, h) in v.text_hosts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(out, "\"{h}\"");
    }
    let _ = writeln!(out, "]}}");
}

/// An event's text line without its timestamp, as tests and the simulator
/// compare them (a diagnostic gives its text).
pub fn body(event: &Event<'_>) -> String {
    let mut f = Format::new(Style::Text);
    let mut out = Vec::new();
    f.text_body(&mut out, event);
    String::from_utf8(out).unwrap_or_default()
}

/// A diagnostic's stderr line, newline included: `rumor: TEXT`.
pub fn diag_line(text: &str) -> String {
    format!("rumor: {text}\n")
}

/// Appends `bytes` for display on one line: invalid UTF-8 becomes U+FFFD
/// and control characters are escaped, so a peer can never forge or break
/// a log line.
pub fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    if printable_ascii(bytes) {
        // Printable ASCII: the common case, copied as is.
        out.extend_from_slice(bytes);
        return;
    }
    let mut buf = [0u8; 4];
    for ch in String::from_utf8_lossy(bytes).chars() {
        if ch.is_control() {
            let _ = write!(out, "{}", ch.escape_default());
        } else {
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// Appends `bytes` as a JSON string: invalid UTF-8 becomes U+FFFD; only
/// `"`, `\` and control characters below U+0020 are escaped.
pub fn push_json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let text = String::from_utf8_lossy(bytes);
    let mut plain = 0;
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&b[plain..i]);
        plain = i + 1;
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let _ = write!(out, "\\u{c:04x}");
            }
        }
    }
    out.extend_from_slice(&b[plain..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Reason;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    fn text(ev: Event<'_>, at: Duration) -> String {
        let mut f = Format::new(Style::Text);
        let mut out = Vec::new();
        f.line(&mut out, at, &ev);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_task_format_exactly() {
        let s = Duration::from_secs(3723);
        assert_eq!(
            text(Event::Listening { addr: a(8080) }, Duration::ZERO),
            "00:00:00 - My address is \"127.0.0.1:8080\"\n"
        );
        assert_eq!(
            text(
                Event::Joined {
                    peers: &[a(8080), a(8081)]
                },
                s
            ),
            "01:02:03 - Connected to the peers at [\"127.0.0.1:8080\", \"127.0.0.1:8081\"]\n"
        );
        assert_eq!(
            text(
                Event::Sending {
                    text: b"misty walrus 417",
                    to: &[a(1)]
                },
                s
            ),
            "01:02:03 - Sending message [misty walrus 417] to [\"127.0.0.1:1\"]\n"
        );
        assert_eq!(
            text(
                Event::Received {
                    text: b"a\nb\xff",
                    from: a(2),
                    hops: 0,
                },
                s
            ),
            "01:02:03 - Received message [a\\nb\u{fffd}] from \"127.0.0.1:2\"\n"
        );
        assert_eq!(
            text(
                Event::Disconnected {
                    peer: a(3),
                    reason: Reason::Left
                },
                s
            ),
            "01:02:03 - Disconnected from the peer at \"127.0.0.1:3\" (it left)\n"
        );
        assert_eq!(
            text(Event::Connected { peer: a(4) }, s),
            "01:02:03 - Connected to the peer at \"127.0.0.1:4\"\n"
        );
    }

    #[test]
    fn caches_never_serve_a_stale_list() {
        let mut f = Format::new(Style::Text);
        let mut out = Vec::new();
        for to in [&[a(1)][..], &[a(1), a(2)], &[], &[a(2)]] {
            out.clear();
            f.line(&mut out, Duration::ZERO, &Event::Sending { text: b"x", to });
            let want: Vec<String> = to.iter().map(|a| format!("\"{a}\"")).collect();
            let want = format!("00:00:00 - Sending message [x] to [{}]\n", want.join(", "));
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
    }

    #[test]
    fn json_escapes_only_what_json_requires() {
        let mut out = Vec::new();
        push_json_str(&mut out, b"a\"b\\c\n\x01\x7f\xff\xc3\xa9");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\n\\u0001\u{7f}\u{fffd}\u{e9}\""
        );
        let mut f = Format::new(Style::Json);
        let mut out = Vec::new();
        f.line(
            &mut out,
            Duration::from_millis(1500),
            &Event::Received {
                text: b"hi",
                from: a(9),
                hops: 2,
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"event\":\"received\",\"ms\":1500,\"text\":\"hi\",\"from\":\"127.0.0.1:9\",\"hops\":2}\n"
        );
    }
}
