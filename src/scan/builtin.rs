//! The built-in scanner: the EICAR test string and a list of SHA-256 hashes of known-bad files.
//!
//! Not an antivirus; it exists so that the quarantine path can be tested end to end without clamd and so that
//! a school board can block a file it already knows. It looks at the raw message, every decoded text part,
//! every decoded attachment and every archive member that can be read within [`Limits`] (nested zips via
//! [`crate::message::visit_members`]). Detections name the place (`part 3, archive member 2`), never a file
//! name or content. CPU only, no I/O.

use std::collections::HashSet;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::{Detection, ScanError, ScanOutcome, Scanner};
use crate::message::archive::Format;
use crate::message::{visit_members, Analysis, Limits, TextOrigin};
use crate::util::BoxFuture;

/// The hash list shipped with the binary (`rules/malware-sha256.txt`).
pub const EMBEDDED_HASH_LIST: &str = include_str!("../../rules/malware-sha256.txt");

/// The EICAR test string, kept in two halves so that this source file and the binary do not themselves
/// contain the test file (a desktop antivirus would quarantine them).
const EICAR_HEAD: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$";
const EICAR_TAIL: &[u8] = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Signature name used by ClamAV for the EICAR test file, so both scanners report the same.
const EICAR_NAME: &str = "Eicar-Test-Signature";

/// A line of a hash list that is not a SHA-256.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("hash list line {line}: {reason}: {text:?}")]
pub struct HashListError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
    /// The offending line (hashes are not personal data).
    pub text: String,
}

/// Parse a hash list: one SHA-256 (64 hex digits) per line, `#` comments, empty lines ignored.
pub fn parse_hash_list(text: &str) -> Result<HashSet<[u8; 32]>, HashListError> {
    let mut set = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        let err = |reason| HashListError {
            line: n + 1,
            reason,
            text: line.to_owned(),
        };
        if content.split_whitespace().nth(1).is_some() {
            return Err(err("more than one value on the line"));
        }
        if content.len() != 64 {
            return Err(err("a SHA-256 has 64 hexadecimal digits"));
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            let pair = content
                .get(i * 2..i * 2 + 2)
                .ok_or_else(|| err("not hexadecimal"))?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| err("not hexadecimal"))?;
        }
        set.insert(hash);
    }
    Ok(set)
}

/// The built-in scanner (see the module docs).
#[derive(Debug, Default)]
pub struct BuiltinScanner {
    /// Bounds for reading archive members (the same as the message analysis uses).
    limits: Limits,
    /// SHA-256 of files to report.
    hashes: HashSet<[u8; 32]>,
}

impl BuiltinScanner {
    /// A scanner with the given hash list (see [`parse_hash_list`]).
    pub fn new(limits: Limits, hashes: HashSet<[u8; 32]>) -> Self {
        BuiltinScanner { limits, hashes }
    }

    /// A scanner with the embedded hash list [`EMBEDDED_HASH_LIST`].
    pub fn embedded(limits: Limits) -> Self {
        // The embedded list is a constant checked by a unit test; should it ever be broken, EICAR detection
        // still works and the failure is logged.
        let hashes = parse_hash_list(EMBEDDED_HASH_LIST).unwrap_or_else(|e| {
            tracing::error!(error = %e, "embedded hash list is invalid; hash detection disabled");
            HashSet::new()
        });
        BuiltinScanner::new(limits, hashes)
    }

