//! The network key ring: the text of a key file, parsed (pure, no I/O; the
//! file itself is read by [`crate::keyfile`]).
//!
//! The format, one item a line:
//!
//! ```text
//! # rumor network keys: the first key is the primary
//! 8d0W0nq0o3m4l+0rX0pZ5qS3TzB3mYcJxq4nR1hF6zE=
//! qN3C0o7xkQf7y5c5bq0aQy0l8hEJm2b1WcBq9pY4n0M=
//! ```
//!
//! - each key is 32 bytes in standard padded base64 (44 characters, as
//!   `rumor keygen` prints it), alone on its line; spaces, tabs and a `\r`
//!   around it are ignored;
//! - blank lines and lines whose first non-blank character is `#` are
//!   skipped, so a ring can say which key is which (a comment is never on
//!   the same line as a key);
//! - the first key is the primary (the one a node dials with); a node
//!   accepts peers with any key of the ring;
//! - at least one key, at most [`MAX_KEYS`]; the same key twice is an error.
//!
//! Errors name the line and what is wrong with it, and never contain key
//! material; `Debug` of a ring or a key prints no key bytes either.

use std::fmt;

use crate::base64::{self, Base64Error};

/// Bytes of one network key.
pub const KEY_LEN: usize = 32;
/// Most keys one ring may hold. It bounds what an accepted connection's
/// first message can cost: the responder tries each key once.
pub const MAX_KEYS: usize = 16;

/// One 32-byte network key. Its `Debug` does not show the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub [u8; KEY_LEN]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// The key as `rumor keygen` prints it.
    pub fn to_base64(&self) -> String {
        base64::encode(&self.0)
    }
}

/// A non-empty list of distinct keys, the first one the primary.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({} keys)", self.keys.len())
    }
}

/// What is wrong with a key ring's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRingError {
    /// No key at all (only blank lines and comments, or nothing).
    Empty,
    /// More than [`MAX_KEYS`] keys; `line` holds the first one too many.
    TooMany { line: usize },
    /// A line (1-based) that is not a key.
    Line { line: usize, problem: LineProblem },
    /// A key already on an earlier line.
    Duplicate { line: usize, first: usize },
}

/// Why one line is not a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineProblem {
    /// Not base64 at all.
    Base64(Base64Error),
    /// Valid base64 of the wrong number of bytes.
    Length(usize),
}

impl fmt::Display for KeyRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRingError::Empty => f.write_str("no key in it (expected one base64 key a line)"),
            KeyRingError::TooMany { line } => {
                write!(f, "line {line}: more than {MAX_KEYS} keys")
            }
            KeyRingError::Line { line, problem } => {
                write!(f, "line {line}: not a key: ")?;
                match problem {
                    LineProblem::Base64(Base64Error::Length(n)) => write!(
                        f,
                        "{n} characters, expected 44 of base64 (as `rumor keygen` prints)"
                    ),
                    LineProblem::Base64(e) => write!(f, "{e}"),
                    LineProblem::Length(n) => {
                        write!(
                            f,
                            "{n} bytes, expected {KEY_LEN} (as `rumor keygen` prints)"
                        )
                    }
                }
            }
            KeyRingError::Duplicate { line, first } => {
                write!(f, "line {line}: the same key as line {first}")
            }
        }
    }
}

impl std::error::Error for KeyRingError {}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_blank(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_blank(*last) {
            break;
        }
        s = rest;
    }
    s
}

impl KeyRing {
    /// A ring of the given keys, the first the primary.
    pub fn new(keys: Vec<Key>) -> Result<KeyRing, KeyRingError> {
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        if keys.len() > MAX_KEYS {
            return Err(KeyRingError::TooMany { line: MAX_KEYS + 1 });
        }
        for (i, k) in keys.iter().enumerate() {
            if let Some(first) = keys[..i].iter().position(|e| e == k) {
                return Err(KeyRingError::Duplicate {
                    line: i + 1,
                    first: first + 1,
                });
            }
        }
        Ok(KeyRing { keys })
    }

