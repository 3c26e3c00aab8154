//! stdin cut into lines: at most `max` bytes each, a longer one reported
//! with its length and not sent, a trailing `\r` dropped, a last line
//! without its newline still a line when stdin ends.

use crate::scan::find_newline;

/// One line of stdin.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line within the limit, without its newline (or `\r\n`).
    Text(&'a [u8]),
    /// A line of this many bytes, over the limit: not sent.
    TooLong(usize),
}

/// Holds the unfinished line between reads: at most `max` + 1 bytes.
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    line: Vec<u8>,
    /// Bytes of the current line already dropped for being over `max`.
    overflow: usize,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            max,
            line: Vec::new(),
            overflow: 0,
        }
    }

    /// Cuts `data` into lines, calling `on_line` for each complete one.
    pub fn feed(&mut self, mut data: &[u8], mut on_line: impl FnMut(Line<'_>)) {
        while let Some(nl) = find_newline(data) {
            let (head, rest) = (&data[..nl], &data[nl + 1..]);
            if self.line.is_empty() && self.overflow == 0 {
                on_line(self.judge(head, 0));
            } else {
                self.push(head);
                let line = std::mem::take(&mut self.line);
                let overflow = std::mem::take(&mut self.overflow);
                on_line(self.judge(&line, overflow));
                self.line = line;
                self.line.clear();
            }
            data = rest;
        }
        self.push(data);
    }

    /// stdin ended: a last line without a newline is still a line.
    pub fn finish(&mut self, mut on_line: impl FnMut(Line<'_>)) {
        if !self.line.is_empty() || self.overflow > 0 {
            let line = std::mem::take(&mut self.line);
            let overflow = std::mem::take(&mut self.overflow);
            on_line(self.judge(&line, overflow));
        }
    }

    fn judge<'a>(&self, line: &'a [u8], overflow: usize) -> Line<'a> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if overflow > 0 || line.len() > self.max {
            Line::TooLong(overflow + line.len())
        } else {
            Line::Text(line)
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self.max + 1 - self.line.len().min(self.max + 1);
        if self.overflow == 0 && bytes.len() <= room {
            self.line.extend_from_slice(bytes);
        } else {
            self.overflow += self.line.len() + bytes.len();
            self.line.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(max: usize, chunks: &[&[u8]], eof: bool) -> Vec<String> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut take = |l: Line<'_>| {
            out.push(match l {
                Line::Text(t) => String::from_utf8_lossy(t).into_owned(),
                Line::TooLong(n) => format!("<{n}>"),
            })
        };
        for c in chunks {
            s.feed(c, &mut take);
        }
        if eof {
            s.finish(&mut take);
        }
        out
    }

    #[test]
    fn lines_split_anywhere_come_out_whole() {
        assert_eq!(lines(10, &[b"ab", b"c\nde\r", b"\n"], false), ["abc", "de"]);
        assert_eq!(lines(10, &[b"a\n\nb"], true), ["a", "", "b"]);
        assert_eq!(lines(10, &[b"tail"], false), Vec::<String>::new());
    }

    #[test]
    fn an_overlong_line_is_reported_with_its_length_and_the_next_is_fine() {
        assert_eq!(
            lines(4, &[b"abc", b"defg", b"hi\nok\n"], false),
            ["<9>", "ok"]
        );
        assert_eq!(lines(4, &[b"abcdef\n"], false), ["<6>"]);
        assert_eq!(lines(4, &[b"abcd\n"], false), ["abcd"]);
        assert_eq!(lines(4, &[b"abcdefgh"], true), ["<8>"]);
    }

    #[test]
    fn the_held_line_never_grows_past_the_limit() {
        let mut s = LineSplitter::new(8);
        for _ in 0..1000 {
            s.feed(b"0123456789", |_| {});
            assert!(s.line.len() <= 9);
        }
    }
}