    /// Scan synchronously (the work is CPU only).
    pub fn scan_sync(&self, raw: &[u8], analysis: &Analysis) -> ScanOutcome {
        let mut found: Vec<Detection> = Vec::new();
        {
            let mut add = |name: String, location: String| {
                let d = Detection { name, location };
                if !found.contains(&d) {
                    found.push(d);
                }
            };
            for text in &analysis.texts {
                if let TextOrigin::Body { part } | TextOrigin::Html { part } = text.origin {
                    if contains_eicar(text.text.as_bytes()) {
                        add(EICAR_NAME.into(), format!("part {part}"));
                    }
                }
            }
            for att in &analysis.attachments {
                let location = format!("part {}", att.part);
                self.check_file(&att.data, &location, &mut add);
                if Format::of(&att.data).is_some() {
                    // Problems were already recorded by the analysis; here only readable members matter.
                    let name = att.name.as_deref();
                    let _ = visit_members(
                        &att.data,
                        name,
                        &self.limits,
                        &mut |index, _path, content| {
                            self.check_file(
                                content,
                                &format!("{location}, archive member {}", index + 1),
                                &mut add,
                            );
                        },
                    );
                }
            }
        }
        // The raw message catches what no part showed (an unparseable message, text hidden by damage).
        if found.is_empty() && contains_eicar(raw) {
            found.push(Detection {
                name: EICAR_NAME.into(),
                location: "message".into(),
            });
        }
        if found.is_empty() {
            ScanOutcome::Clean
        } else {
            ScanOutcome::Infected(found)
        }
    }

    /// At most one detection per file: the signature name when it has one, else the hash.
    fn check_file(&self, data: &[u8], location: &str, add: &mut dyn FnMut(String, String)) {
        if contains_eicar(data) {
            add(EICAR_NAME.into(), location.to_owned());
        } else if !self.hashes.is_empty() {
            let hash: [u8; 32] = Sha256::digest(data).into();
            if self.hashes.contains(&hash) {
                let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
                add(format!("Sha256.{hex}"), location.to_owned());
            }
        }
    }
}

/// The EICAR string anywhere in `data` (the EICAR file proper must start the file and be followed only by
/// white space; like clamd's signature we also accept it inside a larger file).
fn contains_eicar(data: &[u8]) -> bool {
    // Built once: compiling an automaton per file would cost more than the search.
    static FINDER: LazyLock<Option<aho_corasick::AhoCorasick>> =
        LazyLock::new(|| aho_corasick::AhoCorasick::new([EICAR_TAIL]).ok());
    let Some(finder) = FINDER.as_ref() else {
        return false;
    };
    finder.find_iter(data).any(|m| {
        m.start()
            .checked_sub(EICAR_HEAD.len())
            .and_then(|start| data.get(start..m.start()))
            .is_some_and(|head| head == EICAR_HEAD)
    })
}

impl Scanner for BuiltinScanner {
    fn name(&self) -> &str {
        "builtin"
    }

