//! A language model (`*.model` beside the rule files): a linear classifier over the words and word pairs of
//! a text that says how likely the text is unwanted and of which class (threats, grooming, chain mail …),
//! for the rule kind `model`.
//!
//! Word lists name what their author thought of; a set of school mail written by someone else says the same
//! thing in other words (issue 14: lists shaped on one set reached 96% there and 62–66% on the next). A
//! model learnt from thousands of labelled messages weighs every word and word pair a little, as
//! SpamAssassin's and rspamd's Bayes classifiers do, so that the next way of saying a threat still adds up.
//!
//! The features are those of the folded text the word rules see ([`super::near::FoldedSentences`]): each
//! word and each pair of neighbouring words in one sentence that the model's vocabulary holds, present or
//! not (binary, L2-normalised; words outside the vocabulary are left out). A text
//! is scored in chunks of about [`CHUNK_WORDS`] words, so a threat in a long attachment is not diluted by
//! the pages around it. The classes and ordinary text (the reference class, weight 0) share one softmax: a
//! chunk is unwanted with the probability of all classes together, and of the class with the most of it;
//! the text is judged by its most unwanted chunk. When a chunk leans unwanted, every run of three sentences
//! is judged too ([`WINDOW_SENTENCES`]), so that a two-line threat is not diluted by the greeting, the
//! signature and the disclaimer around it.
//!
//! The file is text: a `classes` line, a `bias` line and one line per feature (`word` or `word word`, then
//! one weight per class, tab-separated, or no weights for a word the model knows as neutral); `#` starts a
//! comment. `examples/train_model.rs` writes it. Pure:
//! no I/O here, and a score never carries a word.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::near::FoldedSentences;

/// A chunk ends at the first sentence end after this many words.
pub const CHUNK_WORDS: usize = 120;

/// Besides its chunks, a text is judged by every run of this many consecutive sentences (when it has more
/// and its chunks lean unwanted, [`WINDOW_GATE`]): a threat of two sentences between a greeting, a signature
/// and a disclaimer is judged on its own words, not diluted by the whole mail's. Chosen with the gate by
/// training without sets 26 to 30 and measuring on them (issue 14): 27 more of 1,155 must-stop messages,
/// 5 more wrong stops of 1,890; runs of 2 or 4 sentences, or a higher score for runs instead of the gate,
/// did no better.
pub const WINDOW_SENTENCES: usize = 3;

/// The runs of sentences are judged only in a text whose most unwanted chunk has at least this
/// probability: ordinary mail (nearly all of it below) is judged by its chunks alone, as before, and costs
/// no more. Without the gate the runs stopped 49 more ordinary mails of 10,570 in sets 5 to 32 (short runs
/// of greetings and function words); with it, none.
pub const WINDOW_GATE: f64 = 0.1;

/// A chunk with fewer words and pairs the model knows is too little to judge (`Ter info doorgestuurd` above
/// a forwarded mail shares its few words with chain letters); the word rules judge short texts.
pub const MIN_KNOWN: usize = 12;

/// The highest `min-known` a model rule may ask for: a chunk of [`CHUNK_WORDS`] words rarely has many more
/// known words and pairs.
pub const MAX_MIN_KNOWN: usize = 100;

/// A sentence in which the model knows fewer than this share of the words of three letters or more is not
/// language it learnt (another language, uuencoded or base64 text read as words) and is left out.
pub const MIN_KNOWN_SHARE: f64 = 0.5;

/// A hasher for keys that are hashes already (the features' FNV-1a): the key is the hash, so a lookup
/// costs no second hash.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Feature hash → row.
type Rows = HashMap<u64, u32, BuildHasherDefault<Prehashed>>;

/// A compiled language model: per feature (by hash) one weight per class.
#[derive(Debug)]
pub struct Model {
    /// The class names, in column order.
    classes: Vec<String>,
    /// One bias per class.
    bias: Vec<f32>,
    /// A chunk's features are normalised as if it had at least this many (the file's `norm-floor` line;
    /// 0 without one): a short text's few words count for less, as a short text says less.
    norm_floor: usize,
    /// Feature hash → row in `weights` (a neutral word's row is zeros: it counts in the norm only).
    rows: Rows,
    /// Row-major: `classes.len()` weights per feature.
    weights: Vec<f32>,
}

