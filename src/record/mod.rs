//! The network key on the wire: a keyed handshake, then authenticated,
//! encrypted records. Sans-IO and pure: bytes in, bytes out; randomness
//! comes from the caller.
//!
//! # Construction
//!
//! The handshake is the Noise protocol framework's
//! `Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s` (the `snow` crate):
//!
//! ```text
//! NNpsk0:
//!   -> psk, e
//!   <- e, ee
//! ```
//!
//! - **The network key is the PSK.** It is mixed in before the initiator's
//!   first message, whose (empty) payload is then encrypted: only a holder
//!   of the key can make a first message the responder accepts, and only a
//!   holder can answer with a second message the initiator accepts.
//! - **Forward secrecy.** Each side makes a fresh X25519 ephemeral key per
//!   connection; the session keys come from their `ee` exchange and the PSK,
//!   so a key file stolen later does not open recorded sessions.
//! - **A ring.** The first message carries no DH, so the responder can try
//!   each key of its ring (at most [`crate::keyring::MAX_KEYS`]) on it for
//!   a few hashes and one AEAD tag each; only the key that fits costs an
//!   X25519 key and one DH. The initiator dials with the primary key.
//! - **Why not XXpsk3?** Static keys would name nodes, but rumor has no node
//!   identities to check them against: the shared key is the whole
//!   credential, and NNpsk0 proves it in one round trip with no static keys
//!   to manage.
//! - **Replays.** A recorded first message replayed to a responder is
//!   accepted (as in any 1-RTT PSK handshake without a clock), but the
//!   replayer cannot compute the session keys (it lacks the initiator's
//!   ephemeral secret): every record it then sends fails to open, so the
//!   responder accepts nothing from it and drops it at its handshake
//!   deadline. The initiator's liveness is proven by its first record (its
//!   sealed HELLO). A replayed second message fails at the initiator.
//!
//! # The bytes
//!
//! Both ends send [`PREAMBLE`] (`"RUMK"`, version 1) as soon as the
//! connection is up, as both send HELLO today; it is the Noise prologue, so
//! it is authenticated too. An unkeyed node reads it as a frame length of
//! 1,381,322,059 bytes (see [`looks_keyed`]), so each side can tell the
//! other what it met.
//!
//! ```text
//! initiator: PREAMBLE | msg1 (32-byte e, 16-byte tag)          53 bytes
//! responder: PREAMBLE                                           5 bytes, at once
//!            then ACCEPT (0) | msg2 (32-byte e, 16-byte tag)   49 bytes
//!            or   REFUSE (1), and it closes (no key of its ring fits;
//!                 the dialer reports KeyRefused, the acceptor WrongKey)
//! then records, each way: len: u16 (big-endian) | ciphertext (len bytes,
//!            16 to 65,535, the last 16 the Poly1305 tag)
//! ```
//!
//! Records use Noise's transport messages: ChaCha20-Poly1305 with a counter
//! nonce per direction, so a replayed, reordered, dropped, truncated or
//! altered record fails to open. The ACCEPT/REFUSE byte is not
//! authenticated; it only lets a refused dialer name the reason (an active
//! attacker could as well reset the connection).
//!
//! # Use
//!
//! See [`Handshake`] and [`Session`]. Until `Done`, nothing from the peer is
//! a frame: the core must not decode, print or relay any byte of a
//! connection before its handshake is done.

pub mod bench;
mod handshake;
mod session;
mod sniff;

pub use handshake::{Handshake, HandshakeError, Step};
pub use session::{RecordError, Session};
pub use sniff::looks_keyed;

/// The four bytes a keyed connection starts with, each way.
pub const MAGIC: [u8; 4] = *b"RUMK";
/// The keyed protocol's version.
pub const VERSION: u8 = 1;
/// What each end sends first: [`MAGIC`] and [`VERSION`].
pub const PREAMBLE: [u8; 5] = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION];
/// The Noise protocol name.
pub const NOISE_PARAMS: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";

/// Bytes of the Poly1305 tag ending every Noise message.
pub const TAG_LEN: usize = 16;
/// Bytes of each handshake message: an X25519 public key and a tag.
pub const HANDSHAKE_MSG_LEN: usize = 32 + TAG_LEN;
/// Most bytes a [`Handshake`] buffers: the longest thing it reads, the
/// responder's preamble, status byte and second message.
pub const HANDSHAKE_CAP: usize = PREAMBLE.len() + 1 + HANDSHAKE_MSG_LEN;

/// Bytes of a record's length field.
pub const RECORD_HEADER: usize = 2;
/// Largest record ciphertext: Noise's message limit.
pub const MAX_RECORD: usize = 65_535;
/// Largest plaintext one record carries.
pub const MAX_RECORD_PLAIN: usize = MAX_RECORD - TAG_LEN;
/// Most bytes a [`Session`] buffers: one unfinished record.
pub const OPEN_CAP: usize = RECORD_HEADER + MAX_RECORD;
/// Bytes a sealed batch costs beyond its plaintext, per record.
pub const RECORD_OVERHEAD: usize = RECORD_HEADER + TAG_LEN;

#[cfg(test)]
mod tests;
