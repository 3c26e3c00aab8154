//! The man page and shell completions, generated from the command-line
//! definition (`rumor::cli::Args`) by clap_mangen and clap_complete and
//! committed, so the node binary links neither. This test fails when a
//! committed file is out of date with src/cli.rs; regenerate them with
//!
//!     RUMOR_REGENERATE=1 cargo test --test generated

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use rumor::cli::Args;

const REGENERATE: &str = "RUMOR_REGENERATE=1 cargo test --test generated";

/// Sections of the man page that the command line does not describe.
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Stopped by SIGINT (Ctrl\-C) or SIGTERM, or stdout was closed; every peer was told goodbye.
.TP
\fB1\fR
Could not run, or had to stop: the port to listen on is in use, say, or stdout cannot be written.
.TP
\fB2\fR
Usage error: a bad flag or value, named on one \fBerror:\fR line.
.TP
\fB3\fR
With \fB\-\-exit\-on\-eof\fR: not every stdin line reached every peer (a line was not sent, or a peer did not close after the goodbye); stderr names them.
.PP
A peer that cannot be reached never makes the node exit: it is retried with backoff.
"#;

const SEE_ALSO: &str = r#".SH "SEE ALSO"
README.md, docs/PROTOCOL.md and docs/LIMITS.md in the source repository.
"#;

/// Every generated file: its path from the repository root and its text.
fn generated() -> Vec<(String, Vec<u8>)> {
    let cmd = Args::command();
    let mut files = Vec::new();

    // NAME is the short summary; DESCRIPTION the command's whole about.
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let man = clap_mangen::Man::new(
        cmd.clone()
            .about("a peer-to-peer gossip node")
            .long_about(about),
    );
    let mut page = Vec::new();
    man.render_title(&mut page).unwrap();
    man.render_name_section(&mut page).unwrap();
    man.render_synopsis_section(&mut page).unwrap();
    man.render_description_section(&mut page).unwrap();
    man.render_options_section(&mut page).unwrap();
    // clap_mangen heads the after-help text "EXTRA"; it is the examples.
    let mut extra = Vec::new();
    man.render_extra_section(&mut extra).unwrap();
    let extra = String::from_utf8(extra).unwrap();
    let extra = extra
        .replacen(".SH EXTRA\nExamples:\n", ".SH EXAMPLES\n", 1)
        .replacen(".SH EXTRA", ".SH EXAMPLES", 1);
    page.extend_from_slice(extra.as_bytes());
    page.extend_from_slice(EXIT_STATUS.as_bytes());
    page.extend_from_slice(SEE_ALSO.as_bytes());
    man.render_version_section(&mut page).unwrap();
    files.push(("docs/man/rumor.1".to_string(), page));

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = cmd.clone();
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, "rumor", &mut script);
        let name = clap_complete::Generator::file_name(&shell, "rumor");
        files.push((format!("completions/{name}"), script));
    }
    files
}

#[test]
fn man_page_and_completions_match_the_command_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("RUMOR_REGENERATE").is_some();
    let mut stale = Vec::new();
    for (path, text) in generated() {
        let file = root.join(&path);
        if regenerate {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &text).unwrap();
        } else if std::fs::read(&file).ok().as_deref() != Some(&text[..]) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "out of date with src/cli.rs: {}; regenerate with: {REGENERATE}",
        stale.join(", ")
    );
}

#[test]
fn the_man_page_documents_every_flag() {
    let (_, page) = generated().remove(0);
    let page = String::from_utf8(page).unwrap();
    for arg in Args::command().get_arguments() {
        if let Some(long) = arg.get_long() {
            let roff = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(page.contains(&roff), "--{long} is not in the man page");
        }
    }
    for section in ["SYNOPSIS", "OPTIONS", "EXAMPLES", "\"EXIT STATUS\""] {
        assert!(page.contains(&format!(".SH {section}")), "{section}");
    }
}
