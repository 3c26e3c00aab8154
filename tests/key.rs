//! The network key's command line, on the real binary: `rumor keygen`, and
//! `--key-file` / `RUMOR_KEY_FILE` refusing what it must with one line and
//! exit code 1.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::binary;

fn run(args: &[&str], env: Option<&Path>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .stdin(Stdio::null())
        .env_remove("RUMOR_KEY_FILE");
    if let Some(path) = env {
        cmd.env("RUMOR_KEY_FILE", path);
    }
    let o = cmd.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

/// A fresh key file with `text` and `mode` in a fresh dir.
fn key_file(name: &str, text: &str, mode: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rumor-key-test-{}-{name}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.key");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn keygen_prints_one_fresh_key_a_line() {
    let (code, a, err) = run(&["keygen"], None);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.is_empty());
    let (_, b, _) = run(&["keygen"], None);
    assert_eq!(a.len(), 45, "{a:?}");
    assert!(a.ends_with('\n') && a.trim_end().len() == 44);
    assert_ne!(a, b, "two keys alike");
    // What it prints is a valid ring.
    let ring = rumor::keyring::KeyRing::parse(a.as_bytes()).unwrap();
    assert_eq!(ring.primary().to_base64(), a.trim_end());
    // Arguments to keygen are usage errors.
    let (code, _, err) = run(&["keygen", "extra"], None);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn a_bad_key_file_is_one_line_and_exit_one() {
    let (_, key, _) = run(&["keygen"], None);
    let open = key_file("open", &key, 0o644);
    let p = open.display().to_string();
    let malformed = key_file("bad", "# ring\nnot-a-key\n", 0o600);
    let m = malformed.display().to_string();
    let cases: Vec<(Vec<&str>, Option<&Path>, String)> = vec![
        (
            vec!["--key-file", &p],
            None,
            format!("rumor: permissions 0644 for '{p}' are too open; run: chmod 600 {p}"),
        ),
        (
            vec![],
            Some(&open),
            format!("rumor: permissions 0644 for '{p}' are too open; run: chmod 600 {p}"),
        ),
        (
            vec!["--key-file", "/nonexistent/net.key"],
            None,
            "rumor: cannot read key file '/nonexistent/net.key': No such file or directory (os error 2)"
                .into(),
        ),
        (
            vec!["--key-file", &m],
            None,
            format!(
                "rumor: key file '{m}': line 2: not a key: 9 characters, expected 44 of base64 (as `rumor keygen` prints)"
            ),
        ),
    ];
    for (args, env, want) in cases {
        let (code, out, err) = run(&args, env);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.trim_end(), want);
        assert!(!err.contains(key.trim_end()), "the key was echoed");
    }
    for f in [open, malformed] {
        let _ = fs::remove_dir_all(f.parent().unwrap());
    }
}

#[test]
fn a_good_key_file_in_the_environment_runs_a_keyed_node() {
    let (_, key, _) = run(&["keygen"], None);
    let good = key_file("good", &format!("# primary\n{key}"), 0o600);
    let mut cmd = Command::new(binary());
    cmd.args(["--port", "0", "--period", "off"])
        .env("RUMOR_KEY_FILE", &good);
    let node = common::Rumor::start_with(&mut cmd, true);
    // Its first bytes to anyone are the key handshake's, never a hello.
    let mut s = std::net::TcpStream::connect(node.addr).unwrap();
    s.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut first = [0u8; 5];
    std::io::Read::read_exact(&mut s, &mut first).unwrap();
    assert_eq!(first, rumor::record::PREAMBLE);
    drop(node);
    let _ = fs::remove_dir_all(good.parent().unwrap());
}
