//! What a user reads, from the real binary: `--json` parsed as JSON, the
//! SIGUSR1 report, `-q` and `-v` on stderr, and `--exit-on-eof` as a
//! one-line notifier.

mod common;

use common::*;
use serde_json::Value;

fn json_lines(n: &Rumor) -> Vec<Value> {
    n.out
        .snapshot()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["event"] == name).collect()
}

fn addr_list(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn json_output_is_one_object_per_line_with_the_texts_as_sent() {
    let mut a = Rumor::start(&["--period", "off"]);
    let b = Rumor::start(&[
        "--period",
        "off",
        "--json",
        "--connect",
        &a.addr.to_string(),
    ]);
    a.wait_line(&format!("Connected to the peer at {}", b.name()));
    // Quotes, a backslash, a tab and a control character: JSON escapes
    // them, and only them; the text line escapes the control characters.
    let tricky = "he said \"hi\" \\ tab\there \u{1b}[2J ünïcödé";
    a.type_line(tricky);
    b.wait_out("the tricky line as JSON", |l| {
        l.iter().any(|l| l.contains("\"event\":\"received\""))
    });
    b.signal(libc::SIGUSR1);
    b.wait_out("the view object", |l| {
        l.iter().any(|l| l.contains("\"event\":\"view\""))
    });
    let lines = json_lines(&b);
    for v in &lines {
        assert!(v["event"].is_string(), "{v}");
        assert!(v["ms"].is_u64(), "{v}");
    }
    assert_eq!(lines[0]["event"], "listening");
    assert_eq!(lines[0]["addr"], b.addr.to_string());
    let joined = events(&lines, "joined");
    assert_eq!(joined.len(), 1);
    assert_eq!(addr_list(&joined[0]["peers"]), vec![a.addr.to_string()]);
    let received = events(&lines, "received");
    assert_eq!(received.len(), 1, "{lines:?}");
    assert_eq!(received[0]["text"], tricky, "the text as sent, unescaped");
    assert_eq!(received[0]["from"], a.addr.to_string());
    let view = events(&lines, "view");
    assert_eq!(view[0]["addr"], b.addr.to_string());
    assert_eq!(view[0]["peers"][0]["addr"], a.addr.to_string());
    assert!(view[0]["peers"][0]["connected_ms"].is_u64());
    assert_eq!(view[0]["known"], 1);
    // The text node printed the same message in the task's format.
    let sent = a.wait_prefix("Sending message [");
    assert_eq!(
        sent,
        format!(
            "Sending message [he said \"hi\" \\ tab\\there \\u{{1b}}[2J ünïcödé] to [{}]",
            b.name()
        )
    );
    // And the JSON node's own message, sent from stdin, is a `sending`
    // event whose `to` lists exactly the peer.
    let mut b = b;
    b.type_line("from the json side");
    b.wait_out("the sending event", |l| {
        l.iter().any(|l| l.contains("\"event\":\"sending\""))
    });
    let lines = json_lines(&b);
    let sending = events(&lines, "sending");
    assert_eq!(sending[0]["text"], "from the json side");
    assert_eq!(addr_list(&sending[0]["to"]), vec![a.addr.to_string()]);
    a.wait_line(&format!(
        "Received message [from the json side] from {}",
        b.name()
    ));
    // Stopped, its peer's departure is one `disconnected` object.
    a.signal(SIGTERM);
    b.wait_out("the disconnected event", |l| {
        l.iter().any(|l| l.contains("\"event\":\"disconnected\""))
    });
    let lines = json_lines(&b);
    let gone = events(&lines, "disconnected");
    assert_eq!(gone[0]["peer"], a.addr.to_string());
    assert_eq!(gone[0]["reason"], "it left");
}

#[test]
fn sigusr1_reports_peers_on_stderr_and_quiet_hides_retries_but_not_the_report() {
    let a = Rumor::start(&["--period", "off"]);
    let b = Rumor::start(&["--period", "off", "--connect", &a.addr.to_string()]);
    b.wait_peers(&[&a]);
    b.signal(libc::SIGUSR1);
    b.wait_err(&[
        "view of",
        &b.addr.to_string(),
        "1 peer,",
        "1 known address,",
    ]);
    b.wait_err(&[&format!("rumor:   {} connected for ", a.addr)]);
    // stdout keeps the task's format: the report is not on it.
    assert!(!b.out.snapshot().iter().any(|l| l.contains("view of")));

    // Port 1 on loopback: nothing listens, every dial is refused.
    let loud = Rumor::start(&["--period", "off", "--connect", "127.0.0.1:1"]);
    let quiet = Rumor::start(&["--period", "off", "-q", "--connect", "127.0.0.1:1"]);
    // By the time the loud node has said three retries, the quiet one has
    // been retrying too: its report says so, and nothing else is on stderr.
    let three = loud.err.wait(WAIT, |l| {
        l.iter()
            .filter(|l| l.contains("cannot reach 127.0.0.1:1"))
            .count()
            >= 3
    });
    assert!(three, "{}", loud.tails());
    quiet.signal(libc::SIGUSR1);
    quiet.wait_err(&["view of", "0 peers", "1 being retried"]);
    let said = quiet.err.snapshot();
    assert!(
        said.iter().all(|l| l.starts_with("rumor: view of")),
        "-q printed more than the report: {said:?}"
    );
}

#[test]
fn verbose_says_each_dial_and_handshake() {
    let a = Rumor::start(&["--period", "off"]);
    let b = Rumor::start(&["--period", "off", "-v", "--connect", &a.addr.to_string()]);
    b.wait_err(&[&format!("rumor: dialing {}", a.addr)]);
    b.wait_err(&[
        "handshake with",
        "done: node ",
        &format!("listening on {}", a.addr),
    ]);
    // stdout is the same as without -v.
    b.wait_line(&format!("Connected to the peers at [{}]", a.name()));
    assert_eq!(b.out.len(), 2, "{:?}", b.out.snapshot());
}

#[test]
fn a_notifier_delivers_its_line_to_everyone_and_exits_zero() {
    let a = Rumor::start(&["--period", "off"]);
    let b = Rumor::start(&["--period", "off", "--connect", &a.addr.to_string()]);
    b.wait_peers(&[&a]);
    let mut n = Rumor::start(&[
        "--period",
        "off",
        "--exit-on-eof",
        "--connect",
        &a.addr.to_string(),
    ]);
    n.type_line("deploy done");
    drop(n.stdin.take()); // the end of the pipe
    let status = n.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", n.tails());
    for peer in [&a, &b] {
        peer.wait_line(&format!("Received message [deploy done] from {}", n.name()));
        peer.wait_line(&format!(
            "Disconnected from the peer at {} (it left)",
            n.name()
        ));
    }
    // It joined the whole network first: its line went to both.
    assert!(n.out.wait_ended(WAIT), "its stdout ends with it");
    let sent = n
        .out
        .snapshot()
        .iter()
        .map(|l| body(l).to_string())
        .find(|l| l.starts_with("Sending message [deploy done]"))
        .expect("a Sending line");
    let mut both = [a.name(), b.name()];
    both.sort();
    assert_eq!(
        sent,
        format!("Sending message [deploy done] to [{}]", both.join(", "))
    );
    assert!(n.err.wait_ended(WAIT));
    assert!(n.err.snapshot().is_empty(), "{:?}", n.err.snapshot());
}