/// The feature hash: FNV-1a's constants, eight bytes at a time (stable across builds and machines, unlike
/// `std`'s hasher). A word is hashed on its own; a pair goes on from its first word's hash.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const START: Fnv = Fnv(0xcbf2_9ce4_8422_2325);
    const PRIME: u64 = 0x0100_0000_01b3;

    fn bytes(self, bytes: &[u8]) -> Fnv {
        let mut h = self.0;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(w);
            h = (h ^ u64::from_le_bytes(eight))
                .wrapping_mul(Self::PRIME)
                .rotate_left(29);
        }
        for &b in words.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
        Fnv(h)
    }

    fn word(word: &str) -> Fnv {
        Fnv::START.bytes(word.as_bytes())
    }

    fn pair(first: Fnv, second: &str) -> Fnv {
        first.bytes(b" ").bytes(second.as_bytes())
    }
}

/// The hash of a feature as the model file writes it (`word` or `word word`).
pub fn feature_hash(feature: &str) -> u64 {
    match feature.split_once(' ') {
        None => Fnv::word(feature).0,
        Some((first, second)) => Fnv::pair(Fnv::word(first), second).0,
    }
}

/// A sentence of more words than this is read by the model in pieces of [`CHUNK_WORDS`] words, as if it
/// were that many sentences: a text with no sentence ends (a hostile 16 MiB of words, a list without
/// punctuation) is judged chunk by chunk, and the room for one sentence's words stays small.
pub const MAX_SENTENCE_WORDS: usize = 4 * CHUNK_WORDS;

/// A folded sentence, or its pieces of [`CHUNK_WORDS`] words when it has more than [`MAX_SENTENCE_WORDS`].
fn pieces(sentence: &str) -> impl Iterator<Item = &str> {
    let long = word_count(sentence) > MAX_SENTENCE_WORDS;
    let mut rest = sentence;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if !long {
            return Some(std::mem::take(&mut rest));
        }
        // The end of the CHUNK_WORDS-th word: the space after it, or the end of the sentence.
        let cut = rest
            .match_indices(' ')
            .filter(|(i, _)| *i > 0 && rest.as_bytes().get(i - 1) != Some(&b' '))
            .nth(CHUNK_WORDS - 1)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, after) = rest.split_at(cut);
        rest = after.trim_start_matches(' ');
        Some(piece)
    })
}

/// The sentences of a folded text as the model reads them: very long ones in pieces ([`pieces`]).
fn read_sentences(sentences: &FoldedSentences) -> Vec<&str> {
    sentences.iter().flat_map(pieces).collect()
}

/// The chunks of sentences read by [`read_sentences`], as ranges: a chunk ends at the first sentence end
/// after [`CHUNK_WORDS`] words, and a last chunk of fewer than half that joins the one before (so that the
/// end of a long text is not judged on its own few words).
fn chunk_ranges(all: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut words = 0;
    for (i, sentence) in all.iter().enumerate() {
        words += word_count(sentence);
        if words >= CHUNK_WORDS {
            out.push(start..i + 1);
            start = i + 1;
            words = 0;
        }
    }
    if start < all.len() {
        match out.last_mut() {
            Some(last) if words < CHUNK_WORDS / 2 => last.end = all.len(),
            _ => out.push(start..all.len()),
        }
    }
    out
}

/// The units a text is judged by, over the sentences read by [`read_sentences`]: its chunks (`ranges`, from
/// [`chunk_ranges`]), then every run of [`WINDOW_SENTENCES`] consecutive sentences when it has more than
/// that many.
fn units<'s, 'a>(
    all: &'s [&'a str],
    ranges: &'s [std::ops::Range<usize>],
) -> impl Iterator<Item = &'s [&'a str]> {
    let runs = all
        .windows(WINDOW_SENTENCES)
        .filter(move |_| all.len() > WINDOW_SENTENCES);
    ranges.iter().filter_map(|r| all.get(r.clone())).chain(runs)
}

/// The words of a folded sentence (words are separated by spaces): the starts of runs of non-spaces.
fn word_count(sentence: &str) -> usize {
    let mut words = 0;
    let mut after_space = true;
    for &c in sentence.as_bytes() {
        let space = c == b' ';
        words += usize::from(after_space && !space);
        after_space = space;
    }
    words
}

/// A number (`030`, `2025`, `21`): no feature. A signature's phone number, a date and a time say nothing about
/// the kind of text, and the sets' texts the model learns from are without the signatures and dates around
/// them (a forwarding note over `T 030 - 123 45 21` read as chain mail). A number also ends a pair.
fn is_number(word: &str) -> bool {
    word.bytes().all(|b| b.is_ascii_digit())
}

