//! Listing zip archives without trusting them.
//!
//! The `zip` crate has no zip-bomb protection, so every limit is enforced here ([`Limits`]): members counted
//! across nesting (`archive_max_entries`), nesting depth (`archive_max_depth`), the sum of declared sizes
//! (`archive_max_total`) and the compression ratio of each large member (`archive_max_ratio`). A member is
//! decompressed only when it passes those checks, and then with a bounded read (`take`) because declared sizes
//! may lie. Members that fail a check are still listed (their names matter to policy) and the first problem is
//! reported. Only zip is listed; other archive formats are sniffed as [`FileKind::OtherArchive`].
//!
//! Pure (works on bytes in memory), never panics on input, never writes anything anywhere.

use std::io::{Cursor, Read};

use super::sniff::{sniff, SNIFF_LEN};
use super::{ArchiveMember, ArchiveProblem, FileKind, Limits};

/// Members smaller than this are not held to the compression ratio: short repetitive files (a CSV of zeros, a
/// blank form) compress far beyond any sane ratio yet cannot be bombs, and they are read in full anyway.
const RATIO_EXEMPT_SIZE: u64 = 64 * 1024;

/// One member as the walker reports it.
pub struct MemberVisit<'a> {
    /// Position in the flattened member list (0-based, parents before their nested members).
    pub index: usize,
    /// Path inside the archive, nested archives joined with `/`.
    pub path: &'a str,
    /// Declared uncompressed size.
    pub size: u64,
    /// 1 = member of the outermost archive.
    pub depth: usize,
    /// The member is encrypted (content unreadable).
    pub encrypted: bool,
    /// The full content, when it was read within the limits.
    pub content: Option<&'a [u8]>,
    /// The sniffed type (from the full content or from a bounded prefix).
    pub sniffed: Option<FileKind>,
}

/// List the members of a zip archive (nested zips flattened) and the first problem met.
pub fn list_members(data: &[u8], limits: &Limits) -> (Vec<ArchiveMember>, Option<ArchiveProblem>) {
    let mut members = Vec::new();
    let problem = walk(data, limits, &mut |m| {
        members.push(ArchiveMember {
            path: m.path.to_owned(),
            size: m.size,
            depth: m.depth,
            sniffed: m.sniffed,
            encrypted: m.encrypted,
        })
    })
    .err();
    (members, problem)
}

/// Visit the content of every member that can be read within `limits` (nested zips included, each nested zip
/// itself visited before its members). `f` gets the member's index in the flattened list (as in
/// [`list_members`]), its path and its content. Returns the first problem met; members before and after a
/// problem are still visited where possible.
pub fn visit_members(
    data: &[u8],
    limits: &Limits,
    f: &mut dyn FnMut(usize, &str, &[u8]),
) -> Result<(), ArchiveProblem> {
    walk(data, limits, &mut |m| {
        if let Some(content) = m.content {
            f(m.index, m.path, content)
        }
    })
}

