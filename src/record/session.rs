//! A connection after its handshake: [`Session::seal`] turns plaintext into
//! records, [`Session::open`] turns records back into plaintext.

use std::fmt;

use snow::TransportState;

use super::{MAX_RECORD, MAX_RECORD_PLAIN, OPEN_CAP, RECORD_HEADER, TAG_LEN};
use crate::keyring::{Key, KeyRing};

/// Why records stopped opening. The session is then dead: every later call
/// returns the same error, and the connection must close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// A length field shorter than a tag: not a record.
    Short(usize),
    /// A record that fails authentication: altered, replayed, reordered,
    /// cut short, or not from this session.
    Forged,
    /// 2^64 - 1 records one way: the nonce counter is used up.
    Exhausted,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Short(n) => {
                write!(
                    f,
                    "a record of {n} bytes is shorter than its {TAG_LEN}-byte tag"
                )
            }
            RecordError::Forged => f.write_str(
                "a record failed authentication (altered, replayed, reordered or forged)",
            ),
            RecordError::Exhausted => f.write_str("the session's record counter is used up"),
        }
    }
}

impl std::error::Error for RecordError {}

/// One connection's keys and record reader, from a finished
/// [`super::Handshake`].
pub struct Session {
    transport: TransportState,
    /// The ring key the handshake used, and its index then.
    key: Key,
    key_index: usize,
    /// One unfinished record, header included; empty (no allocation)
    /// between records.
    partial: Vec<u8>,
    failed: Option<RecordError>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("key_index", &self.key_index)
            .field("buffered", &self.partial.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(super) fn new(transport: TransportState, key: Key, key_index: usize) -> Self {
        Session {
            transport,
            key,
            key_index,
            partial: Vec::new(),
            failed: None,
        }
    }

    /// Index in the handshake's ring of the key this session was made with
    /// (0: the primary).
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// Where this session's key is in `ring` (a reloaded one), or `None`:
    /// the key was removed, and the connection must be re-established.
    pub fn key_in(&self, ring: &KeyRing) -> Option<usize> {
        ring.position(&self.key)
    }

    /// Bytes held of an unfinished record: not 0 at the end of the stream
    /// means the stream was cut inside a record.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Allocated capacity of the record buffer, for memory accounting.
    pub fn capacity(&self) -> usize {
        self.partial.capacity()
    }

    /// Appends `plain` to `out` as records: one record for up to
    /// [`MAX_RECORD_PLAIN`] bytes, so seal a whole write batch at once
    /// (each record costs [`super::RECORD_OVERHEAD`] bytes). Empty `plain`
    /// appends nothing. On error `out` is as it was.
    pub fn seal(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let start = out.len();
        out.reserve(plain.len() + plain.len().div_ceil(MAX_RECORD_PLAIN) * super::RECORD_OVERHEAD);
        for chunk in plain.chunks(MAX_RECORD_PLAIN) {
            let at = out.len();
            let len = chunk.len() + TAG_LEN;
            out.extend_from_slice(&(len as u16).to_be_bytes());
            out.resize(at + RECORD_HEADER + len, 0);
            if self
                .transport
                .write_message(chunk, &mut out[at + RECORD_HEADER..])
                .is_err()
            {
                out.truncate(start);
                return Err(self.fail(RecordError::Exhausted));
            }
        }
        Ok(())
    }

    /// Feeds bytes as read from the socket, split anywhere, and appends the
    /// plaintext of every record they complete to `plain_out`. At most one
    /// unfinished record is held ([`OPEN_CAP`] bytes); a whole record in
    /// `input` is opened straight from it. On error, `plain_out` holds the
    /// plaintext of the records before the bad one (they were authentic).
    pub fn open(&mut self, mut input: &[u8], plain_out: &mut Vec<u8>) -> Result<(), RecordError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        while !self.partial.is_empty() && !input.is_empty() {
            let want = match record_len(&self.partial) {
                Ok(Some(len)) => RECORD_HEADER + len,
                Ok(None) => RECORD_HEADER,
                Err(e) => return Err(self.fail(e)),
            };
            let take = (want - self.partial.len()).min(input.len());
            self.partial.extend_from_slice(&input[..take]);
            input = &input[take..];
            if want > RECORD_HEADER && self.partial.len() == want {
                let record = std::mem::take(&mut self.partial);
                self.open_one(&record[RECORD_HEADER..], plain_out)?;
            }
        }
        if !self.partial.is_empty() {
            // `input` is used up; a header just completed is checked now.
            return match record_len(&self.partial) {
                Err(e) => Err(self.fail(e)),
                Ok(_) => Ok(()),
            };
        }
        loop {
            match record_len(input) {
                Ok(Some(len)) if input.len() >= RECORD_HEADER + len => {
                    self.open_one(&input[RECORD_HEADER..RECORD_HEADER + len], plain_out)?;
                    input = &input[RECORD_HEADER + len..];
                }
                Ok(_) => {
                    if !input.is_empty() {
                        debug_assert!(input.len() < OPEN_CAP);
                        self.partial = input.to_vec();
                    }
                    return Ok(());
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn open_one(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        debug_assert!((TAG_LEN..=MAX_RECORD).contains(&ciphertext.len()));
        let at = out.len();
        out.resize(at + ciphertext.len() - TAG_LEN, 0);
        match self.transport.read_message(ciphertext, &mut out[at..]) {
            Ok(n) => {
                out.truncate(at + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(at);
                let e = match e {
                    snow::Error::State(snow::error::StateProblem::Exhausted) => {
                        RecordError::Exhausted
                    }
                    _ => RecordError::Forged,
                };
                Err(self.fail(e))
            }
        }
    }

    fn fail(&mut self, e: RecordError) -> RecordError {
        self.failed = Some(e);
        self.partial = Vec::new();
        e
    }
}

/// The ciphertext length of the record `buf` starts with, once its header
/// is in.
fn record_len(buf: &[u8]) -> Result<Option<usize>, RecordError> {
    let [a, b, ..] = *buf else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([a, b]));
    if len < TAG_LEN {
        return Err(RecordError::Short(len));
    }
    Ok(Some(len))
}