/// Each word and each pair of neighbouring words of a chunk, in the order they come; numbers left out
/// ([`is_number`]).
fn features<'a>(chunk: &[&'a str], mut each: impl FnMut(&'a str, Option<&'a str>)) {
    for sentence in chunk {
        let mut previous: Option<&str> = None;
        for word in sentence.split(' ').filter(|w| !w.is_empty()) {
            if is_number(word) {
                previous = None;
                continue;
            }
            each(word, None);
            if let Some(p) = previous {
                each(p, Some(word));
            }
            previous = Some(word);
        }
    }
}

/// The features of a chunk that the model knows, as rows: `lookup` gives a feature hash's row, `add` takes
/// each known word and pair of neighbouring words (repeats included). Each word is hashed once; a pair's
/// hash goes on from its first word's and is looked up only when both words are known (a model knows a pair
/// only with its words: [`Model::parse`]), which spares most pairs of names and rare words. A sentence in
/// which fewer than [`MIN_KNOWN_SHARE`] of the words of three letters or more are known is left out whole:
/// it is not language the model learnt (another language, a uuencoded part read as text, whose one- and
/// two-letter fragments are what disguised insults are made of). Per sentence, so that a paragraph of
/// Latin added to a threat does not hide the threat.
/// `words` is room for one sentence's words, kept from chunk to chunk.
fn hashed_features<'a>(
    chunk: &[&'a str],
    words: &mut Vec<(&'a str, Fnv, Option<u32>)>,
    mut lookup: impl FnMut(u64) -> Option<u32>,
    mut add: impl FnMut(u32),
) {
    for sentence in chunk {
        words.clear();
        let (mut long, mut known_long) = (0usize, 0usize);
        for word in sentence.split(' ').filter(|w| !w.is_empty()) {
            let hash = Fnv::word(word);
            if is_number(word) {
                // No feature, not one of the words the model should know; it ends a pair.
                words.push((word, hash, None));
                continue;
            }
            let row = lookup(hash.0);
            if word.len() >= 3 {
                long += 1;
                known_long += usize::from(row.is_some());
            }
            words.push((word, hash, row));
        }
        if (known_long as f64) < MIN_KNOWN_SHARE * long as f64 {
            continue;
        }
        let mut previous: Option<Fnv> = None;
        for &(word, hash, row) in words.iter() {
            let Some(row) = row else {
                previous = None;
                continue;
            };
            add(row);
            if let Some(pair) = previous.and_then(|p| lookup(Fnv::pair(p, word).0)) {
                add(pair);
            }
            previous = Some(hash);
        }
    }
}

/// The features of a folded text, chunk by chunk: each chunk's distinct feature hashes, sorted.
pub fn chunks(sentences: &FoldedSentences) -> Vec<Vec<u64>> {
    let all = read_sentences(sentences);
    chunk_ranges(&all)
        .into_iter()
        .filter_map(|r| all.get(r))
        .map(|chunk| {
            let mut hashes = Vec::new();
            hashed_features(
                chunk,
                &mut Vec::new(),
                |h| {
                    hashes.push(h);
                    Some(0)
                },
                |_| {},
            );
            hashes.sort_unstable();
            hashes.dedup();
            hashes
        })
        .collect()
}

/// The features of a folded text as the model file spells them (`word`, `word word`), chunk by chunk, each
/// chunk's distinct features sorted (for training).
pub fn chunk_features(sentences: &FoldedSentences) -> Vec<Vec<String>> {
    let all = read_sentences(sentences);
    chunk_ranges(&all)
        .into_iter()
        .filter_map(|r| all.get(r))
        .map(named_features)
        .collect()
}

/// The distinct features of some sentences as the model file spells them, sorted.
fn named_features(chunk: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    features(chunk, |first, second| {
        names.push(match second {
            None => first.to_string(),
            Some(w) => format!("{first} {w}"),
        });
    });
    names.sort_unstable();
    names.dedup();
    names
}

/// The probabilities of the classes whose scores are `z`, beside a reference class (ordinary text) of
/// score 0, which has the rest.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let top = z.iter().copied().fold(0.0f64, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - top).exp()).collect();
    let total = (-top).exp() + e.iter().sum::<f64>();
    e.iter().map(|v| v / total).collect()
}

/// What a model makes of a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// The probability that the text's most unwanted chunk or run of sentences belongs to any class (is not
    /// ordinary).
    pub unwanted: f64,
    /// The most probable class of that chunk; `None` for a text without words.
    pub class: Option<usize>,
    /// How many distinct words and pairs of that chunk the model knows: how much text the judgement rests on.
    pub known: usize,
}

