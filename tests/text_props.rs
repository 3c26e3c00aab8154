//! The `text` fuzz target's properties (`fuzz/src/text_props.rs`) on every
//! `cargo test`, where cargo-fuzz may not be installed: over the committed
//! seeds (`fuzz/corpus/text/seed-*`, from a fuzzing run), hand-picked
//! inputs, and a few thousand generated from a fixed seed around the shapes
//! that matter (ports, colons, the reply, frame headers).

#[allow(dead_code)]
#[path = "../fuzz/src/text_props.rs"]
mod text_props;

use rumor::text::REPLY;

fn pieces(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..rng.usize(0..6) {
        match rng.u8(0..8) {
            0 => v.extend_from_slice(rng.u32(0..100_000).to_string().as_bytes()),
            1 => v.push(b':'),
            2 => v.extend_from_slice(&REPLY[..rng.usize(0..=16)]),
            3 => v.extend_from_slice(&[0, 0, 0, rng.u8(0..30), rng.u8(5..8), 0, rng.u8(3..7)]),
            4 => v.extend((0..rng.usize(0..40)).map(|_| rng.u8(..))),
            5 => v.extend(std::iter::repeat_n(b'x', rng.usize(0..5000))),
            6 => v.extend_from_slice(b"hello"),
            _ => v.extend_from_slice(&[127, 0, 0, 1, 0x04, 0xe0]),
        }
    }
    v
}

#[test]
fn text_properties_hold_on_generated_inputs() {
    let fixed: [&[u8]; 12] = [
        b"",
        b"0",
        b"1:",
        b"8080:hello",
        b"65535:x",
        b"65536:x",
        b"00000:x",
        b"123456:x",
        b":x",
        b"Message received",
        b"Message rec",
        &[0, 0, 0, 9, 7, 0, 4, 127, 0, 0, 1, 4, 0xe0],
    ];
    for data in fixed {
        text_props::check_text(data);
    }
    let mut rng = fastrand::Rng::with_seed(14);
    for _ in 0..3000 {
        let data = pieces(&mut rng);
        text_props::check_text(&data);
    }
}

#[test]
fn text_properties_hold_on_the_committed_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/text");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fuzz/corpus/text") {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("seed-") {
            text_props::check_text(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= 60, "only {n} seeds in {}", dir.display());
}
