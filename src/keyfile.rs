//! The OS side of the network key: reading a key file (`--key-file FILE`
//! or `RUMOR_KEY_FILE`), and the operating system's random source for new
//! keys (`rumor keygen`) and for each handshake's ephemeral key.
//!
//! A key file is refused, with a one-line error, when it is missing or
//! unreadable, not a regular file, larger than [`MAX_KEY_FILE`], not a key
//! ring ([`crate::keyring`]), or open to other users: like ssh with a
//! private key, any permission bit for group or others (`mode & 0o077`) is
//! refused with the `chmod` that fixes it. The mode is checked on the opened
//! file, so it is the file read that was checked.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::keyring::{KEY_LEN, Key, KeyRing, KeyRingError};

/// Largest key file read: 16 keys with long comments fit many times over.
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// Why a key file was refused. `Display` is one line naming the file.
#[derive(Debug)]
pub enum KeyFileError {
    /// Missing, unreadable, a directory, ...
    Io {
        path: PathBuf,
        error: io::Error,
    },
    NotAFile {
        path: PathBuf,
    },
    TooLarge {
        path: PathBuf,
    },
    /// Readable, writable or executable by group or others.
    TooOpen {
        path: PathBuf,
        mode: u32,
    },
    Malformed {
        path: PathBuf,
        error: KeyRingError,
    },
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::Io { path, error } => {
                write!(f, "cannot read key file '{}': {error}", path.display())
            }
            KeyFileError::NotAFile { path } => {
                write!(f, "key file '{}' is not a regular file", path.display())
            }
            KeyFileError::TooLarge { path } => write!(
                f,
                "key file '{}' is over {MAX_KEY_FILE} bytes; it should hold one key a line",
                path.display()
            ),
            KeyFileError::TooOpen { path, mode } => write!(
                f,
                "permissions {mode:04o} for '{p}' are too open; run: chmod 600 {p}",
                p = path.display()
            ),
            KeyFileError::Malformed { path, error } => {
                write!(f, "key file '{}': {error}", path.display())
            }
        }
    }
}

impl std::error::Error for KeyFileError {}

/// Reads and checks the key ring in `path`.
pub fn load(path: &Path) -> Result<KeyRing, KeyFileError> {
    let io_err = |error| KeyFileError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    check_mode(path, &meta)?;
    let mut text = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut text)
        .map_err(io_err)?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(KeyFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    KeyRing::parse(&text).map_err(|error| KeyFileError::Malformed {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path, _: &std::fs::Metadata) -> Result<(), KeyFileError> {
    Ok(())
}

/// 32 bytes from the operating system's random source (`getrandom`): the
/// entropy of a handshake's ephemeral key, or a new network key.
pub fn os_entropy() -> io::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| io::Error::other(format!("the OS random source failed: {e}")))?;
    Ok(bytes)
}

/// A new random network key, as `rumor keygen` prints it.
pub fn keygen() -> io::Result<String> {
    let key: [u8; KEY_LEN] = os_entropy()?;
    Ok(Key(key).to_base64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh file in a fresh dir under the system temp dir.
    fn temp_file(name: &str, text: &[u8], mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rumor-keyfile-{}-{name}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn cleanup(path: &Path) {
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn loads_a_private_ring() {
        let k1 = keygen().unwrap();
        let k2 = keygen().unwrap();
        assert_ne!(k1, k2);
        let path = temp_file("ok", format!("# ring\n{k1}\n{k2}\n").as_bytes(), 0o600);
        let ring = load(&path).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.primary().to_base64(), k1);
        // Owner-read-only is fine too.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load(&path).is_ok());
        cleanup(&path);
    }

    #[test]
    fn refuses_a_ring_others_can_read_like_ssh() {
        let k = keygen().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o610] {
            let path = temp_file("open", k.as_bytes(), mode);
            let e = load(&path).unwrap_err();
            let p = path.display();
            assert_eq!(
                e.to_string(),
                format!("permissions {mode:04o} for '{p}' are too open; run: chmod 600 {p}")
            );
            cleanup(&path);
        }
    }

    #[test]
    fn refuses_missing_malformed_and_huge_files() {
        let e = load(Path::new("/nonexistent/rumor/keys")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read key file '/nonexistent/rumor/keys': "),
            "{e}"
        );
        let path = temp_file("bad", b"# ring\nnot-a-key\n", 0o600);
        let e = load(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "key file '{}': line 2: not a key: 9 characters, expected 44 of base64 (as `rumor keygen` prints)",
                path.display()
            )
        );
        cleanup(&path);
        let path = temp_file("empty", b"", 0o600);
        assert!(
            load(&path)
                .unwrap_err()
                .to_string()
                .ends_with("no key in it (expected one base64 key a line)")
        );
        cleanup(&path);
        let path = temp_file("huge", &vec![b'#'; MAX_KEY_FILE as usize + 1], 0o600);
        assert!(matches!(load(&path), Err(KeyFileError::TooLarge { .. })));
        cleanup(&path);
        let dir = temp_file("dir", b"", 0o600);
        let dir = dir.parent().unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(load(dir), Err(KeyFileError::NotAFile { .. })));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn keygen_prints_one_44_character_key() {
        let k = keygen().unwrap();
        assert_eq!(k.len(), 44);
        assert!(KeyRing::parse(k.as_bytes()).is_ok());
    }
}
