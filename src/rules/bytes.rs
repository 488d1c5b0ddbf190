//! Byte-run scanning shared by the text rules: how far a run of bytes of one kind (letters, ASCII, non-space,
//! non-digit) goes. Mail text is made of long runs, so the scan tests whole blocks at a time.
//!
//! Pure, no I/O, never panics.

/// Bytes tested per step by [`span`].
const BLOCK: usize = 32;

/// How many bytes at the start of `bytes` satisfy `keep`. Whole 32-byte blocks are tested without an early
/// exit, which compiles to vector instructions; only the block where the span ends is walked byte by byte.
pub(crate) fn span(bytes: &[u8], keep: impl Fn(u8) -> bool) -> usize {
    let mut n = 0;
    for block in bytes.chunks_exact(BLOCK) {
        if !block.iter().fold(true, |all, &b| all & keep(b)) {
            break;
        }
        n += BLOCK;
    }
    let rest = bytes.get(n..).unwrap_or_default();
    n + rest.iter().position(|&b| !keep(b)).unwrap_or(rest.len())
}

/// Widen `start..end` of `bytes` to the run it lies in: back to just after the last byte before `start` that is
/// `stop`, forward to the first `stop` byte from `end` (or the ends of `bytes`). The word around a match
/// (`stop` = space), the line around a keyword (`stop` = line break).
pub(crate) fn widen(
    bytes: &[u8],
    start: usize,
    end: usize,
    stop: impl Fn(u8) -> bool,
) -> (usize, usize) {
    let s = bytes
        .get(..start)
        .and_then(|b| b.iter().rposition(|&c| stop(c)))
        .map_or(0, |p| p + 1);
    let e = bytes
        .get(end..)
        .and_then(|b| b.iter().position(|&c| stop(c)))
        .map_or(bytes.len(), |p| end + p);
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn widen_to_the_run() {
        let space = |c: u8| c == b' ';
        assert_eq!(widen(b"ab cdef gh", 4, 5, space), (3, 7));
        assert_eq!(widen(b"abc", 1, 2, space), (0, 3));
        assert_eq!(widen(b"", 0, 0, space), (0, 0));
        assert_eq!(widen(b"ab", 5, 9, space), (0, 2));
    }

    #[test]
    fn span_table() {
        let letters = |b: u8| b.is_ascii_alphabetic();
        assert_eq!(span(b"", letters), 0);
        assert_eq!(span(b"1abc", letters), 0);
        assert_eq!(span(b"abc", letters), 3);
        assert_eq!(span(b"abc def", letters), 3);
        // The end inside the second block, and exactly at a block edge.
        let mut long = vec![b'x'; 40];
        long[37] = b' ';
        assert_eq!(span(&long, letters), 37);
        assert_eq!(span(&[b'x'; 64], letters), 64);
        long[32] = b'.';
        assert_eq!(span(&long, letters), 32);
    }

    proptest! {
        /// The same answer as a byte-by-byte walk, for any bytes and a run end anywhere.
        #[test]
        fn span_is_a_byte_walk(bytes in proptest::collection::vec(prop_oneof![9 => Just(b'a'), 1 => any::<u8>()], 0..200)) {
            let keep = |b: u8| b == b'a';
            let walk = bytes.iter().position(|&b| !keep(b)).unwrap_or(bytes.len());
            prop_assert_eq!(span(&bytes, keep), walk);
        }
    }
}