impl Model {
    /// Parse a model file; an error names the line and what is wrong with it.
    pub fn parse(src: &str) -> Result<Model, String> {
        let mut classes: Vec<String> = Vec::new();
        let mut bias: Vec<f32> = Vec::new();
        let mut rows = Rows::default();
        let mut weights: Vec<f32> = Vec::new();
        let mut pairs: Vec<(usize, &str, &str)> = Vec::new();
        let mut norm_floor = 0usize;
        for (n, line) in src.lines().enumerate() {
            let line_no = n + 1;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split('\t');
            let key = fields.next().unwrap_or_default();
            if classes.is_empty() {
                if key != "classes" {
                    return Err(format!(
                        "line {line_no}: the first line must be `classes` and the class names"
                    ));
                }
                classes = fields.map(str::to_string).collect();
                if classes.is_empty() || classes.iter().any(|c| c.trim().is_empty()) {
                    return Err(format!("line {line_no}: empty class name"));
                }
                continue;
            }
            let values = fields
                .map(|f| {
                    f.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| format!("line {line_no}: `{f}` is not a number"))
                })
                .collect::<Result<Vec<f32>, String>>()?;
            if key == "norm-floor" && !bias.is_empty() {
                norm_floor = match values.as_slice() {
                    [v] if *v >= 0.0 && v.fract() == 0.0 => *v as usize,
                    _ => {
                        return Err(format!(
                            "line {line_no}: `norm-floor` takes one whole number"
                        ))
                    }
                };
                continue;
            }
            let neutral = values.is_empty() && !bias.is_empty();
            if values.len() != classes.len() && !neutral {
                return Err(format!(
                    "line {line_no}: {} weights for {} classes",
                    values.len(),
                    classes.len()
                ));
            }
            if bias.is_empty() {
                if key != "bias" {
                    return Err(format!("line {line_no}: the second line must be `bias`"));
                }
                bias = values;
                continue;
            }
            if key.is_empty() || key.split(' ').count() > 2 || key.contains("  ") {
                return Err(format!(
                    "line {line_no}: feature `{key}` must be one word or two"
                ));
            }
            if let Some((first, second)) = key.split_once(' ') {
                pairs.push((line_no, first, second));
            }
            let row = u32::try_from(rows.len())
                .map_err(|_| format!("line {line_no}: too many features"))?;
            if rows.insert(feature_hash(key), row).is_some() {
                return Err(format!("line {line_no}: feature `{key}` is listed twice"));
            }
            if neutral {
                weights.extend(std::iter::repeat_n(0.0, classes.len()));
            } else {
                weights.extend(values);
            }
        }
        if bias.is_empty() {
            return Err("no `classes` and `bias` lines".to_string());
        }
        // Scoring looks a pair up only after both its words (`hashed_features`).
        for (line_no, first, second) in pairs {
            if let Some(word) = [first, second]
                .into_iter()
                .find(|w| !rows.contains_key(&feature_hash(w)))
            {
                return Err(format!(
                    "line {line_no}: the pair `{first} {second}` needs `{word}` as a feature too"
                ));
            }
        }
        Ok(Model {
            classes,
            bias,
            norm_floor,
            rows,
            weights,
        })
    }

    /// The column of a class.
    pub fn class(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }

    /// The class names, in column order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The probability of each class for one chunk's distinct features; `None` when the model knows fewer
    /// than [`MIN_KNOWN`] of them. L2-normalised binary features over the model's vocabulary: each present
    /// word or pair the model knows weighs 1/√n; others (names, greetings, rare words) are left out, as in
    /// training.
    pub fn probabilities(&self, features: &[u64]) -> Option<Vec<f64>> {
        let k = self.classes.len();
        let mut z: Vec<f64> = vec![0.0; k];
        let mut known = 0usize;
        for f in features {
            let Some(&row) = self.rows.get(f) else {
                continue;
            };
            known += 1;
            let start = row as usize * k;
            if let Some(w) = self.weights.get(start..start + k) {
                for (acc, w) in z.iter_mut().zip(w) {
                    *acc += f64::from(*w);
                }
            }
        }
        self.softmax_of(&z, known)
    }

    /// The class probabilities for summed weights `z` of `known` distinct features; `None` below
    /// [`MIN_KNOWN`].
    fn softmax_of(&self, z: &[f64], known: usize) -> Option<Vec<f64>> {
        if known < MIN_KNOWN {
            return None;
        }
        let norm = 1.0 / (known.max(self.norm_floor) as f64).sqrt();
        let z: Vec<f64> = z
            .iter()
            .zip(&self.bias)
            .map(|(z, b)| f64::from(*b) + z * norm)
            .collect();
        Some(softmax(&z))
    }

    /// The judgement of a text by its most unwanted chunk or run of sentences ([`WINDOW_SENTENCES`]). Each
    /// unit's features are looked up as they come and counted once (a stamp per row, kept per thread), so
    /// nothing is collected or sorted.
    pub fn judge(&self, sentences: &FoldedSentences) -> Judgement {
        thread_local! {
            static STAMPS: std::cell::RefCell<(Vec<u32>, u32)> =
                const { std::cell::RefCell::new((Vec::new(), 0)) };
        }
        STAMPS.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (stamps, generation) = &mut *guard;
            if stamps.len() < self.rows.len() {
                stamps.resize(self.rows.len(), 0);
            }
            self.judge_with(sentences, stamps, generation)
        })
    }

    fn judge_with(
        &self,
        sentences: &FoldedSentences,
        stamps: &mut [u32],
        generation: &mut u32,
    ) -> Judgement {
        let k = self.classes.len();
        let mut best = Judgement {
            unwanted: 0.0,
            class: None,
            known: 0,
        };
        let mut z: Vec<f64> = vec![0.0; k];
        let mut words = Vec::new();
        let all = read_sentences(sentences);
        let ranges = chunk_ranges(&all);
        let chunks = ranges.len();
        // The most unwanted chunk's probability: the runs of sentences come after the chunks, and are judged
        // only when it reaches WINDOW_GATE.
        let mut chunk_best = 0.0f64;
        for (u, chunk) in units(&all, &ranges).enumerate() {
            if u >= chunks && chunk_best < WINDOW_GATE {
                break;
            }
            // A new stamp for this unit; on wrapping, every old stamp is cleared first.
            *generation = generation.wrapping_add(1);
            if *generation == 0 {
                stamps.fill(0);
                *generation = 1;
            }
            let stamp = *generation;
            z.fill(0.0);
            let mut known = 0usize;
            hashed_features(
                chunk,
                &mut words,
                |f| self.rows.get(&f).copied(),
                |row| {
                    let Some(seen) = stamps.get_mut(row as usize) else {
                        return;
                    };
                    if *seen == stamp {
                        return;
                    }
                    *seen = stamp;
                    known += 1;
                    let start = row as usize * k;
                    if let Some(w) = self.weights.get(start..start + k) {
                        for (acc, w) in z.iter_mut().zip(w) {
                            *acc += f64::from(*w);
                        }
                    }
                },
            );
            let Some(p) = self.softmax_of(&z, known) else {
                continue;
            };
            let unwanted: f64 = p.iter().sum();
            if u < chunks {
                chunk_best = chunk_best.max(unwanted);
            }
            if best.class.is_none() || unwanted > best.unwanted {
                let class = p
                    .iter()
                    .enumerate()
                    .fold(None, |acc: Option<(usize, f64)>, (i, &v)| match acc {
                        Some((_, top)) if top >= v => acc,
                        _ => Some((i, v)),
                    })
                    .map(|(i, _)| i);
                best = Judgement {
                    unwanted,
                    class,
                    known,
                };
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words the test model knows with weight 0: enough of them for a chunk to be judged.
    const NEUTRAL: &str = "we gaan morgen met de hele klas naar het museum in de stad";

    /// A model with two classes that knows the neutral sentence's words and pairs (weight 0) and a few
    /// words that weigh.
    fn small() -> Model {
        let mut src = String::from("# test\nclasses\tdreiging\tketting\nbias\t-2.0\t-2.0\n");
        let words: Vec<&str> = NEUTRAL.split(' ').collect();
        let mut neutral: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        neutral.extend(words.windows(2).map(|p| p.join(" ")));
        neutral.sort();
        neutral.dedup();
        for (n, f) in neutral.iter().enumerate() {
            // Both spellings of a neutral word: zero weights, or none.
            if n % 2 == 0 {
                src.push_str(&format!("{f}\t0\t0\n"));
            } else {
                src.push_str(&format!("{f}\n"));
            }
        }
        src.push_str("ik\t0\t0\nsteek\t3.0\t0.0\nik steek\t3.0\t0.0\ndoorsturen\t0.0\t12.0\n");
        Model::parse(&src).unwrap()
    }

    /// How many words and pairs of `text` the model knows.
    fn known(m: &Model, text: &str) -> usize {
        chunks(&FoldedSentences::new(text))
            .iter()
            .flatten()
            .filter(|f| m.rows.contains_key(f))
            .count()
    }

    #[test]
    fn a_text_scores_by_its_words_and_pairs() {
        let m = small();
        assert_eq!(m.classes(), ["dreiging", "ketting"]);
        let text = format!("{NEUTRAL} en ik steek.");
        let n = known(&m, &text) as f64;
        let j = m.judge(&FoldedSentences::new(&text));
        // steek and `ik steek` weigh 3 each, the rest 0: z = 6 / √n − 2 against −2 and 0.
        let z = 6.0 / n.sqrt() - 2.0;
        let want = z.exp() / (1.0 + z.exp() + (-2f64).exp());
        assert_eq!(j.class, Some(0));
        let p = m
            .probabilities(&chunks(&FoldedSentences::new(&text))[0])
            .unwrap();
        assert!((p[0] - want).abs() < 1e-9, "{p:?}");
        assert!((j.unwanted - p.iter().sum::<f64>()).abs() < 1e-12);
        // A pair only counts within a sentence.
        let apart = m.judge(&FoldedSentences::new(&format!("{NEUTRAL} en ik. Steek.")));
        assert!(apart.unwanted < j.unwanted);
        // Words the model does not know change nothing.
        let names = m.judge(&FoldedSentences::new(&format!(
            "Hoi Xandra, {text} Groet, Ybe"
        )));
        assert!((names.unwanted - j.unwanted).abs() < 1e-12);
    }

    #[test]
    fn a_short_text_counts_as_if_it_had_the_norm_floor() {
        let text = format!("{NEUTRAL} en ik steek.");
        let n = known(&small(), &text);
        let mut floored = small();
        floored.norm_floor = 4 * n;
        let plain = small().judge(&FoldedSentences::new(&text));
        let short = floored.judge(&FoldedSentences::new(&text));
        // z = 6 / √(4n) − 2 (half the words' say) against −2 and ordinary text's 0.
        let z = 6.0 / ((4 * n) as f64).sqrt() - 2.0;
        let want = (z.exp() + (-2f64).exp()) / (1.0 + z.exp() + (-2f64).exp());
        assert!((short.unwanted - want).abs() < 1e-9, "{short:?}");
        assert!(short.unwanted < plain.unwanted);
        // A floor below the text's own count changes nothing; the file's line sets it.
        floored.norm_floor = n;
        assert_eq!(floored.judge(&FoldedSentences::new(&text)), plain);
        let src = "classes\ta\nbias\t1\nnorm-floor\t20\nw\t1\n";
        assert_eq!(Model::parse(src).unwrap().norm_floor, 20);
    }

    #[test]
    fn sentences_the_model_mostly_does_not_know_are_left_out() {
        let m = small();
        let text = format!("{NEUTRAL} en ik steek.");
        let alone = m.judge(&FoldedSentences::new(&text));
        assert!(alone.class.is_some());
        // The same words amid more unknown ones in one sentence (another language, encoded data read as
        // words) are not judged …
        let foreign = format!(
            "{NEUTRAL} en ik steek die Hasen klagten einst ueber ihre missliche Lage sprach Redner steter Furcht"
        );
        let j = m.judge(&FoldedSentences::new(&foreign));
        assert_eq!((j.unwanted, j.class), (0.0, None), "{j:?}");
        // … a sentence of them beside the text leaves the text's judgement as it was (padding hides nothing) …
        let padded = format!(
            "{text} Lorem ipsum dolor amet consectetur adipiscing elit eiusmod tempor incididunt labore."
        );
        assert_eq!(m.judge(&FoldedSentences::new(&padded)), alone);
        // … and short fragments (`m`, `ee`, as uuencoded lines fold into) count neither way.
        let fragments = format!("{NEUTRAL} en ik steek m ee g ia m2 a8 x.");
        assert!(m.judge(&FoldedSentences::new(&fragments)).class.is_some());
    }

    #[test]
    fn numbers_are_no_features() {
        let m = small();
        let text = format!("{NEUTRAL} en ik steek.");
        let alone = m.judge(&FoldedSentences::new(&text));
        // A phone number, a date and a time beside the text, and a number between two words: no feature,
        // no pair across it, and not a word the model should have known.
        let numbered = format!("{text} T 030 - 123 45 21, 28 10 2025 om 09 56.");
        assert_eq!(m.judge(&FoldedSentences::new(&numbered)), alone);
        assert_eq!(known(&m, &numbered), known(&m, &text));
        let cut = m.judge(&FoldedSentences::new(&format!("{NEUTRAL} en ik 12 steek.")));
        assert!(cut.unwanted < alone.unwanted);
        assert_eq!(
            named_features(&["ik 12 steek"]),
            ["ik", "steek"].map(String::from)
        );
    }

    #[test]
    fn too_little_known_text_is_not_judged() {
        let m = small();
        let short = m.judge(&FoldedSentences::new("Ik steek. Doorsturen!"));
        assert_eq!((short.unwanted, short.class), (0.0, None));
        assert!(known(&m, "Ik steek. Doorsturen!") < MIN_KNOWN);
        let none = m.judge(&FoldedSentences::new(""));
        assert_eq!((none.unwanted, none.class), (0.0, None));
    }

    #[test]
    fn softmax_leaves_the_rest_to_ordinary_text() {
        let p = softmax(&[0.0, 0.0]);
        assert!(p.iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-12));
        // Large scores do not overflow.
        let p = softmax(&[800.0, -800.0]);
        assert!((p[0] - 1.0).abs() < 1e-12 && p[1] == 0.0);
    }

    #[test]
    fn a_sentence_without_end_is_read_in_pieces() {
        let words = |n: usize| vec!["woord"; n].join(" ");
        let normal = words(MAX_SENTENCE_WORDS);
        assert_eq!(pieces(&normal).collect::<Vec<_>>(), [normal.as_str()]);
        let long = words(MAX_SENTENCE_WORDS * 3 + 7);
        let got: Vec<usize> = pieces(&long).map(word_count).collect();
        assert!(got.iter().all(|&n| n == CHUNK_WORDS || n == 7), "{got:?}");
        assert_eq!(got.iter().sum::<usize>(), MAX_SENTENCE_WORDS * 3 + 7);
        assert!(pieces(&long).all(|p| !p.starts_with(' ') && !p.ends_with(' ')));
        // A threat after thousands of words the model does not know, with no sentence end: its own pieces are
        // judged (as one sentence, the unknown words would leave the whole of it out).
        let m = small();
        let text = format!(
            "{}{}{NEUTRAL}",
            "regenjas ".repeat(2000),
            "ik steek ".repeat(130)
        );
        let whole = m.judge(&FoldedSentences::new(&text));
        let alone = m.judge(&FoldedSentences::new(&format!(
            "{}{NEUTRAL}",
            "ik steek ".repeat(130)
        )));
        assert_eq!(whole.class, Some(0), "{whole:?}");
        assert!(
            whole.unwanted >= alone.unwanted * 0.9,
            "{whole:?} {alone:?}"
        );
    }

    #[test]
    fn a_long_text_is_judged_by_its_worst_chunk() {
        let m = small();
        let short = m.judge(&FoldedSentences::new(&format!(
            "{NEUTRAL}. Alles doorsturen."
        )));
        let filler = format!("{NEUTRAL}. ").repeat(30);
        let long = m.judge(&FoldedSentences::new(&format!("{filler}Alles doorsturen.")));
        assert_eq!(long.class, Some(1));
        assert!(long.unwanted > 0.5, "{long:?}");
        assert!(
            (short.unwanted - long.unwanted).abs() < 0.2,
            "{short:?} vs {long:?}"
        );
        // Read as one chunk, the filler would have drowned it.
        assert!(chunks(&FoldedSentences::new(&filler)).len() > 1);
    }

    /// The `n`th of 100 made-up neutral words (`bas`, `bat`, `bes` …; letters only, which folding keeps).
    fn neutral_word(n: usize) -> String {
        let [first, second, third] = [n / 10, n / 2 % 5, n % 2];
        ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r"][first].to_string()
            + ["a", "e", "i", "o", "u"][second]
            + ["s", "t"][third]
    }

    /// A model of the 100 neutral words and their pairs, with `steek` and `ik steek` weighing `weight` for
    /// `dreiging`, and both classes the bias `bias`.
    fn diluting(bias: f64, weight: f64) -> Model {
        let mut src = format!("# test\nclasses\tdreiging\tketting\nbias\t{bias}\t{bias}\n");
        for n in 0..100 {
            src.push_str(&format!("{}\t0\t0\n", neutral_word(n)));
            if n > 0 {
                src.push_str(&format!(
                    "{} {}\t0\t0\n",
                    neutral_word(n - 1),
                    neutral_word(n)
                ));
            }
        }
        src.push_str(&format!(
            "ik\t0\t0\nsteek\t{weight}\t0\nik steek\t{weight}\t0\n"
        ));
        Model::parse(&src).unwrap()
    }

    /// Nine sentences of ten neutral words each ([`neutral_word`]), with `Ik steek.` after the fourth.
    fn diluted_threat() -> String {
        let mut text = String::new();
        for s in 0..9 {
            let words: Vec<String> = (s * 10..s * 10 + 10).map(neutral_word).collect();
            text.push_str(&words.join(" "));
            text.push_str(". ");
            if s == 3 {
                text.push_str("Ik steek. ");
            }
        }
        text
    }

    #[test]
    fn a_short_threat_in_a_long_mail_is_judged_on_its_own_sentences() {
        let m = diluting(-2.0, 8.0);
        let text = diluted_threat();
        let sentences = FoldedSentences::new(&text);
        let whole = m.probabilities(&chunks(&sentences)[0]).unwrap();
        let whole: f64 = whole.iter().sum();
        // The one chunk leans unwanted but does not reach a half: the neutral words dilute it.
        assert!((WINDOW_GATE..0.5).contains(&whole), "{whole}");
        let j = m.judge(&sentences);
        assert!(j.unwanted > 0.5, "{j:?}");
        assert_eq!(j.class, Some(0));
        assert!(j.known < 60, "judged on a run of three sentences: {j:?}");
    }

    #[test]
    fn runs_of_sentences_are_judged_only_when_a_chunk_leans_unwanted() {
        // The same text, with a bias that keeps the chunk below the gate: the runs are not judged, and the
        // judgement is the chunk's.
        let m = diluting(-4.0, 8.0);
        let text = diluted_threat();
        let sentences = FoldedSentences::new(&text);
        let whole: f64 = m
            .probabilities(&chunks(&sentences)[0])
            .unwrap()
            .iter()
            .sum();
        assert!(whole < WINDOW_GATE, "{whole}");
        let j = m.judge(&sentences);
        assert!((j.unwanted - whole).abs() < 1e-9, "{j:?} vs {whole}");
        assert!(j.known > 100, "{j:?}");
        // Below the gate a run alone would have scored higher than the chunk.
        let words = |from: usize| {
            (from..from + 10)
                .map(neutral_word)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let run = FoldedSentences::new(&format!("{}. Ik steek. {}.", words(30), words(40)));
        assert!(m.judge(&run).unwanted > whole);
    }

    #[test]
    fn training_and_scoring_name_the_same_features() {
        let s = FoldedSentences::new("Ik steek je neer. Doorsturen!");
        let by_name: Vec<Vec<u64>> = chunk_features(&s)
            .iter()
            .map(|c| {
                let mut h: Vec<u64> = c.iter().map(|f| feature_hash(f)).collect();
                h.sort_unstable();
                h
            })
            .collect();
        assert_eq!(by_name, chunks(&s));
    }

    #[test]
    fn a_broken_file_names_its_line() {
        for (src, want) in [
            ("bias\t1\n", "line 1: the first line must be `classes`"),
            (
                "classes\ta\nfoo\t1\n",
                "line 2: the second line must be `bias`",
            ),
            (
                "classes\ta\tb\nbias\t1\n",
                "line 2: 1 weights for 2 classes",
            ),
            ("classes\ta\nbias\n", "line 2: 0 weights for 1 classes"),
            ("classes\ta\nbias\tx\n", "line 2: `x` is not a number"),
            (
                "classes\ta\nbias\t1\nw\t1\nw\t2\n",
                "line 4: feature `w` is listed twice",
            ),
            (
                "classes\ta\nbias\t1\na b c\t1\n",
                "line 3: feature `a b c` must be one word or two",
            ),
            ("classes\ta\nbias\tinf\n", "line 2: `inf` is not a number"),
            (
                "classes\ta\nbias\t1\nw\t1\nw v\t1\n",
                "line 4: the pair `w v` needs `v` as a feature too",
            ),
            (
                "classes\ta\nbias\t1\nnorm-floor\t2.5\n",
                "line 3: `norm-floor` takes one whole number",
            ),
            ("", "no `classes` and `bias` lines"),
        ] {
            let err = Model::parse(src).unwrap_err();
            assert!(err.contains(want), "{src:?}: {err}");
        }
    }

    #[test]
    fn the_embedded_model_judges_its_own_classes() {
        let (_, src) = crate::rules::EMBEDDED
            .iter()
            .find(|(name, _)| name.ends_with(".model"))
            .unwrap();
        let m = Model::parse(src).unwrap();
        assert!(m.classes().len() >= 8, "{:?}", m.classes());
        assert!(m.rows.len() > 10_000);
    }
}
