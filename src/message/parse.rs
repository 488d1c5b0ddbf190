//! [`analyse`]: raw message → [`Analysis`], with mail-parser doing the MIME work and this module doing the
//! distrust: limits on parts and depth, the guards of [`super::raw`], and a raw-text fallback whenever the
//! structure cannot be trusted, so that damage never hides text from the rules.
//!
//! Pure, never panics on input (mail-parser is also run under `catch_unwind` as a second line of defence),
//! walks the part tree with an explicit stack (no recursion on input depth). It must not log content.

use mail_parser::{
    Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use super::archive::{self, Format};
use super::extract::{self, doc_kind, DocKind, Extracted};
use super::html::{html_to_text, html_to_text_split};
use super::inline;
use super::quote;
use super::raw::{boundary_mid_line, header_block, nesting_risk, raw_body_text};
use super::sniff::classify;
use super::{Analysis, ArchiveMember, Attachment, Damage, HeaderView, Limits, Text, TextOrigin};

/// Parse and analyse one raw message (as received after DATA, CRLF line ends). See the module docs.
pub fn analyse(raw: &[u8], limits: &Limits) -> Analysis {
    let mut analysis = Analysis {
        size: raw.len(),
        ..Analysis::default()
    };
    let parser = MessageParser::default();
    let mut texts = TextSink::new(limits.max_text_bytes, limits.extract_max_text_bytes);
    let mut raw_fallback = false;

    if nesting_risk(raw, limits.max_depth) {
        // Refused before mail-parser sees it (see `raw::nesting_risk`); the headers alone are safe to parse.
        analysis.damage.push(Damage::TooDeep);
        raw_fallback = true;
        let headers = std::panic::catch_unwind(|| parser.parse_headers(raw))
            .ok()
            .flatten();
        if let Some(msg) = headers {
            analysis.headers = header_view(&msg, raw);
        }
    } else {
        match std::panic::catch_unwind(|| parser.parse(raw))
            .ok()
            .flatten()
        {
            None => {
                analysis.damage.push(Damage::Unparseable);
                raw_fallback = true;
            }
            Some(msg) => {
                analysis.headers = header_view(&msg, raw);
                let mut walk = Walk {
                    limits,
                    texts: &mut texts,
                    analysis: &mut analysis,
                    boundaries: Vec::new(),
                };
                if let Some(subject) = walk.analysis.headers.subject.clone() {
                    walk.texts.push(TextOrigin::Subject, &subject);
                }
                walk.run(&msg);
                let boundaries = std::mem::take(&mut walk.boundaries);
                if boundary_mid_line(raw, &boundaries) {
                    analysis.damage.push(Damage::BoundaryMidLine);
                }
                teardown(msg);
                raw_fallback |= analysis.damage.iter().any(|d| {
                    matches!(
                        d,
                        Damage::BoundaryMidLine | Damage::TooDeep | Damage::TooManyParts
                    )
                });
            }
        }
    }
    analysis.headers.raw_header_block = header_block(raw).to_vec();
    if analysis.texts.is_empty() {
        // The subject also matters when nothing else could be parsed.
        if let (true, Some(subject)) = (texts.texts.is_empty(), analysis.headers.subject.clone()) {
            texts.push(TextOrigin::Subject, &subject);
        }
    }
    let mut truncated = texts.truncated;
    analysis.texts = texts.texts;
    if raw_fallback {
        // The fallback has its own budget: it must be seen even when the parsed texts filled theirs.
        let (body, cut) = raw_body_text(raw, limits.max_text_bytes);
        truncated |= cut;
        if body.contains('<') {
            // HTML evasions (`k<b></b>anker`) in the part mail-parser could not show.
            let mut html = html_to_text(&body);
            truncate_at_char(&mut html, limits.max_text_bytes);
            analysis.texts.push(Text {
                origin: TextOrigin::Raw,
                text: html,
            });
        }
        analysis.texts.push(Text {
            origin: TextOrigin::Raw,
            text: body,
        });
    }
    if truncated {
        analysis.damage.push(Damage::TextTruncated);
    }
    analysis
}

/// Collects texts within the `max_text_bytes` budget, and text extracted from attachments within its own
/// `extract_max_text_bytes` budget (a large document must not crowd out the message's own text).
struct TextSink {
    texts: Vec<Text>,
    remaining: usize,
    extract_remaining: usize,
    truncated: bool,
}

impl TextSink {
    fn new(budget: usize, extract_budget: usize) -> Self {
        TextSink {
            texts: Vec::new(),
            remaining: budget,
            extract_remaining: extract_budget,
            truncated: false,
        }
    }

    /// Text extracted from an attachment (already cut to [`TextSink::extract_remaining`]).
    /// The text of an attachment (`member: None`) or archive member, with the speech it reports apart
    /// ([`quote::reported_speech`]).
    fn push_extracted(&mut self, part: usize, member: Option<usize>, e: Extracted) {
        self.truncated |= e.truncated;
        self.extract_remaining = self.extract_remaining.saturating_sub(e.text.len());
        if e.text.trim().is_empty() {
            return;
        }
        let (text, reported) = match quote::reported_speech(&e.text) {
            Some((rest, reported)) => (rest, reported),
            None => (e.text, String::new()),
        };
        self.texts.push(Text {
            origin: TextOrigin::AttachmentText { part, member },
            text,
        });
        if !reported.is_empty() {
            self.texts.push(Text {
                origin: TextOrigin::ReportedInAttachment { part, member },
                text: reported,
            });
        }
    }

    fn push(&mut self, origin: TextOrigin, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut text = text.to_owned();
        if text.len() > self.remaining {
            truncate_at_char(&mut text, self.remaining);
            self.truncated = true;
        }
        self.remaining -= text.len();
        if !text.is_empty() {
            self.texts.push(Text { origin, text });
        }
    }

    fn push_owned(&mut self, origin: TextOrigin, mut text: String) {
        if text.len() > self.remaining {
            truncate_at_char(&mut text, self.remaining);
            self.truncated = true;
        }
        self.remaining -= text.len();
        if !text.is_empty() {
            self.texts.push(Text { origin, text });
        }
    }
}

fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// The walk over the part tree of one message and its attached messages.
struct Walk<'a> {
    limits: &'a Limits,
    texts: &'a mut TextSink,
    analysis: &'a mut Analysis,
    /// Every multipart boundary met, for the mid-line check.
    boundaries: Vec<String>,
}

