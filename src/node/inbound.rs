//! A connection's input: the bytes the driver read, turned into frames.
//! This is the one place bytes become frames, and where records will be
//! opened once connections can be keyed.

use crate::wire::{DecodeError, Frame, FrameReader};

#[derive(Debug, Default)]
pub struct Inbound {
    reader: FrameReader,
}

impl Inbound {
    /// Feeds `bytes`, calling `on_frame` for each complete frame until it
    /// returns false. `Ok(false)` when it stopped early; an error when the
    /// bytes are not frames (the connection must close).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        on_frame: impl FnMut(Frame<'_>) -> bool,
    ) -> Result<bool, DecodeError> {
        self.reader.feed(bytes, on_frame)
    }

    /// Bytes held for an unfinished frame.
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }
}
