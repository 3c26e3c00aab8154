//! The keyed handshake, one per connection: [`Handshake::initiator`] for a
//! connection we dialed, [`Handshake::responder`] for one we accepted.
//!
//! ```text
//! let (mut hs, first) = Handshake::initiator(&ring, entropy);  // or responder
//! send(first);
//! on bytes: match hs.read(bytes) {
//!     Ok(Step::NeedMore) => {}
//!     Ok(Step::Done { session, reply, leftover }) => {
//!         send(reply);                        // empty for the initiator
//!         session.open(&leftover, &mut plain) // then frames as before
//!     }
//!     Err(e) => { send(hs.farewell()); close, saying e }
//! }
//! ```

use std::fmt;

use snow::params::{HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use snow::{Builder, HandshakeState};

use super::sniff::{SNIFF_MAX, Sniff, sniff};
use super::{HANDSHAKE_CAP, HANDSHAKE_MSG_LEN, NOISE_PARAMS, PREAMBLE, Session};
use crate::keyring::{Key, KeyRing};

/// The responder's status byte: it accepted the first message.
const ACCEPT: u8 = 0;
/// The responder's status byte: no key of its ring fits.
const REFUSE: u8 = 1;

/// Why a handshake failed; `Display` is one line for stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// A keyed rumor peer whose key is none of our ring's (the responder's
    /// view: no key fits its first message).
    WrongKey,
    /// The responder found our primary key in none of its ring (the
    /// initiator's view of a wrong key).
    KeyRefused,
    /// An unkeyed rumor node: its first bytes are a plain HELLO frame.
    Unkeyed,
    /// A host of the older text protocol (digits and `:`, or its reply
    /// `Message received`), which is off with a network key.
    TextHost,
    /// A keyed rumor node of another keyed-protocol version.
    Version(u8),
    /// The responder's reply fails authentication: replayed or altered.
    Forged,
    /// Bytes that are no rumor handshake.
    Garbage,
    /// `read` after the handshake was done (a bug in the caller).
    Spent,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::WrongKey => {
                f.write_str("the peer's network key is not in our key ring")
            }
            HandshakeError::KeyRefused => {
                f.write_str("the peer refused our network key (our primary key is not in its ring)")
            }
            HandshakeError::Unkeyed => {
                f.write_str("the peer runs without a network key (we need one)")
            }
            HandshakeError::TextHost => f.write_str(
                "the peer speaks the older text protocol, which is off with a network key",
            ),
            HandshakeError::Version(v) => write!(
                f,
                "the peer speaks keyed protocol version {v}, we speak {}",
                super::VERSION
            ),
            HandshakeError::Forged => f.write_str(
                "the peer's handshake reply failed authentication (replayed or altered)",
            ),
            HandshakeError::Garbage => {
                f.write_str("the peer's first bytes are not a rumor handshake")
            }
            HandshakeError::Spent => f.write_str("the handshake was already done"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// What a [`Handshake::read`] came to.
#[derive(Debug)]
pub enum Step {
    /// Keep reading.
    NeedMore,
    /// Both ends hold the session keys. Send `reply` (the responder's
    /// second message; empty for the initiator), then feed `leftover` (bytes
    /// that came after the handshake) to [`Session::open`].
    Done {
        session: Box<Session>,
        reply: Vec<u8>,
        leftover: Vec<u8>,
    },
}

enum Role {
    /// Waiting for the responder's reply to our first message.
    Initiator {
        state: Box<HandshakeState>,
        key: Key,
    },
    /// Waiting for the initiator's first message; tries each key.
    Responder {
        keys: Vec<Key>,
        entropy: [u8; 32],
    },
    Spent,
}

/// One connection's handshake. Buffers at most [`HANDSHAKE_CAP`] bytes.
pub struct Handshake {
    role: Role,
    buf: Vec<u8>,
    failed: Option<HandshakeError>,
    farewell: &'static [u8],
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.role {
            Role::Initiator { .. } => "initiator",
            Role::Responder { .. } => "responder",
            Role::Spent => "spent",
        };
        f.debug_struct("Handshake")
            .field("role", &role)
            .field("buffered", &self.buf.len())
            .field("failed", &self.failed)
            .finish()
    }
}

fn builder(key: &Key, entropy: [u8; 32]) -> Builder<'_> {
    let params: NoiseParams = NOISE_PARAMS.parse().expect("a valid Noise protocol name");
    Builder::with_resolver(params, Box::new(Entropy(entropy)))
        .prologue(&PREAMBLE)
        .expect("a prologue is always accepted")
        .psk(0, &key.0)
        .expect("psk0 fits NNpsk0")
}

