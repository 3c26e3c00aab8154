//! Standard base64 (RFC 4648, alphabet `A-Za-z0-9+/`, `=` padding), just
//! enough for network keys: [`encode`] and a total, strict [`decode`].
//!
//! Our own rather than the `base64` crate: a key file needs a few dozen
//! lines of it, not a general engine, and this is not cryptography (it only
//! spells bytes). [`decode`] never panics and accepts only the canonical
//! spelling: a length that is a multiple of 4, padding only at the end, and
//! zero bits past the last byte, so one key has exactly one spelling.

use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Why a string is not canonical base64. Positions are 1-based character
/// columns; an error never carries the text itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base64Error {
    /// The length is not a multiple of 4.
    Length(usize),
    /// A character outside the alphabet (or `=` before the end).
    Char(usize),
    /// Bits past the last byte are not zero: not the canonical spelling.
    NonCanonical,
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base64Error::Length(n) => write!(f, "{n} characters is not a base64 length"),
            Base64Error::Char(col) => write!(f, "character {col} is not base64"),
            Base64Error::NonCanonical => {
                f.write_str("its last characters are not the canonical base64 spelling")
            }
        }
    }
}

/// `bytes` in standard, padded base64.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes canonical standard base64. Allocates at most `text.len() / 4 * 3`
/// bytes.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base64Error> {
    if !text.len().is_multiple_of(4) {
        return Err(Base64Error::Length(text.len()));
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let groups = text.len() / 4;
    for (g, group) in text.chunks_exact(4).enumerate() {
        let last = g + 1 == groups;
        // Padding: only in the last group, only in its last two places.
        let pad = if last {
            group.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return Err(Base64Error::Char(g * 4 + 4 - pad + 1));
        }
        let mut n = 0u32;
        for (i, &c) in group[..4 - pad].iter().enumerate() {
            let v = value(c).ok_or(Base64Error::Char(g * 4 + i + 1))?;
            n = n << 6 | v;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = 3 - pad;
        if bytes[keep..].iter().any(|&b| b != 0) {
            return Err(Base64Error::NonCanonical);
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let vectors: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (bytes, text) in vectors {
            assert_eq!(encode(bytes), text);
            assert_eq!(decode(text.as_bytes()).unwrap(), bytes, "{text}");
        }
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            let text = encode(&all[..len]);
            assert_eq!(decode(text.as_bytes()).unwrap(), &all[..len]);
        }
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn refuses_what_is_not_canonical() {
        assert_eq!(decode(b"Zg="), Err(Base64Error::Length(3)));
        assert_eq!(decode(b"Zg=a"), Err(Base64Error::Char(3)));
        assert_eq!(decode(b"Z==="), Err(Base64Error::Char(2)));
        assert_eq!(decode(b"===="), Err(Base64Error::Char(1)));
        assert_eq!(decode(b"Zg==Zg=="), Err(Base64Error::Char(3)));
        assert_eq!(decode(b"Zm9v Zg="), Err(Base64Error::Char(5)));
        assert_eq!(decode(b"Zm-v"), Err(Base64Error::Char(3)));
        assert_eq!(decode(b"Zm9v\xe9123"), Err(Base64Error::Char(5)));
        // "Zh==" and "Zm9=" carry bits past the last byte.
        assert_eq!(decode(b"Zh=="), Err(Base64Error::NonCanonical));
        assert_eq!(decode(b"Zm9="), Err(Base64Error::NonCanonical));
    }

    #[test]
    fn decode_is_total_on_short_inputs() {
        // Every string of up to 4 characters from a mixed alphabet: never a
        // panic, and whatever decodes re-encodes to the same text.
        let chars = b"A/+=z9\0\xff";
        let mut buf = Vec::new();
        for len in 0..=4u32 {
            for i in 0..chars.len().pow(len) {
                buf.clear();
                let mut k = i;
                for _ in 0..len {
                    buf.push(chars[k % chars.len()]);
                    k /= chars.len();
                }
                if let Ok(bytes) = decode(&buf) {
                    assert_eq!(encode(&bytes).as_bytes(), &buf[..]);
                }
            }
        }
    }
}
