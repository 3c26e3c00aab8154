//! The core's invariants as absences (ARCHITECTURE.md), checked in the
//! source: no file of the sans-IO core imports mio, reads the clock, opens
//! a socket or a file, touches stdout, starts a thread or draws from a
//! global random source. Test modules (after `#[cfg(test)]`) and comments
//! are not code the node runs, and are skipped.

use std::fs;
use std::path::{Path, PathBuf};

/// Files of the core: everything the simulator and fuzz driver run as is.
fn core_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("node"))
        .expect("src/node exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.extend(
        fs::read_dir(root.join("text"))
            .expect("src/text exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs")),
    );
    for f in ["wire.rs", "wire/text.rs", "wheel.rs", "scan.rs"] {
        files.push(root.join(f));
    }
    files.sort();
    files
}

/// The file's code: test modules and comments cut away.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

const FORBIDDEN: &[(&str, &str)] = &[
    ("mio", "the poll loop is the shell's"),
    ("Instant::now", "the core takes `now` as an argument"),
    ("SystemTime", "the core takes `now` as an argument"),
    ("TcpStream", "sockets are the driver's"),
    ("TcpListener", "sockets are the driver's"),
    ("UdpSocket", "sockets are the driver's"),
    ("std::io::stdout", "the shell prints"),
    ("stdout()", "the shell prints"),
    ("stderr()", "the shell prints"),
    ("println!", "the shell prints"),
    ("eprintln!", "the shell prints"),
    ("std::fs", "files are the driver's"),
    ("std::thread", "one thread"),
    ("std::process", "the core never exits"),
    (
        "fastrand::u",
        "randomness comes from the seed (fastrand::Rng)",
    ),
    (
        "fastrand::f",
        "randomness comes from the seed (fastrand::Rng)",
    ),
    (
        "fastrand::bool",
        "randomness comes from the seed (fastrand::Rng)",
    ),
];

#[test]
fn the_core_does_no_io_and_reads_no_clock() {
    let files = core_files();
    assert!(files.len() >= 15, "found only {files:?}");
    let mut bad = Vec::new();
    for f in &files {
        let code = code(f);
        for (word, why) in FORBIDDEN {
            if code.contains(word) {
                bad.push(format!("{} uses `{word}`: {why}", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_simulator_and_capture_read_no_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for f in ["sim.rs", "capture.rs", "format.rs"] {
        let code = code(&root.join(f));
        assert!(
            !code.contains("Instant::now") && !code.contains("SystemTime"),
            "src/{f} reads the clock"
        );
    }
}

#[test]
fn the_check_itself_finds_what_it_looks_for() {
    // A check that cannot fail proves nothing: the shell must trip it.
    let shell = code(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/shell/mod.rs"));
    assert!(shell.contains("mio") && shell.contains("Instant::now"));
}