impl Walk<'_> {
    fn damage(&mut self, d: Damage) {
        if !self.analysis.damage.contains(&d) {
            self.analysis.damage.push(d);
        }
    }

    fn run(&mut self, top: &Message<'_>) {
        // (message, part id within it, depth, inside a forwarded message: its author's address if it names
        // one); children are pushed in reverse so they pop in message order, which makes the running part
        // number equal mail-parser's part index for messages without attached messages.
        type Forwarded = Option<Option<String>>;
        let mut stack: Vec<(&Message<'_>, u32, usize, Forwarded)> = vec![(top, 0, 0, None)];
        let mut number = 0usize;
        while let Some((msg, id, depth, forwarded)) = stack.pop() {
            let Some(part) = msg.parts.get(id as usize) else {
                continue;
            };
            if number >= self.limits.max_parts {
                self.damage(Damage::TooManyParts);
                return;
            }
            let this = number;
            number += 1;
            match &part.body {
                PartType::Multipart(children) => {
                    if let Some(b) = part.content_type().and_then(|ct| ct.attribute("boundary")) {
                        if !self.boundaries.iter().any(|x| x == b) {
                            self.boundaries.push(b.to_owned());
                        }
                    }
                    if depth + 1 > self.limits.max_depth {
                        if !children.is_empty() {
                            self.damage(Damage::TooDeep);
                        }
                        continue;
                    }
                    for &child in children.iter().rev() {
                        stack.push((msg, child, depth + 1, forwarded.clone()));
                    }
                }
                PartType::Message(inner) => {
                    if is_named(part) {
                        let data = msg
                            .raw_message
                            .get(part.offset_body as usize..part.offset_end as usize);
                        self.attachment(this, part, data.unwrap_or_default());
                    }
                    // The subject of an attached message is part of that message, which the sender forwards:
                    // quoted text, as everything inside it.
                    if let Some(subject) = inner
                        .parts
                        .first()
                        .and_then(|p| header_text(p.headers(), "Subject"))
                    {
                        self.texts.push(TextOrigin::Quote { part: this }, subject);
                    }
                    if depth + 1 > self.limits.max_depth {
                        self.damage(Damage::TooDeep);
                        continue;
                    }
                    let author = inner
                        .from()
                        .and_then(|from| from.first())
                        .and_then(|addr| addr.address())
                        .map(str::to_ascii_lowercase);
                    stack.push((inner, 0, depth + 1, Some(author)));
                }
                // A named text part is an attached file (a CSV, a note, a web page): its text is read as the
                // attachment's, tagged as such and rendered as its type says (CSV rows as tab-separated lines).
                PartType::Text(text) if is_named(part) => {
                    self.attachment(this, part, text.as_bytes())
                }
                PartType::Html(html) if is_named(part) => {
                    self.attachment(this, part, html.as_bytes())
                }
                PartType::Text(text) => {
                    // Files uuencoded into the text are attachments ([`inline`]).
                    let split = inline::split(text, self.limits.max_parts);
                    if split.too_many {
                        self.damage(Damage::TooManyParts);
                    }
                    self.push_written(
                        this,
                        TextOrigin::Body { part: this },
                        &split.text,
                        &forwarded,
                    );
                    for file in split.files {
                        let content_type = "application/octet-stream".to_owned();
                        self.file(this, Some(file.name), content_type, &file.data);
                    }
                }
                PartType::Html(html) => {
                    let converted = html_to_text_split(html);
                    self.push_written(
                        this,
                        TextOrigin::Html { part: this },
                        &converted.own,
                        &forwarded,
                    );
                    self.push_quoted(this, converted.quoted);
                }
                PartType::Binary(data) | PartType::InlineBinary(data) => {
                    self.attachment(this, part, data)
                }
            }
        }
    }

    /// The text of a text or HTML part, split by who wrote it ([`quote::split`]); all of it is quoted when
    /// the part belongs to a forwarded message, whose author is then noted for the part.
    fn push_written(
        &mut self,
        part: usize,
        own: TextOrigin,
        text: &str,
        forwarded: &Option<Option<String>>,
    ) {
        if let Some(author) = forwarded {
            if let Some(author) = author {
                self.analysis.forwarded_from.push((part, author.clone()));
            }
            self.push_quoted(part, text.to_owned());
            return;
        }
        let split = quote::split(text);
        self.texts.push(own, &split.own);
        self.texts
            .push_owned(TextOrigin::ReportedSpeech { part }, split.reported);
        self.push_quoted(part, split.quoted);
    }

    /// Quoted text, with the speech reported inside it ([`quote::reported_speech`]: the same tests as in
    /// the sender's own text) apart.
    fn push_quoted(&mut self, part: usize, quoted: String) {
        match quote::reported_speech(&quoted) {
            Some((rest, reported)) => {
                self.texts.push_owned(TextOrigin::Quote { part }, rest);
                self.texts
                    .push_owned(TextOrigin::ReportedInQuote { part }, reported);
            }
            None => self.texts.push_owned(TextOrigin::Quote { part }, quoted),
        }
    }

    fn attachment(&mut self, number: usize, part: &MessagePart<'_>, data: &[u8]) {
        let name = part.attachment_name().map(str::to_owned);
        self.file(number, name, content_type(part), data);
    }

    /// An attached file of part `number`: a MIME attachment, or a file encoded into a text part.
    fn file(&mut self, number: usize, name: Option<String>, content_type: String, data: &[u8]) {
        if let Some(name) = &name {
            self.texts
                .push(TextOrigin::AttachmentName { part: number }, name);
        }
        let sniffed = classify(data, name.as_deref(), Some(&content_type));
        let mut members: Vec<ArchiveMember> = Vec::new();
        let mut archive_problems = Vec::new();
        // Text of the members, in member order: (index into `members`, text).
        let mut member_texts: Vec<(usize, Extracted)> = Vec::new();
        let own_kind = doc_kind(data, name.as_deref(), Some(&content_type), sniffed);
        if Format::of(data).is_some() {
            let limits = self.limits;
            let mut budget = self.texts.extract_remaining;
            // The parts of an Office document (its XML, `mimetype`) are read with the document, not one by one:
            // the paths of the documents met so far, each with a trailing `/`.
            let mut documents: Vec<String> = Vec::new();
            let whole_document = own_kind == Some(DocKind::Office);
            archive_problems = archive::walk(data, name.as_deref(), limits, &mut |m| {
                let inside_document =
                    whole_document || documents.iter().any(|d| m.path.starts_with(d.as_str()));
                if let (Some(content), false) = (m.content, inside_document) {
                    if let Some(kind) = doc_kind(content, Some(m.path), None, m.sniffed) {
                        if kind == DocKind::Office {
                            documents.push(format!("{}/", m.path));
                        }
                        let e = extract::extract(content, kind, limits, budget);
                        budget = budget.saturating_sub(e.text.len());
                        member_texts.push((members.len(), e));
                    }
                }
                members.push(ArchiveMember::from(&m));
            });
        }
        for m in &members {
            self.texts
                .push(TextOrigin::AttachmentName { part: number }, &m.path);
        }
        if let Some(kind) = own_kind {
            let e = extract::extract(data, kind, self.limits, self.texts.extract_remaining);
            self.texts.push_extracted(number, None, e);
        }
        for (index, e) in member_texts {
            let e = if e.text.len() > self.texts.extract_remaining {
                let mut text = e.text;
                truncate_at_char(&mut text, self.texts.extract_remaining);
                Extracted {
                    text,
                    truncated: true,
                }
            } else {
                e
            };
            self.texts.push_extracted(number, Some(index), e);
        }
        self.analysis.attachments.push(Attachment {
            part: number,
            name,
            content_type,
            size: data.len(),
            sniffed,
            members,
            archive_problems,
            data: data.to_vec(),
        });
    }
}