    fn scan<'a>(
        &'a self,
        raw: &'a [u8],
        analysis: &'a Analysis,
    ) -> BoxFuture<'a, Result<ScanOutcome, ScanError>> {
        Box::pin(async move { Ok(self.scan_sync(raw, analysis)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::analyse;
    use crate::message::archive::tests::{gzip, make_7z, make_tar, make_zip};
    use crate::message::tests::b64;

    fn eicar() -> Vec<u8> {
        [EICAR_HEAD, EICAR_TAIL].concat()
    }

    fn with_attachment(data: &[u8]) -> Vec<u8> {
        format!(
            "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhoi\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            b64(data)
        )
        .into_bytes()
    }

    #[test]
    fn detections_table() {
        let eicar = eicar();
        let plain = [b"Subject: test\r\n\r\n".as_slice(), &eicar, b"\r\n"].concat();
        let inner = make_zip(&[("eicar.com", &eicar)]);
        let nested = make_zip(&[("readme.txt", b"hoi"), ("inner.zip", &inner)]);
        let bad_file = b"dit bestand staat op de lijst".to_vec();
        let bad_hash: [u8; 32] = Sha256::digest(&bad_file).into();
        let bad_hex: String = bad_hash
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let scanner = BuiltinScanner::new(Limits::default(), HashSet::from([bad_hash]));
        let eicar_at = |loc: &str| {
            vec![Detection {
                name: EICAR_NAME.into(),
                location: loc.into(),
            }]
        };
        let cases: Vec<(&str, Vec<u8>, ScanOutcome)> = vec![
            ("plain body", plain, ScanOutcome::Infected(eicar_at("part 0"))),
            ("base64 attachment", with_attachment(&eicar), ScanOutcome::Infected(eicar_at("part 2"))),
            ("inside zip", with_attachment(&inner), ScanOutcome::Infected(eicar_at("part 2, archive member 1"))),
            ("inside nested zip", with_attachment(&nested), ScanOutcome::Infected(eicar_at("part 2, archive member 3"))),
            // Other archive kinds are opened too: a tar inside a gzip (member 1 is the tar, which holds the
            // string as it is, member 2 the file), a stored 7z member (the archive holds it as it is too).
            (
                "inside tar.gz",
                with_attachment(&gzip(&make_tar(&[("eicar.com", &eicar)], None), None)),
                ScanOutcome::Infected(
                    [eicar_at("part 2, archive member 1"), eicar_at("part 2, archive member 2")].concat(),
                ),
            ),
            (
                "inside 7z",
                with_attachment(&make_7z(&[("eicar.com", &eicar)], 0, false, false)),
                ScanOutcome::Infected([eicar_at("part 2"), eicar_at("part 2, archive member 1")].concat()),
            ),
            (
                "hash list",
                with_attachment(&bad_file),
                ScanOutcome::Infected(vec![Detection { name: format!("Sha256.{bad_hex}"), location: "part 2".into() }]),
            ),
            (
                "hidden by a mid-line boundary",
                [
                    b"Content-Type: multipart/mixed; boundary=g\r\n\r\n--g\r\nContent-Type: text/plain\r\n\r\nzie --g ".as_slice(),
                    &eicar,
                    b"\r\n--g--\r\n",
                ]
                .concat(),
                ScanOutcome::Infected(eicar_at("message")),
            ),
            ("clean", with_attachment(b"gewoon een bestand"), ScanOutcome::Clean),
            ("half a signature", with_attachment(EICAR_TAIL), ScanOutcome::Clean),
        ];
        for (name, raw, want) in cases {
            let analysis = analyse(&raw, &Limits::default());
            assert_eq!(scanner.scan_sync(&raw, &analysis), want, "case {name}");
        }
    }

    #[test]
    fn embedded_list_parses_and_holds_eicar() {
        let set = parse_hash_list(EMBEDDED_HASH_LIST).expect("embedded list must parse");
        let eicar_hash: [u8; 32] = Sha256::digest(eicar()).into();
        assert!(set.contains(&eicar_hash));
        // The embedded scanner reports the EICAR file once, by its signature name.
        let raw = with_attachment(&eicar());
        let outcome = BuiltinScanner::embedded(Limits::default())
            .scan_sync(&raw, &analyse(&raw, &Limits::default()));
        let ScanOutcome::Infected(found) = outcome else {
            panic!("not detected")
        };
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, EICAR_NAME);
    }

    #[test]
    fn hash_list_errors_name_the_line() {
        let good = "a".repeat(64);
        let cases: Vec<(String, Result<usize, usize>)> = vec![
            (
                format!("# kop\n\n{good}\n{} # met commentaar\n", "B".repeat(64)),
                Ok(2),
            ),
            (format!("# kop\n{good}\nxyz\n"), Err(3)),
            (format!("{}\n", "g".repeat(64)), Err(1)),
            (format!("{good} {good}\n"), Err(1)),
            (String::new(), Ok(0)),
        ];
        for (text, want) in cases {
            let got = parse_hash_list(&text).map(|s| s.len()).map_err(|e| e.line);
            assert_eq!(got, want, "{text:?}");
        }
        let err = parse_hash_list("\n\nabc\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[tokio::test]
    async fn scanner_trait_answers() {
        let raw = b"Subject: x\r\n\r\nhallo\r\n";
        let scanner = BuiltinScanner::embedded(Limits::default());
        let outcome = scanner
            .scan(raw, &analyse(raw, &Limits::default()))
            .await
            .unwrap();
        assert_eq!(outcome, ScanOutcome::Clean);
        assert_eq!(scanner.name(), "builtin");
    }
}