impl Handshake {
    /// Starts the handshake of a connection we dialed, with the ring's
    /// primary key. `entropy` seeds the ephemeral key: 32 bytes from the OS
    /// ([`crate::keyfile::os_entropy`]) in a real node, never reused. Returns
    /// the bytes to send at once.
    pub fn initiator(ring: &KeyRing, entropy: [u8; 32]) -> (Handshake, Vec<u8>) {
        let key = ring.primary().clone();
        let mut state = builder(&key, entropy)
            .build_initiator()
            .expect("the default resolver has every NNpsk0 primitive");
        let mut first = Vec::with_capacity(PREAMBLE.len() + HANDSHAKE_MSG_LEN);
        first.extend_from_slice(&PREAMBLE);
        let mut msg = [0u8; HANDSHAKE_MSG_LEN];
        let n = state
            .write_message(&[], &mut msg)
            .expect("the first message fits its buffer");
        debug_assert_eq!(n, HANDSHAKE_MSG_LEN);
        first.extend_from_slice(&msg[..n]);
        let hs = Handshake {
            role: Role::Initiator {
                state: Box::new(state),
                key,
            },
            buf: Vec::new(),
            failed: None,
            farewell: &[],
        };
        (hs, first)
    }

    /// Starts the handshake of a connection we accepted; it will accept a
    /// first message made with any key of `ring`. Returns the bytes to send
    /// at once (the preamble).
    pub fn responder(ring: &KeyRing, entropy: [u8; 32]) -> (Handshake, Vec<u8>) {
        let hs = Handshake {
            role: Role::Responder {
                keys: ring.keys().to_vec(),
                entropy,
            },
            buf: Vec::new(),
            failed: None,
            farewell: &[],
        };
        (hs, PREAMBLE.to_vec())
    }

