//! A text host for tests, written from the older program's README: the
//! plain-text protocol of the node rumor replaces (issue 14).
//!
//! What the README says, and what this does:
//!
//! - "The server runs in a background thread, listening for incoming TCP
//!   connections": one thread accepts connections one at a time.
//! - It reads at most 4,096 bytes per connection: one `read` into a
//!   4,096-byte buffer, whatever that returns is the message.
//! - "When it receives a message, it extracts the sender's listening port
//!   and adds them to its known_hosts list": `PORT:MESSAGE`, split at the
//!   first `:`, the port parsed as a `u16`; the host `(sender IP, PORT)` is
//!   added once. Anything else is recorded as malformed (the older program
//!   logs it) and no host is learned.
//! - It replies `Message received` (16 bytes, no newline), also to a
//!   malformed message, and closes.
//! - "[The client] broadcasts that message to every node currently in its
//!   known_hosts list": for each, a new connection, `PORT:TEXT` in one
//!   write with no newline, read the reply, close.
//! - `--bootstrap` puts one address in known_hosts at start.
//!
//! The older program binds every interface and is IPv4-only; this one binds
//! 127.0.0.1 only. Unlike it, reads and writes have a 10 s timeout so a
//! broken test cannot hang.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The reply to every message.
pub const REPLY: &[u8] = b"Message received";
/// The most bytes one read takes.
pub const READ_MAX: usize = 4096;
/// Test safety net on every socket operation.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection the host served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    /// `PORT:MESSAGE` from the connection's IP.
    Message {
        from: IpAddr,
        port: u16,
        text: Vec<u8>,
    },
    /// Anything else (the older program logs a malformed message).
    Malformed { from: SocketAddr, bytes: Vec<u8> },
}

impl Got {
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Got::Message { text, .. } => Some(text),
            Got::Malformed { .. } => None,
        }
    }
}

#[derive(Default)]
struct State {
    got: Vec<Got>,
    known: Vec<SocketAddr>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A running text host.
pub struct TextHost {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Parses a message as the older program does: split at the first `:`, the
/// port with `str::parse::<u16>`.
pub fn parse(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let colon = bytes.iter().position(|&b| b == b':')?;
    let port = std::str::from_utf8(&bytes[..colon]).ok()?.parse().ok()?;
    Some((port, &bytes[colon + 1..]))
}

impl TextHost {
    /// Starts a host on 127.0.0.1 (a free port), knowing `bootstrap`.
    pub fn start(bootstrap: Option<SocketAddr>) -> TextHost {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        shared.state.lock().unwrap().known.extend(bootstrap);
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    serve(conn, &s);
                }
            }
        });
        TextHost {
            addr,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Everything served so far, in order.
    pub fn got(&self) -> Vec<Got> {
        self.shared.state.lock().unwrap().got.clone()
    }

    /// The texts of the valid messages so far, in order.
    pub fn texts(&self) -> Vec<Vec<u8>> {
        self.got()
            .iter()
            .filter_map(|g| g.text().map(<[u8]>::to_vec))
            .collect()
    }

    pub fn known_hosts(&self) -> Vec<SocketAddr> {
        self.shared.state.lock().unwrap().known.clone()
    }

    /// Waits until `pred` holds over what was served, up to `limit`.
    pub fn wait(&self, limit: Duration, mut pred: impl FnMut(&[Got]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            if pred(&st.got) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Sends `text` to every known host, one after the other, as the older
    /// client does; returns each host's reply (or the error).
    pub fn broadcast(&self, text: &[u8]) -> Vec<(SocketAddr, io::Result<Vec<u8>>)> {
        self.known_hosts()
            .into_iter()
            .map(|to| (to, send_text(to, self.port(), text)))
            .collect()
    }
}

impl Drop for TextHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, shared: &Shared) {
    let Ok(from) = conn.peer_addr() else { return };
    let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
    let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
    let mut buf = [0u8; READ_MAX];
    let n = conn.read(&mut buf).unwrap_or(0);
    let bytes = &buf[..n];
    let got = match parse(bytes) {
        Some((port, text)) => Got::Message {
            from: from.ip(),
            port,
            text: text.to_vec(),
        },
        None => Got::Malformed {
            from,
            bytes: bytes.to_vec(),
        },
    };
    let _ = conn.write_all(REPLY);
    let _ = conn.shutdown(Shutdown::Both);
    let mut st = shared.state.lock().unwrap();
    if let Got::Message { from, port, .. } = got {
        let host = SocketAddr::new(from, port);
        if !st.known.contains(&host) {
            st.known.push(host);
        }
    }
    st.got.push(got);
    shared.changed.notify_all();
}

/// Sends one message as the older client does: connect to `to`, write
/// `PORT:TEXT` in one write (no newline), read the reply until the host
/// closes (at most 4,096 bytes), close. Returns the reply.
pub fn send_text(to: SocketAddr, port: u16, text: &[u8]) -> io::Result<Vec<u8>> {
    let mut conn = TcpStream::connect_timeout(&to, IO_TIMEOUT)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let msg = [format!("{port}:").as_bytes(), text].concat();
    conn.write_all(&msg)?;
    let mut reply = Vec::new();
    conn.take(READ_MAX as u64).read_to_end(&mut reply)?;
    Ok(reply)
}
