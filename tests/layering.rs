//! The core's invariants as absences (ARCHITECTURE.md), checked in the
//! source: no file of the sans-IO core imports mio, reads the clock, opens
//! a socket or a file, touches stdout, starts a thread or draws from a
//! global random source. Test modules (after `#[cfg(test)]`) and comments
//! are not code the node runs, and are skipped.

use std::fs;
use std::path::{Path, PathBuf};

/// The `.rs` files under `dir`, its subfolders' too, but for modules their
/// parent declares only for tests (`#[cfg(test)] mod NAME;`).
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") && !test_only(&p) {
            out.push(p);
        }
    }
    out
}

/// Whether `dir/name.rs`'s parent (`dir.rs`) declares it under
/// `#[cfg(test)]`.
fn test_only(p: &Path) -> bool {
    let (Some(dir), Some(name)) = (p.parent(), p.file_stem()) else {
        return false;
    };
    let parent = dir.with_extension("rs");
    let Ok(text) = fs::read_to_string(&parent) else {
        return false;
    };
    let decl = format!("#[cfg(test)]\nmod {};", name.to_string_lossy());
    text.contains(&decl)
}

/// Files of the core: everything the simulator and fuzz driver run as is.
fn core_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = rust_files(&root.join("node"));
    files.extend(rust_files(&root.join("text")));
    files.extend(rust_files(&root.join("wire")));
    for f in ["wire.rs", "wheel.rs", "scan.rs", "vecmap.rs"] {
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
    let mut files = rust_files(&root.join("sim"));
    assert!(files.len() >= 5, "found only {files:?}");
    files.extend(["capture.rs", "format.rs"].map(|f| root.join(f)));
    for f in files {
        let code = code(&f);
        assert!(
            !code.contains("Instant::now") && !code.contains("SystemTime"),
            "{} reads the clock",
            f.display()
        );
    }
}

#[test]
fn the_check_itself_finds_what_it_looks_for() {
    // A check that cannot fail proves nothing: the shell must trip it.
    let shell = code(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/shell/mod.rs"));
    assert!(shell.contains("mio") && shell.contains("Instant::now"));
}