/// Walk every member, reporting each to `f`.
pub fn walk(
    data: &[u8],
    limits: &Limits,
    f: &mut dyn FnMut(MemberVisit<'_>),
) -> Result<(), ArchiveProblem> {
    let mut walker = Walker {
        limits,
        listed: 0,
        declared_total: 0,
        read_total: 0,
        problem: None,
        stop: false,
    };
    walker.walk_zip(data, 1, "", f);
    match walker.problem {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// State shared across the nested archives of one attachment.
struct Walker<'l> {
    limits: &'l Limits,
    /// Entries seen so far (directories included: they cost work too).
    listed: usize,
    /// Sum of declared uncompressed sizes.
    declared_total: u64,
    /// Bytes actually decompressed.
    read_total: u64,
    problem: Option<ArchiveProblem>,
    /// Set when nothing more may be listed (too many entries).
    stop: bool,
}

impl Walker<'_> {
    fn note(&mut self, problem: ArchiveProblem) {
        self.problem.get_or_insert(problem);
    }

    fn walk_zip(
        &mut self,
        data: &[u8],
        depth: usize,
        prefix: &str,
        f: &mut dyn FnMut(MemberVisit<'_>),
    ) {
        let mut archive = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(a) => a,
            Err(_) => return self.note(ArchiveProblem::Corrupt),
        };
        for i in 0..archive.len() {
            if self.stop {
                return;
            }
            if self.listed >= self.limits.archive_max_entries {
                self.stop = true;
                return self.note(ArchiveProblem::TooManyEntries);
            }
            self.listed += 1;
            let (name, size, compressed, encrypted, is_dir) = match archive.by_index_raw(i) {
                Ok(entry) => {
                    let name = match entry.name() {
                        Ok(n) => n.into_owned(),
                        Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
                    };
                    (
                        name,
                        entry.size(),
                        entry.compressed_size(),
                        entry.encrypted(),
                        entry.is_dir(),
                    )
                }
                Err(_) => {
                    self.note(ArchiveProblem::Corrupt);
                    continue;
                }
            };
            if is_dir {
                continue;
            }
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            self.declared_total = self.declared_total.saturating_add(size);
            let mut may_read = !encrypted;
            if self.declared_total > self.limits.archive_max_total {
                self.note(ArchiveProblem::TooLarge);
                may_read = false;
            }
            if size > RATIO_EXEMPT_SIZE && size / compressed.max(1) > self.limits.archive_max_ratio
            {
                self.note(ArchiveProblem::CompressionRatio);
                may_read = false;
            }
            let index = self.listed - 1;
            let budget = self
                .limits
                .archive_max_total
                .saturating_sub(self.read_total);
            // Read the whole member when allowed; otherwise only a prefix to sniff it (bounded, so safe even
            // for a bomb). Never more than declared + 1 (a member that expands beyond its declared size lies).
            let cap = if may_read {
                size.min(budget)
            } else {
                SNIFF_LEN as u64
            };
            let mut content = Vec::new();
            let mut complete = false;
            if !encrypted {
                match archive.by_index(i) {
                    Ok(reader) => {
                        let limit = cap.saturating_add(1);
                        match reader.take(limit).read_to_end(&mut content) {
                            Ok(_) => {
                                let got = content.len() as u64;
                                if may_read && got > size {
                                    self.note(ArchiveProblem::Corrupt);
                                } else if may_read && got == size {
                                    complete = true;
                                } else if may_read {
                                    // Fewer bytes than declared: truncated or budget reached.
                                    self.note(if size > budget {
                                        ArchiveProblem::TooLarge
                                    } else {
                                        ArchiveProblem::Corrupt
                                    });
                                }
                            }
                            // A prefix read of a member may fail at a checksum that is only checked at the end;
                            // whatever was read is still good for sniffing.
                            Err(_) if !may_read => {}
                            Err(_) => self.note(ArchiveProblem::Corrupt),
                        }
                    }
                    // Includes compression methods this build cannot read: the content stays uninspected.
                    Err(_) => self.note(ArchiveProblem::Corrupt),
                }
            }
            self.read_total = self.read_total.saturating_add(content.len() as u64);
            let sniffed = if content.is_empty() {
                None
            } else {
                sniff(&content)
            };
            f(MemberVisit {
                index,
                path: &path,
                size,
                depth,
                encrypted,
                content: complete.then_some(content.as_slice()),
                sniffed,
            });
            if sniffed == Some(FileKind::Zip) {
                if depth >= self.limits.archive_max_depth {
                    self.note(ArchiveProblem::TooDeep);
                } else if complete {
                    self.walk_zip(&content, depth + 1, &path, f);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    /// Build a zip from (name, content) pairs, deflated.
    pub(crate) fn make_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in files {
            w.start_file(*name, opts).unwrap();
            w.write_all(content).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn exe() -> Vec<u8> {
        let mut v = b"MZ\x90\x00".to_vec();
        v.resize(200, 0x41);
        v
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table of test cases
    fn lists_members_and_limits() {
        let exe = exe();
        let inner = make_zip(&[("virus.exe", &exe)]);
        let middle = make_zip(&[("inner.zip", &inner)]);
        let outer = make_zip(&[("readme.txt", b"hallo"), ("middle.zip", &middle)]);
        let many: Vec<(String, Vec<u8>)> = (0..30)
            .map(|i| (format!("f{i}.txt"), b"x".to_vec()))
            .collect();
        let many_refs: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(n, c)| (n.as_str(), c.as_slice()))
            .collect();
        let many_zip = make_zip(&many_refs);
        let mut corrupt = make_zip(&[("a.txt", b"aaaa")]);
        corrupt.truncate(corrupt.len() / 2);

        let default = Limits::default();
        let shallow = Limits {
            archive_max_depth: 2,
            ..Limits::default()
        };
        let few = Limits {
            archive_max_entries: 10,
            ..Limits::default()
        };
        // (name, archive, limits, expected paths, expected problem)
        let cases: Vec<(&str, &[u8], &Limits, Vec<&str>, Option<ArchiveProblem>)> = vec![
            ("exe inside", &inner, &default, vec!["virus.exe"], None),
            (
                "nested depth 3",
                &outer,
                &default,
                vec![
                    "readme.txt",
                    "middle.zip",
                    "middle.zip/inner.zip",
                    "middle.zip/inner.zip/virus.exe",
                ],
                None,
            ),
            (
                "too deep",
                &outer,
                &shallow,
                vec!["readme.txt", "middle.zip", "middle.zip/inner.zip"],
                Some(ArchiveProblem::TooDeep),
            ),
            (
                "too many entries",
                &many_zip,
                &few,
                (0..10).map(|_| "").collect(),
                Some(ArchiveProblem::TooManyEntries),
            ),
            (
                "corrupt",
                &corrupt,
                &default,
                vec![],
                Some(ArchiveProblem::Corrupt),
            ),
            (
                "not a zip",
                b"hello world",
                &default,
                vec![],
                Some(ArchiveProblem::Corrupt),
            ),
        ];
        for (name, data, limits, want_paths, want_problem) in cases {
            let (members, problem) = list_members(data, limits);
            assert_eq!(problem, want_problem, "case {name}");
            assert_eq!(members.len(), want_paths.len(), "case {name}: {members:?}");
            for (m, want) in members.iter().zip(&want_paths) {
                if !want.is_empty() {
                    assert_eq!(m.path, *want, "case {name}");
                }
            }
        }
        let (members, _) = list_members(&outer, &default);
        let exe_member = members
            .iter()
            .find(|m| m.path.ends_with("virus.exe"))
            .unwrap();
        assert_eq!(exe_member.sniffed, Some(FileKind::WindowsExecutable));
        assert_eq!(exe_member.depth, 3);
    }

    #[test]
    fn zip_bomb_is_refused_fast() {
        let zeros = vec![0u8; 50 * 1024 * 1024];
        let bomb = make_zip(&[("zeros.bin", &zeros)]);
        assert!(
            bomb.len() < 200 * 1024,
            "test zip should be small, is {}",
            bomb.len()
        );
        let started = std::time::Instant::now();
        let (members, problem) = list_members(&bomb, &Limits::default());
        assert!(
            matches!(
                problem,
                Some(ArchiveProblem::CompressionRatio | ArchiveProblem::TooLarge)
            ),
            "{problem:?}"
        );
        assert_eq!(members.len(), 1);
        let mut visited = 0;
        let _ = visit_members(&bomb, &Limits::default(), &mut |_, _, _| visited += 1);
        assert_eq!(visited, 0, "a bomb member must not be handed out");
        assert!(
            started.elapsed().as_secs() < 2,
            "took {:?}",
            started.elapsed()
        );
        // Declared total over the limit is refused as well.
        let small_total = Limits {
            archive_max_total: 1024,
            archive_max_ratio: u64::MAX,
            ..Limits::default()
        };
        let (_, problem) = list_members(&bomb, &small_total);
        assert_eq!(problem, Some(ArchiveProblem::TooLarge));
    }

    #[test]
    fn visit_hands_out_contents_with_indexes() {
        let inner = make_zip(&[("b.txt", b"bbb")]);
        let outer = make_zip(&[("a.txt", b"aaa"), ("inner.zip", &inner)]);
        let mut seen = Vec::new();
        let result = visit_members(&outer, &Limits::default(), &mut |i, p, c| {
            seen.push((i, p.to_owned(), c.len()))
        });
        assert_eq!(result, Ok(()));
        assert_eq!(
            seen,
            vec![
                (0, "a.txt".into(), 3),
                (1, "inner.zip".into(), inner.len()),
                (2, "inner.zip/b.txt".into(), 3)
            ]
        );
    }
}
