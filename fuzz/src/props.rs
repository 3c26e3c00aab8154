//! The codec's properties, as checks that panic when one fails.
//!
//! Used by the `decode`, `roundtrip` and `stream` fuzz targets and, through a
//! `#[path]` module, by the main crate's `tests/replay.rs`, so the committed
//! corpus is held to exactly the same rules on every `cargo test`. Only `std`
//! and `rumor` may be used here.

use rumor::wire::{self, DecodeError, FrameReader, MAX_FRAME_LEN, READER_CAP, Status};

/// What [`check_decode`] saw at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A frame of this many bytes.
    Frame(usize),
    Partial,
    Error(DecodeError),
}

/// Decodes the start of `data` and checks decode's contract:
/// - it never claims more bytes than it was given, nor fewer than a header;
/// - encoding the frame again gives back exactly the bytes consumed;
/// - the consumed bytes alone decode to the same frame, one byte fewer is
///   `Partial`;
/// - `Partial` only while the length is valid and the frame not all in;
/// - an error is decided by the bytes up to the frame's end (or by the
///   length field alone), so trailing bytes never change it.
pub fn check_decode(data: &[u8]) -> Step {
    match wire::decode(data) {
        Ok(Status::Complete((frame, used))) => {
            assert!(
                used <= data.len(),
                "decode consumed {used} of {} bytes",
                data.len()
            );
            assert!(used >= 5, "a frame of {used} bytes has no type byte");
            let mut again = Vec::new();
            frame.encode(&mut again);
            assert_eq!(
                again,
                data[..used],
                "re-encoding {frame:?} does not give the consumed bytes"
            );
            assert_eq!(
                wire::decode(&data[..used]),
                Ok(Status::Complete((frame, used))),
                "the frame's own bytes decode differently"
            );
            assert_eq!(
                wire::decode(&data[..used - 1]),
                Ok(Status::Partial),
                "a frame cut by one byte is not Partial"
            );
            Step::Frame(used)
        }
        Ok(Status::Partial) => {
            if let Some(head) = data.first_chunk::<4>() {
                let len = u32::from_be_bytes(*head) as usize;
                assert!(
                    (1..=MAX_FRAME_LEN).contains(&len),
                    "Partial for a frame length of {len}"
                );
                assert!(
                    data.len() < 4 + len,
                    "Partial with all {len} bytes of the frame in"
                );
            }
            Step::Partial
        }
        Err(e) => {
            let head = data.first_chunk::<4>().map(|h| u32::from_be_bytes(*h));
            let decided_by = match (e, head) {
                (DecodeError::EmptyFrame | DecodeError::TooLarge(_), _) => 4,
                (_, Some(len)) => 4 + len as usize,
                (_, None) => panic!("{e:?} from fewer than 4 bytes"),
            };
            assert!(
                decided_by <= data.len(),
                "{e:?} before the frame's {decided_by} bytes were in"
            );
            assert_eq!(
                wire::decode(&data[..decided_by]),
                Err(e),
                "the error depends on bytes past the frame"
            );
            Step::Error(e)
        }
    }
}

/// How a stream of frames ends: the bytes left over of an unfinished frame,
/// or the error that stopped it.
pub type End = Result<usize, DecodeError>;

/// Decodes `data` frame after frame with [`check_decode`]; returns each
/// frame's bytes and how the stream ends.
pub fn check_decode_all(data: &[u8]) -> (Vec<Vec<u8>>, End) {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        match check_decode(&data[at..]) {
            Step::Frame(n) => {
                frames.push(data[at..at + n].to_vec());
                at += n;
            }
            Step::Partial => return (frames, Ok(data.len() - at)),
            Step::Error(e) => return (frames, Err(e)),
        }
    }
}

/// Feeds `chunks` in order to one [`FrameReader`]; returns each frame it
/// yields, re-encoded, and how the stream ends. Checks after every feed that
/// the reader holds at most [`READER_CAP`] bytes, allocates nothing while it
/// holds nothing, and once failed keeps failing with the same error and
/// yields nothing more.
pub fn feed_reader<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Vec<u8>>, End) {
    let mut r = FrameReader::new();
    let mut frames = Vec::new();
    let mut failed = None;
    for chunk in chunks {
        let before = frames.len();
        let got = r.feed(chunk, |f| {
            let mut v = Vec::new();
            f.encode(&mut v);
            frames.push(v);
            true
        });
        assert!(
            r.buffered() <= READER_CAP,
            "reader holds {} bytes",
            r.buffered()
        );
        if r.buffered() == 0 {
            assert_eq!(r.capacity(), 0, "an empty reader keeps an allocation");
        }
        match (failed, got) {
            (None, Ok(go_on)) => assert!(go_on, "feed stopped without being asked"),
            (None, Err(e)) => failed = Some(e),
            (Some(f), got) => {
                assert_eq!(got, Err(f), "a failed reader recovered");
                assert_eq!(frames.len(), before, "a failed reader yielded a frame");
            }
        }
    }
    let end = match failed {
        Some(e) => {
            assert_eq!(r.buffered(), 0, "a failed reader still holds bytes");
            Err(e)
        }
        None => Ok(r.buffered()),
    };
    (frames, end)
}

/// Cuts `data` at the given offsets (any order, out-of-range ones clamped).
pub fn split_at<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for c in cuts {
        out.push(&data[at..c]);
        at = c;
    }
    out.push(&data[at..]);
    out
}

/// Checks that `data` fed whole and fed in the given chunks gives the same
/// frames and the same end as decoding it frame by frame.
pub fn check_stream(data: &[u8], chunks: &[&[u8]]) {
    let want = check_decode_all(data);
    check_reader(data, &want);
    check_chunks(chunks, &want);
}

/// Checks that the reader fed `data` whole gives `want`.
fn check_reader(data: &[u8], want: &(Vec<Vec<u8>>, End)) {
    let whole = feed_reader([data]);
    assert_eq!(&whole, want, "the reader fed whole differs from decode");
}

/// Checks that the reader fed `chunks` gives `want`.
fn check_chunks(chunks: &[&[u8]], want: &(Vec<Vec<u8>>, End)) {
    let split = feed_reader(chunks.iter().copied());
    if &split != want {
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        panic!("the reader fed in chunks of {sizes:?} gives {split:?}, not {want:?}");
    }
}

/// Every check on one input: decode at its start and frame after frame,
/// and the reader fed whole, byte by byte, and (for inputs up to
/// `every_cut_upto` bytes) cut in two at every point. Returns the number of
/// frames the input held.
pub fn check_all(data: &[u8], every_cut_upto: usize) -> usize {
    let want = check_decode_all(data);
    check_reader(data, &want);
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    check_chunks(&bytes, &want);
    if data.len() <= every_cut_upto {
        for cut in 0..=data.len() {
            check_chunks(&split_at(data, &[cut]), &want);
        }
    }
    want.0.len()
}