    /// Bytes held so far (at most [`HANDSHAKE_CAP`]).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// After an error: bytes to send (best effort) before closing, so the
    /// peer can name the reason too. Empty but for a responder refusing a
    /// dialer's key.
    pub fn farewell(&self) -> &'static [u8] {
        self.farewell
    }

    /// Feeds bytes as read from the socket, split anywhere. After `Done` or
    /// an error the handshake is spent: later calls return an error.
    pub fn read(&mut self, input: &[u8]) -> Result<Step, HandshakeError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let take = input.len().min(HANDSHAKE_CAP - self.buf.len());
        self.buf.extend_from_slice(&input[..take]);
        let rest = &input[take..];
        match self.step(rest) {
            Ok(step) => Ok(step),
            Err(e) => {
                self.failed = Some(e);
                self.buf = Vec::new();
                self.role = Role::Spent;
                Err(e)
            }
        }
    }

    fn step(&mut self, rest: &[u8]) -> Result<Step, HandshakeError> {
        match sniff(&self.buf[..self.buf.len().min(SNIFF_MAX)]) {
            Sniff::Wait => return Ok(Step::NeedMore),
            Sniff::Keyed => {}
            Sniff::Unkeyed => return Err(HandshakeError::Unkeyed),
            Sniff::TextHost => return Err(HandshakeError::TextHost),
            Sniff::Version(v) => return Err(HandshakeError::Version(v)),
            Sniff::Garbage => return Err(HandshakeError::Garbage),
        }
        let body = &self.buf[PREAMBLE.len()..];
        let (session, reply, used) = match &mut self.role {
            Role::Spent => return Err(HandshakeError::Spent),
            Role::Initiator { state, key } => {
                match body.first() {
                    None => return Ok(Step::NeedMore),
                    Some(&REFUSE) => return Err(HandshakeError::KeyRefused),
                    Some(&ACCEPT) => {}
                    Some(_) => return Err(HandshakeError::Garbage),
                }
                let Some(msg) = body.get(1..1 + HANDSHAKE_MSG_LEN) else {
                    return Ok(Step::NeedMore);
                };
                let mut payload = [0u8; HANDSHAKE_MSG_LEN];
                if !matches!(state.read_message(msg, &mut payload), Ok(0)) {
                    return Err(HandshakeError::Forged);
                }
                let key = key.clone();
                let Role::Initiator { state, .. } = std::mem::replace(&mut self.role, Role::Spent)
                else {
                    unreachable!("matched above")
                };
                let transport = state
                    .into_transport_mode()
                    .map_err(|_| HandshakeError::Forged)?;
                (
                    Session::new(transport, key, 0),
                    Vec::new(),
                    1 + HANDSHAKE_MSG_LEN,
                )
            }
            Role::Responder { keys, entropy } => {
                let Some(msg) = body.get(..HANDSHAKE_MSG_LEN) else {
                    return Ok(Step::NeedMore);
                };
                let Some((index, mut state)) = keys.iter().enumerate().find_map(|(i, key)| {
                    let mut state = builder(key, *entropy).build_responder().ok()?;
                    let mut payload = [0u8; HANDSHAKE_MSG_LEN];
                    matches!(state.read_message(msg, &mut payload), Ok(0)).then_some((i, state))
                }) else {
                    self.farewell = &[REFUSE];
                    return Err(HandshakeError::WrongKey);
                };
                let mut reply = vec![0u8; 1 + HANDSHAKE_MSG_LEN];
                reply[0] = ACCEPT;
                let n = state
                    .write_message(&[], &mut reply[1..])
                    .map_err(|_| HandshakeError::Garbage)?;
                reply.truncate(1 + n);
                let transport = state
                    .into_transport_mode()
                    .map_err(|_| HandshakeError::Garbage)?;
                let key = keys[index].clone();
                self.role = Role::Spent;
                (
                    Session::new(transport, key, index),
                    reply,
                    HANDSHAKE_MSG_LEN,
                )
            }
        };
        let mut leftover = self.buf[PREAMBLE.len() + used..].to_vec();
        leftover.extend_from_slice(rest);
        self.buf = Vec::new();
        self.failed = Some(HandshakeError::Spent);
        Ok(Step::Done {
            session: Box::new(session),
            reply,
            leftover,
        })
    }
}

/// snow's own primitives, with the randomness taken from the caller: the
/// ephemeral key is drawn from a BLAKE2s stream of the 32 entropy bytes, so
/// the same entropy makes the same handshake (tests, simulator, fuzzing) and
/// OS entropy makes a fresh one (the node).
struct Entropy([u8; 32]);

impl CryptoResolver for Entropy {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        let hash = DefaultResolver.resolve_hash(&HashChoice::Blake2s)?;
        Some(Box::new(Stream {
            seed: self.0,
            hash,
            counter: 0,
        }))
    }

    fn resolve_dh(&self, choice: &snow::params::DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        // Only BLAKE2s: with the choice a constant, the other hashes snow
        // knows are not linked in.
        match choice {
            HashChoice::Blake2s => DefaultResolver.resolve_hash(&HashChoice::Blake2s),
            _ => None,
        }
    }

    fn resolve_cipher(&self, choice: &snow::params::CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

/// BLAKE2s(seed | counter) blocks, counter from 0.
struct Stream {
    seed: [u8; 32],
    hash: Box<dyn Hash>,
    counter: u64,
}

impl Random for Stream {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        for chunk in dest.chunks_mut(32) {
            let mut block = [0u8; 64];
            self.hash.reset();
            self.hash.input(&self.seed);
            self.hash.input(&self.counter.to_le_bytes());
            self.hash.result(&mut block);
            self.counter += 1;
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}