/// A part with a file name, or one marked `Content-Disposition: attachment` (RFC 2183 §2.2).
fn is_named(part: &MessagePart<'_>) -> bool {
    part.attachment_name().is_some()
        || part
            .content_disposition()
            .is_some_and(|cd| cd.is_attachment())
}

/// The declared type as lowercased `type/subtype`, or the type mail-parser assumed (RFC 2045 §5.2 default).
fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match part.body {
            PartType::Html(_) => "text/html".into(),
            PartType::Text(_) => "text/plain".into(),
            PartType::Message(_) => "message/rfc822".into(),
            _ => "application/octet-stream".into(),
        },
    }
}

fn headers_named<'h, 'x>(
    headers: &'h [Header<'x>],
    name: &'static str,
) -> impl Iterator<Item = &'h Header<'x>> + 'h {
    headers
        .iter()
        .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
}

fn header_text<'h>(headers: &'h [Header<'_>], name: &'static str) -> Option<&'h str> {
    headers_named(headers, name).find_map(|h| h.value.as_text())
}

/// The raw value of a header field, unfolded and trimmed (for tokens such as `Auto-Submitted`).
fn header_raw(raw: &[u8], header: &Header<'_>) -> String {
    let bytes = raw
        .get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(bytes);
    text.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

fn header_view(msg: &Message<'_>, raw: &[u8]) -> HeaderView {
    let mut view = HeaderView::default();
    let Some(root) = msg.parts.first() else {
        return view;
    };
    let headers = root.headers();
    for h in headers {
        let list = match &h.name {
            HeaderName::From => &mut view.from,
            HeaderName::To => &mut view.to,
            HeaderName::Cc => &mut view.cc,
            HeaderName::Bcc => &mut view.bcc,
            _ => continue,
        };
        if let HeaderValue::Address(addr) = &h.value {
            list.extend(
                addr.iter()
                    .filter_map(|a| a.address())
                    .map(|a| a.trim().to_lowercase()),
            );
        }
    }
    view.subject = header_text(headers, "Subject").map(str::to_owned);
    view.sensitivity = headers_named(headers, "Sensitivity")
        .next()
        .map(|h| header_raw(raw, h));
    view.auto_generated = is_auto_generated(root, raw);
    view
}

/// Mail that says it was generated automatically, to which nothing may be sent back (no loops, no
/// backscatter): `Auto-Submitted` other than `no` (RFC 3834 §5), `Precedence: bulk/junk/list` (RFC 2076 §3.9,
/// honoured by RFC 3834 §3.1.8 responders), a `multipart/report` top level (RFC 6522: DSNs, MDNs),
/// `X-Autoreply`/`X-Autorespond` (vacation programs), and `List-Id` (RFC 2919): a list expansion must not be
/// answered to its sender either (RFC 3834 §2 asks responders not to reply to list traffic).
fn is_auto_generated(root: &MessagePart<'_>, raw: &[u8]) -> bool {
    let headers = root.headers();
    let token = |name: &'static str| {
        headers_named(headers, name).map(|h| {
            let v = header_raw(raw, h).to_ascii_lowercase();
            v.split(|c: char| c == ';' || c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    };
    let auto_submitted = token("Auto-Submitted").any(|v| !v.is_empty() && v != "no");
    let precedence = token("Precedence").any(|v| matches!(v.as_str(), "bulk" | "junk" | "list"));
    let report = root.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    let marker = ["X-Autoreply", "X-Autorespond", "List-Id"]
        .iter()
        .any(|n| headers_named(headers, n).next().is_some());
    auto_submitted || precedence || report || marker
}

/// Drop a parsed message without recursion: mail-parser's types drop attached messages recursively, which a
/// deeply nested message turns into a stack overflow.
fn teardown(msg: Message<'_>) {
    let mut pending = vec![msg];
    while let Some(mut m) = pending.pop() {
        for part in &mut m.parts {
            if let PartType::Message(_) = part.body {
                if let PartType::Message(inner) = std::mem::take(&mut part.body) {
                    pending.push(inner);
                }
            }
        }
    }
}
