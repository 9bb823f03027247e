//! Cutting a TCP byte stream into syslog messages (RFC 6587).
//!
//! Each message is framed on its own: one that starts with a digit is
//! octet-counted (`LEN SP MSG`); any other (they start with `<`) ends at
//! the next newline. An over-long message is skipped whole, reported once,
//! and the stream goes on with the next one.

use super::{DropReason, MAX_MESSAGE_BYTES};

/// Bytes received but not yet cut into messages, and what is being skipped.
#[derive(Debug, Default)]
pub struct Framer {
    pub buf: Vec<u8>,
    /// Bytes of an over-long octet-counted message still to skip.
    skip_bytes: usize,
    /// An over-long newline-framed message is being skipped up to its newline.
    skip_line: bool,
}

impl Framer {
    /// Cuts every whole message out of the buffer, in order, and keeps the
    /// rest for the next read. At the end of the stream (`eof`), a last
    /// message without its newline counts as whole.
    pub fn drain(&mut self, eof: bool, mut each: impl FnMut(Result<&[u8], DropReason>)) {
        let mut at = 0;
        loop {
            let rest = &self.buf[at..];
            if self.skip_bytes > 0 {
                let skipped = self.skip_bytes.min(rest.len());
                self.skip_bytes -= skipped;
                at += skipped;
                if self.skip_bytes > 0 {
                    break;
                }
                continue;
            }
            if self.skip_line {
                match memchr::memchr(b'\n', rest) {
                    Some(end) => {
                        self.skip_line = false;
                        at += end + 1;
                        continue;
                    }
                    None => {
                        at += rest.len();
                        break;
                    }
                }
            }
            let blank = rest.iter().take_while(|b| matches!(b, b'\n' | b'\r' | b'\0' | b' ')).count();
            at += blank;
            let rest = &rest[blank..];
            if rest.is_empty() {
                break;
            }
            if rest[0].is_ascii_digit() {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                if digits == rest.len() && digits < 8 && !eof {
                    break; // the length is not all here yet
                }
                if digits < 8 && rest.get(digits) == Some(&b' ') {
                    let len: usize =
                        std::str::from_utf8(&rest[..digits]).ok().and_then(|d| d.parse().ok()).unwrap_or(0);
                    let whole = digits + 1 + len;
                    if len > MAX_MESSAGE_BYTES {
                        each(Err(DropReason::TooLong));
                        self.skip_bytes = whole;
                        continue;
                    }
                    if rest.len() < whole {
                        if eof {
                            each(Err(DropReason::Unparsable));
                            at += rest.len();
                        }
                        break;
                    }
                    each(Ok(&rest[digits + 1..whole]));
                    at += whole;
                    continue;
                }
                // Digits without a space: not a length, read it as a line.
            }
            match memchr::memchr(b'\n', rest) {
                Some(end) if end > MAX_MESSAGE_BYTES => {
                    each(Err(DropReason::TooLong));
                    at += end + 1;
                }
                Some(end) => {
                    each(Ok(&rest[..end]));
                    at += end + 1;
                }
                None if rest.len() > MAX_MESSAGE_BYTES => {
                    each(Err(DropReason::TooLong));
                    self.skip_line = true;
                    at += rest.len();
                    break;
                }
                None if eof => {
                    each(Ok(rest));
                    at += rest.len();
                    break;
                }
                None => break,
            }
        }
        self.buf.drain(..at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(framer: &mut Framer, bytes: &[u8], eof: bool) -> Vec<Result<String, DropReason>> {
        framer.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        framer.drain(eof, |frame| out.push(frame.map(|f| String::from_utf8_lossy(f).into_owned())));
        out
    }

    #[test]
    fn octet_counted_and_newline_framed_messages_mix_and_may_arrive_in_pieces() {
        let mut framer = Framer::default();
        assert_eq!(cut(&mut framer, b"11 <13>1 hello", false), [Ok("<13>1 hello".to_string())]);
        assert_eq!(cut(&mut framer, b"<13>second\n1", false), [Ok("<13>second".to_string())]);
        assert_eq!(cut(&mut framer, b"6 <13>with\nnewline", false), [Ok("<13>with\nnewline".to_string())]);
        assert_eq!(cut(&mut framer, b"<13>no newline at the end", false), []);
        assert_eq!(cut(&mut framer, b"", true), [Ok("<13>no newline at the end".to_string())]);
        assert!(framer.buf.is_empty());
    }

    #[test]
    fn an_over_long_message_is_skipped_and_the_next_one_kept() {
        let mut framer = Framer::default();
        let huge = MAX_MESSAGE_BYTES + 10;
        let mut counted = format!("{huge} ").into_bytes();
        counted.extend(std::iter::repeat_n(b'x', huge));
        counted.extend_from_slice(b"<13>after counted\n");
        let mut got = Vec::new();
        for piece in counted.chunks(10_000) {
            got.extend(cut(&mut framer, piece, false));
        }
        assert_eq!(got, [Err(DropReason::TooLong), Ok("<13>after counted".to_string())]);

        let mut line = vec![b'<'; huge];
        line.extend_from_slice(b"\n<13>after line\n");
        let mut got = Vec::new();
        for piece in line.chunks(30_000) {
            got.extend(cut(&mut framer, piece, false));
        }
        assert_eq!(got, [Err(DropReason::TooLong), Ok("<13>after line".to_string())]);
    }

    #[test]
    fn a_stream_cut_inside_a_counted_message_reports_it() {
        let mut framer = Framer::default();
        assert_eq!(cut(&mut framer, b"50 <13>short", true), [Err(DropReason::Unparsable)]);
    }
}
