//! Queue ids: the name of one message in log lines, SMTP replies, notices and the quarantine (where it is
//! also a file name). The SMTP server and the milter take their ids from here, so both name mail alike.
//!
//! An id is `MW`, then 9 characters of milliseconds since the Unix epoch, then 8 characters of a
//! per-process random start plus a counter, both in Crockford's base32 (digits and capitals without
//! `I L O U`): 19 characters, letters and digits only, and byte order is time order to the millisecond.
//!
//! - Within one process ids never repeat, whatever the clock does: the counter walks through 2^40
//!   suffixes before one comes back.
//! - Across processes (a restart within the same second, a crash loop, the clock stepped back by NTP) two
//!   ids meet only when the same millisecond meets the same 40-bit suffix; the random start makes that
//!   about one in 10^12 per millisecond both processes used.
//!
//! The quarantine does not rely on that alone: it never replaces an entry and stores a clash under a new
//! id (see [`crate::quarantine`]). Must not: read anything but the clock and the process's random seed.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Crockford's base32 alphabet; in ASCII order, so fixed-width numbers sort as their text.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters for the time: 45 bits of milliseconds, enough until the year 3084.
const TIME_CHARS: u32 = 9;
/// Characters for the suffix: 40 bits.
const SUFFIX_CHARS: u32 = 8;
const SUFFIX_MASK: u64 = (1 << (5 * SUFFIX_CHARS)) - 1;

/// The length of every id.
pub const LEN: usize = 2 + TIME_CHARS as usize + SUFFIX_CHARS as usize;

/// Ids of one process: a random start and a counter.
#[derive(Debug)]
pub struct Generator {
    start: u64,
    counter: AtomicU64,
}

impl Generator {
    /// A generator whose suffixes start at `start` (random in [`new`]; fixed in tests).
    pub fn starting_at(start: u64) -> Generator {
        Generator {
            start,
            counter: AtomicU64::new(0),
        }
    }

    /// The next id for the time `millis` (milliseconds since the Unix epoch).
    pub fn next_at(&self, millis: u64) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format_id(millis, self.start.wrapping_add(n) & SUFFIX_MASK)
    }
}

/// `MW` + `millis` in 9 characters + `suffix` in 8 characters.
fn format_id(millis: u64, suffix: u64) -> String {
    let mut id = String::with_capacity(LEN);
    id.push_str("MW");
    push_base32(&mut id, millis, TIME_CHARS);
    push_base32(&mut id, suffix, SUFFIX_CHARS);
    id
}

fn push_base32(out: &mut String, value: u64, chars: u32) {
    for i in (0..chars).rev() {
        let digit = (value >> (5 * i)) & 31;
        out.push(char::from(ALPHABET[digit as usize]));
    }
}

/// A random 64-bit start for this process. std seeds `RandomState` from the operating system's random
/// source once per thread; the pid and the time are mixed in as well.
fn random_start() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}

/// A new queue id (see the module docs).
pub fn new() -> String {
    static GENERATOR: OnceLock<Generator> = OnceLock::new();
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    GENERATOR
        .get_or_init(|| Generator::starting_at(random_start()))
        .next_at(millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_short_plain_and_valid_quarantine_names() {
        let id = new();
        assert_eq!(id.len(), 19);
        assert!(id.starts_with("MW"));
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert!(crate::quarantine::valid_id(&id));
    }

    #[test]
    fn ids_sort_by_time() {
        let g = Generator::starting_at(u64::MAX);
        let mut previous = g.next_at(0);
        for millis in [1, 31, 32, 1_000, 1_795_392_000_000, (1 << 45) - 1] {
            let id = g.next_at(millis);
            assert!(id > previous, "{id} after {previous}");
            previous = id;
        }
        assert_eq!(format_id(0, 0), "MW00000000000000000");
        assert_eq!(format_id(32, 31), "MW0000000100000000Z");
    }

    /// The old scheme (seconds + a counter from 0) gave a restarted process the ids of the one before;
    /// within one process ids never repeat, even when the clock stands still or steps back.
    #[test]
    fn ids_of_one_process_never_repeat_whatever_the_clock() {
        let g = Generator::starting_at(SUFFIX_MASK - 5);
        let mut seen = HashSet::new();
        for i in 0..50_000u64 {
            let millis = 1_000_000 - (i % 7);
            assert!(seen.insert(g.next_at(millis)), "repeated at {i}");
        }
    }

    #[test]
    fn two_processes_in_the_same_millisecond_get_different_ids() {
        let (a, b) = (
            Generator::starting_at(random_start()),
            Generator::starting_at(random_start()),
        );
        let ids_a: HashSet<_> = (0..1000).map(|_| a.next_at(42)).collect();
        assert!((0..1000).all(|_| !ids_a.contains(&b.next_at(42))));
    }
}