    /// Parses a key file's text (bytes, so a stray non-UTF-8 byte is a
    /// plain "not base64" error on its line).
    pub fn parse(text: &[u8]) -> Result<KeyRing, KeyRingError> {
        let mut keys: Vec<Key> = Vec::new();
        let mut lines_of: Vec<usize> = Vec::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let s = trim(raw);
            if s.is_empty() || s[0] == b'#' {
                continue;
            }
            if keys.len() == MAX_KEYS {
                return Err(KeyRingError::TooMany { line });
            }
            let problem = |problem| KeyRingError::Line { line, problem };
            // A key is 44 characters: refuse anything much longer before
            // decoding it, so a huge line costs nothing.
            if s.len() > 4 * KEY_LEN {
                return Err(problem(LineProblem::Base64(Base64Error::Length(s.len()))));
            }
            let bytes = base64::decode(s).map_err(|e| problem(LineProblem::Base64(e)))?;
            let key: [u8; KEY_LEN] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| problem(LineProblem::Length(bytes.len())))?;
            let key = Key(key);
            if let Some(k) = keys.iter().position(|e| *e == key) {
                return Err(KeyRingError::Duplicate {
                    line,
                    first: lines_of[k],
                });
            }
            keys.push(key);
            lines_of.push(line);
        }
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(KeyRing { keys })
    }

    /// The key a node dials with.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// Every key, the primary first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Where `key` is in this ring, if it is.
    pub fn position(&self, key: &Key) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key([b; KEY_LEN])
    }

    fn line(b: u8) -> String {
        key(b).to_base64()
    }

    #[test]
    fn keys_in_order_with_comments_and_blanks() {
        let text = format!(
            "# the ring\n\n  {}  \r\n\t# old key, remove after the rotation\n{}\n",
            line(1),
            line(2)
        );
        let ring = KeyRing::parse(text.as_bytes()).unwrap();
        assert_eq!(ring.keys(), &[key(1), key(2)]);
        assert_eq!(ring.primary(), &key(1));
        assert_eq!(ring.position(&key(2)), Some(1));
        assert_eq!(ring.position(&key(3)), None);
        // No trailing newline, CRLF endings.
        let text = format!("{}\r\n{}", line(3), line(4));
        assert_eq!(KeyRing::parse(text.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn a_keygen_line_parses() {
        let k = Key(*b"0123456789abcdef0123456789ABCDEF");
        let ring = KeyRing::parse(format!("{}\n", k.to_base64()).as_bytes()).unwrap();
        assert_eq!(ring.primary(), &k);
        assert_eq!(k.to_base64().len(), 44);
    }

    #[test]
    fn errors_name_the_line_and_never_the_key() {
        let err = |text: String| KeyRing::parse(text.as_bytes()).unwrap_err();
        let k1 = line(1);
        assert_eq!(err(String::new()), KeyRingError::Empty);
        assert_eq!(err("# only a comment\n\n".into()), KeyRingError::Empty);
        let e = err(format!("{k1}\n\n{}\n", &k1[..43]));
        assert_eq!(
            e,
            KeyRingError::Line {
                line: 3,
                problem: LineProblem::Base64(Base64Error::Length(43))
            }
        );
        assert_eq!(
            e.to_string(),
            "line 3: not a key: 43 characters, expected 44 of base64 (as `rumor keygen` prints)"
        );
        // 48 characters of valid base64 is 36 bytes.
        let e = err(format!("{}\n", base64::encode(&[1; 36])));
        assert_eq!(
            e.to_string(),
            "line 1: not a key: 36 bytes, expected 32 (as `rumor keygen` prints)"
        );
        let mut bad = k1.clone();
        bad.replace_range(10..11, "!");
        let e = err(format!("\n{bad}\n"));
        assert_eq!(
            e.to_string(),
            "line 2: not a key: character 11 is not base64"
        );
        assert!(!e.to_string().contains(&k1[..10]));
        // A key with a comment on its line is not a key.
        let e = err(format!("{k1} # primary\n"));
        assert!(matches!(e, KeyRingError::Line { line: 1, .. }), "{e:?}");
        let e = err(format!("{k1}\n{}\n{k1}\n", line(2)));
        assert_eq!(e, KeyRingError::Duplicate { line: 3, first: 1 });
        assert_eq!(e.to_string(), "line 3: the same key as line 1");
        let e = err(format!("{k1}\n\u{0}\u{ff}\n"));
        assert!(matches!(e, KeyRingError::Line { line: 2, .. }), "{e:?}");
        // A huge line is refused by its length.
        let e = err("A".repeat(1 << 20));
        assert!(
            e.to_string()
                .starts_with("line 1: not a key: 1048576 characters")
        );
    }

    #[test]
    fn at_most_max_keys() {
        let lines: Vec<String> = (0..=MAX_KEYS as u8).map(line).collect();
        let ok = lines[..MAX_KEYS].join("\n");
        assert_eq!(KeyRing::parse(ok.as_bytes()).unwrap().len(), MAX_KEYS);
        let too_many = format!("# c\n{}", lines.join("\n"));
        assert_eq!(
            KeyRing::parse(too_many.as_bytes()).unwrap_err(),
            KeyRingError::TooMany { line: MAX_KEYS + 2 }
        );
        let keys: Vec<Key> = (0..=MAX_KEYS as u8).map(key).collect();
        assert!(KeyRing::new(keys[..MAX_KEYS].to_vec()).is_ok());
        assert!(KeyRing::new(keys).is_err());
        assert_eq!(KeyRing::new(vec![]).unwrap_err(), KeyRingError::Empty);
        assert_eq!(
            KeyRing::new(vec![key(1), key(1)]).unwrap_err(),
            KeyRingError::Duplicate { line: 2, first: 1 }
        );
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let ring = KeyRing::new(vec![key(0xab)]).unwrap();
        assert_eq!(format!("{ring:?}"), "KeyRing(1 keys)");
        assert_eq!(format!("{:?}", ring.primary()), "Key(..)");
    }
}
