//! Replays the fuzz corpus on every `cargo test`, where cargo-fuzz may not
//! be installed: every committed seed (`fuzz/corpus/<target>/seed-*`) and
//! every file under `fuzz/regressions/` goes through `wire::decode` frame
//! after frame (consumed <= given, re-encoding gives back the consumed
//! bytes) and through `FrameReader` whole, byte by byte and, for small
//! inputs, cut in two at every point (same frames, same error). Node scripts
//! (`corpus/node/seed-*`, `regressions/node/*`) also run through the `node`
//! target's driver and its invariants. Record-layer inputs
//! (`corpus/record/seed-*`, `regressions/record/*`) run through the `record`
//! target's checks.
//!
//! The checks are the fuzz targets' own code, included from `fuzz/src/`.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../fuzz/src/props.rs"]
mod props;

// The script writer is the seed generator's: unused here.
#[allow(dead_code, unused_imports)]
#[path = "../fuzz/src/node_driver/mod.rs"]
mod node_driver;

#[allow(dead_code)]
#[path = "../fuzz/src/record_props.rs"]
mod record_props;

/// Inputs up to this size are also cut in two at every point.
const EVERY_CUT_UPTO: usize = 2048;

/// The committed seeds: at least this many, in every target's dir.
const MIN_SEEDS: usize = 60;
const TARGETS: [&str; 4] = ["decode", "roundtrip", "stream", "node"];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Files under `dir`, recursively, sorted, but for READMEs.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let path = e.expect("a readable dir entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if !name_of(&path).starts_with("README") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn name_of(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// `corpus/<target>/seed-*`.
fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
    files_under(&dir)
        .into_iter()
        .filter(|p| name_of(p).starts_with("seed-"))
        .collect()
}

/// Runs `check` on every file; fails naming each file whose check panicked.
fn replay(files: &[PathBuf], check: impl Fn(&[u8])) {
    let mut failed = Vec::new();
    for path in files {
        let bytes = fs::read(path).expect("a readable corpus file");
        if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "failed on {failed:#?}");
}

#[test]
fn every_seed_and_regression_holds_the_codec_properties() {
    let mut files = Vec::new();
    for target in TARGETS {
        let s = seeds(target);
        assert!(!s.is_empty(), "no seeds in fuzz/corpus/{target}");
        files.extend(s);
    }
    let n_seeds = files.len();
    assert!(
        n_seeds >= MIN_SEEDS,
        "only {n_seeds} seeds under fuzz/corpus"
    );
    let regressions = files_under(&fuzz_dir().join("regressions"));
    files.extend(regressions);
    replay(&files, |bytes| {
        props::check_all(bytes, EVERY_CUT_UPTO);
    });
    eprintln!(
        "replayed {} files through decode and FrameReader",
        files.len()
    );
}

#[test]
fn every_node_script_holds_the_node_invariants() {
    let mut files = seeds("node");
    assert!(files.len() >= 9, "only {} node seeds", files.len());
    files.extend(files_under(&fuzz_dir().join("regressions").join("node")));
    replay(&files, |bytes| {
        node_driver::run(bytes);
    });
    eprintln!("replayed {} node scripts", files.len());
}

#[test]
fn every_record_input_holds_the_record_layer_properties() {
    let mut files = seeds("record");
    assert!(files.len() >= 15, "only {} record seeds", files.len());
    files.extend(files_under(&fuzz_dir().join("regressions").join("record")));
    replay(&files, |bytes| {
        record_props::check_record(bytes);
    });
    eprintln!("replayed {} record inputs", files.len());
}

#[test]
fn the_frame_seeds_hold_frames_of_every_type() {
    // A seed that stopped decoding would still pass the property checks
    // above; this keeps the corpus honest.
    let mut types = [false; 15];
    for path in seeds("decode") {
        let bytes = fs::read(&path).expect("a readable seed");
        let (frames, _) = props::check_decode_all(&bytes);
        for f in frames {
            types[usize::from(f[4]).min(14)] = true;
        }
    }
    assert_eq!(types[1..=14], [true; 14], "a frame type has no seed");
}
