//! HTML → plain text for word matching.
//!
//! The conversion follows what a reader sees, not what a renderer would lay out: inline tags (`<b>`, `<span>`,
//! `<font>` …) vanish without leaving a space, so `k<b></b>anker` and `<span>kan</span>ker` both read `kanker`
//! (a classic filter evasion); block tags (`<p>`, `<div>`, `<br>`, `<td>`, `<li>`, `<h1>` …) become line breaks
//! so that words in different blocks do not run together. Character references (`&amp;`, `&#107;`, `&#x6B;`,
//! `&eacute;`) are decoded (HTML Living Standard §13.2.5.72). `<script>` and `<style>` contents and comments are
//! dropped. Runs of white space collapse to one space.
//!
//! Linear in the input, no recursion, never panics. It must not try to be a browser: no layout, no CSS.

/// Tags whose start or end separates text (block-level and line-breaking elements).
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "caption",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "body",
    "head",
    "li",
    "main",
    "nav",
    "ol",
    "option",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "ul",
    "img",
    "input",
    "select",
    "textarea",
    "button",
    "iframe",
    "frame",
    "frameset",
    "noscript",
    "object",
    "embed",
    "audio",
    "video",
    "canvas",
    "svg",
    "map",
    "area",
    "legend",
    "details",
    "summary",
    "menu",
    "dir",
    "xmp",
    "listing",
    "plaintext",
    "meta",
    "link",
];

/// Elements without content or end tag (HTML Living Standard §13.1.2, void elements).
const VOID_TAGS: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Start tags that end an open `<p>` (HTML Living Standard §13.2.6.4.7, "close a p element").
const P_CLOSERS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "ul",
];

/// How deep the element stack goes; deeper elements are counted, not tracked (bounded memory on hostile
/// input). Their styles are then ignored, so their text counts as visible: the safe side for screening.
const MAX_STACK: usize = 256;

/// How far down the stack an end tag looks for its element; further down it is ignored (linear time).
const MAX_CLOSE_SEARCH: usize = 64;

/// The text of an HTML part as a reader sees it, split by who wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlText {
    /// The sender's own visible text.
    pub own: String,
    /// Visible text inside a reply quote: `<blockquote type="cite">` (Apple Mail, Thunderbird), Gmail's
    /// `<blockquote class="gmail_quote">`, Yahoo's `<div class="yahoo_quoted">`.
    pub quoted: String,
}

/// Convert an HTML document or fragment to the text a reader sees, quotes included (module docs).
pub fn html_to_text(html: &str) -> String {
    convert(html, false).own
}

/// Convert like [`html_to_text`], with the text of reply quotes kept apart in [`HtmlText::quoted`].
pub fn html_to_text_split(html: &str) -> HtmlText {
    convert(html, true)
}

fn convert(html: &str, split_quotes: bool) -> HtmlText {
    let bytes = html.as_bytes();
    let mut c = Converter::new(split_quotes, html.len());
    let mut i = 0;
    // Start of the pending run of ordinary text (copied in one go, for speed).
    let mut run_start = 0;
    // Only `<` and `&` can start markup: jump from one to the next.
    while let Some(found) = bytes
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'<', b'&', rest))
    {
        i += found;
        match bytes.get(i) {
            Some(b'<') if starts_tag(bytes.get(i + 1)) => {
                c.text(html.get(run_start..i).unwrap_or_default());
                let (next, tag) = read_tag(bytes, i);
                i = next;
                if let Some(tag) = tag {
                    i = c.tag(html, &tag, i);
                }
                run_start = i;
            }
            Some(b'&') => {
                c.text(html.get(run_start..i).unwrap_or_default());
                let (next, decoded) = read_reference(html, i);
                match decoded {
                    Some(ch) => c.char(ch),
                    None => c.text("&"),
                }
                i = next;
                run_start = i;
            }
            _ => i += 1,
        }
    }
    c.text(html.get(run_start..).unwrap_or_default());
    c.finish()
}

/// A colour as red, green, blue.
type Rgb = (u8, u8, u8);

const BLACK: Rgb = (0, 0, 0);
const WHITE: Rgb = (255, 255, 255);

/// What an open element passes on to the text inside it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Render {
    /// `display:none`, `opacity:0`, a zero-size box with `overflow:hidden`, the `hidden` attribute or a
    /// hiding class: nothing inside renders, whatever the children say.
    gone: bool,
    /// `visibility:hidden`/`collapse` (a child may set `visible` again).
    invisible: bool,
    /// A font too small to read (under 3 px); a child may set a readable size again.
    tiny: bool,
    /// Text colour; `None` = the default (black).
    fg: Option<Rgb>,
    /// `color: transparent`.
    fg_transparent: bool,
    /// Background colour of the nearest element that sets one; `None` = the default (white).
    bg: Option<Rgb>,
    /// Inside a reply quote.
    quote: bool,
}

impl Render {
    fn hides_text(&self) -> bool {
        self.gone
            || self.invisible
            || self.tiny
            || self.fg_transparent
            || same_colour(self.fg.unwrap_or(BLACK), self.bg.unwrap_or(WHITE))
    }
}

/// Whether two colours are too close to tell apart (text in the background colour).
fn same_colour(a: Rgb, b: Rgb) -> bool {
    let d = |x: u8, y: u8| u32::from(x.abs_diff(y));
    d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2) <= 48
}

/// One open element.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Lowercased tag name, cut at 16 bytes.
    name: [u8; 16],
    len: u8,
    render: Render,
}

impl Open {
    fn is(&self, name: &[u8]) -> bool {
        self.name.get(..usize::from(self.len)) == Some(name)
    }
}

/// Where text goes right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Own,
    Quoted,
    Dropped,
}

/// The conversion state: the two outputs and the stack of open elements with what they render.
struct Converter {
    own: String,
    quoted: String,
    split_quotes: bool,
    stack: Vec<Open>,
    /// Start tags not tracked because the stack was full; their end tags are absorbed first.
    untracked: usize,
    sink: Sink,
    /// Classes that a `<style>` sheet hides outside any `@media` rule (and no `@media` rule shows).
    hidden_classes: Vec<String>,
}

impl Converter {
    fn new(split_quotes: bool, len: usize) -> Self {
        Converter {
            own: String::with_capacity(len / 2),
            quoted: String::new(),
            split_quotes,
            stack: Vec::new(),
            untracked: 0,
            sink: Sink::Own,
            hidden_classes: Vec::new(),
        }
    }

    fn render(&self) -> Render {
        self.stack.last().map(|o| o.render).unwrap_or_default()
    }

    fn update_sink(&mut self) {
        let r = self.render();
        self.sink = if r.hides_text() {
            Sink::Dropped
        } else if r.quote && self.split_quotes {
            Sink::Quoted
        } else {
            Sink::Own
        };
    }

    fn out(&mut self) -> Option<&mut String> {
        match self.sink {
            Sink::Own => Some(&mut self.own),
            Sink::Quoted => Some(&mut self.quoted),
            Sink::Dropped => None,
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(out) = self.out() {
            push_text(out, text);
        }
    }

    fn char(&mut self, c: char) {
        if let Some(out) = self.out() {
            push_char(out, c);
        }
    }

    /// End the current block in both outputs (a quote starts or ends a block too).
    fn separate(&mut self) {
        separate(&mut self.own);
        separate(&mut self.quoted);
    }

    /// Handle one tag that ends at `i`; returns where conversion goes on (after a script or style body).
    fn tag(&mut self, html: &str, tag: &Tag<'_>, i: usize) -> usize {
        let bytes = html.as_bytes();
        let is_raw = |n: &[u8]| tag.name.eq_ignore_ascii_case(n);
        if !tag.closing && (is_raw(b"script") || is_raw(b"style")) {
            let end = skip_raw_text(bytes, i, tag.name);
            if is_raw(b"style") {
                let sheet = html.get(i..end).unwrap_or_default();
                hiding_classes(sheet, &mut self.hidden_classes);
            }
            if self.sink != Sink::Dropped {
                self.separate();
            }
            return end;
        }
        let mut name = [0u8; 16];
        let len = tag.name.len().min(name.len());
        for (slot, b) in name.iter_mut().zip(tag.name) {
            *slot = b.to_ascii_lowercase();
        }
        let name_slice = name.get(..len).unwrap_or_default();
        let block = is_block(tag.name);
        if tag.closing {
            if block && self.sink != Sink::Dropped {
                self.separate();
            }
            self.close(name_slice);
            return i;
        }
        self.implied_ends(name_slice);
        let void = VOID_TAGS.iter().any(|t| t.as_bytes() == name_slice);
        if !void && !tag.self_closing {
            if self.stack.len() >= MAX_STACK {
                self.untracked += 1;
            } else {
                let render = self.render_of(name_slice, tag.attrs);
                self.stack.push(Open {
                    name,
                    len: len as u8,
                    render,
                });
                self.update_sink();
            }
        }
        if block && self.sink != Sink::Dropped {
            self.separate();
        }
        i
    }

    /// What an element with these attributes renders, given its parent.
    fn render_of(&self, name: &[u8], attrs: &[u8]) -> Render {
        let mut r = self.render();
        if attrs.is_empty() {
            return r;
        }
        for (key, value) in attributes(attrs) {
            let key_is = |k: &[u8]| key.eq_ignore_ascii_case(k);
            if key_is(b"style") {
                apply_style(&mut r, value);
            } else if key_is(b"hidden") {
                r.gone = true;
            } else if key_is(b"bgcolor") {
                if let Some(c) = parse_colour(value) {
                    r.bg = Some(c);
                }
            } else if (key_is(b"color") && name == b"font") || (key_is(b"text") && name == b"body")
            {
                if let Some(c) = parse_colour(value) {
                    r.fg = Some(c);
                    r.fg_transparent = false;
                }
            } else if key_is(b"type") && name == b"blockquote" {
                r.quote |= value.eq_ignore_ascii_case(b"cite");
            } else if key_is(b"class") {
                let classes = String::from_utf8_lossy(value).to_ascii_lowercase();
                for class in classes.split_ascii_whitespace() {
                    r.quote |= (class == "gmail_quote" && name == b"blockquote")
                        || class == "yahoo_quoted";
                    r.gone |= self.hidden_classes.iter().any(|h| h == class);
                }
            }
        }
        r
    }

    /// Close the innermost open element named `name` and everything opened inside it.
    fn close(&mut self, name: &[u8]) {
        if self.untracked > 0 {
            self.untracked -= 1;
            return;
        }
        let found = self
            .stack
            .iter()
            .rev()
            .take(MAX_CLOSE_SEARCH)
            .position(|o| o.is(name));
        if let Some(depth) = found {
            let keep = self.stack.len() - depth - 1;
            self.stack.truncate(keep);
            self.update_sink();
        }
    }

    /// The end tags a start tag implies (a new `<p>`, `<li>`, `<td>` … ends the open one), as far as the
    /// stack shows it: enough to end a hidden paragraph where a browser ends it.
    fn implied_ends(&mut self, name: &[u8]) {
        let (targets, scope): (&[&[u8]], &[&[u8]]) =
            if P_CLOSERS.iter().any(|t| t.as_bytes() == name) {
                (
                    &[b"p"],
                    &[
                        b"table",
                        b"td",
                        b"th",
                        b"caption",
                        b"button",
                        b"html",
                        b"object",
                        b"template",
                    ],
                )
            } else {
                match name {
                    b"li" => (&[b"li"], &[b"ul", b"ol", b"table"]),
                    b"dt" | b"dd" => (&[b"dt", b"dd"], &[b"dl", b"table"]),
                    b"td" | b"th" => (&[b"td", b"th"], &[b"tr", b"table"]),
                    b"tr" => (&[b"tr"], &[b"table", b"tbody", b"thead", b"tfoot"]),
                    b"option" => (&[b"option"], &[b"select", b"datalist"]),
                    _ => return,
                }
            };
        let found = self
            .stack
            .iter()
            .rev()
            .take(MAX_CLOSE_SEARCH)
            .position(|o| targets.iter().any(|t| o.is(t)) || scope.iter().any(|s| o.is(s)));
        if let Some(depth) = found {
            let at = self.stack.len() - depth - 1;
            if self
                .stack
                .get(at)
                .is_some_and(|o| targets.iter().any(|t| o.is(t)))
            {
                self.stack.truncate(at);
                self.update_sink();
            }
        }
    }

    fn finish(mut self) -> HtmlText {
        for out in [&mut self.own, &mut self.quoted] {
            let trimmed_len = out.trim_end().len();
            out.truncate(trimmed_len);
        }
        HtmlText {
            own: self.own,
            quoted: self.quoted,
        }
    }
}

/// The `name=value` pairs of a tag's attribute text (values unquoted; a bare name has an empty value).
fn attributes(attrs: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = attrs;
        while b
            .get(i)
            .is_some_and(|c| c.is_ascii_whitespace() || *c == b'/')
        {
            i += 1;
        }
        let start = i;
        while b
            .get(i)
            .is_some_and(|c| !c.is_ascii_whitespace() && *c != b'=' && *c != b'/')
        {
            i += 1;
        }
        if i == start {
            return None;
        }
        let key = b.get(start..i)?;
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return Some((key, &b""[..]));
        }
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let value = match b.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let from = i + 1;
                let len = b
                    .get(from..)
                    .map_or(0, |r| r.iter().position(|c| *c == q).unwrap_or(r.len()));
                i = from + len + 1;
                b.get(from..from + len).unwrap_or_default()
            }
            _ => {
                let from = i;
                while b.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                    i += 1;
                }
                b.get(from..i).unwrap_or_default()
            }
        };
        Some((key, value))
    })
}

/// The declarations of a CSS block (`prop: value; …`), property lowercased, value trimmed and without
/// `!important`.
fn declarations(css: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    css.split(|c| *c == b';').filter_map(|decl| {
        let colon = decl.iter().position(|c| *c == b':')?;
        let prop = String::from_utf8_lossy(decl.get(..colon)?)
            .trim()
            .to_ascii_lowercase();
        let mut value = String::from_utf8_lossy(decl.get(colon + 1..)?)
            .trim()
            .to_ascii_lowercase();
        if let Some(at) = value.find("!important") {
            value.truncate(at);
            value.truncate(value.trim_end().len());
        }
        Some((prop, value))
    })
}

/// Apply an inline `style` attribute.
fn apply_style(r: &mut Render, style: &[u8]) {
    let mut zero_box = false;
    let mut clips = false;
    for (prop, value) in declarations(style) {
        match prop.as_str() {
            "display" => r.gone |= value == "none",
            "visibility" => r.invisible = value == "hidden" || value == "collapse",
            "opacity" => r.gone |= value.parse::<f32>().is_ok_and(|o| o < 0.1),
            "font-size" => {
                if let Some(tiny) = tiny_font(&value) {
                    r.tiny = tiny;
                }
            }
            "color" => {
                if value == "transparent" {
                    r.fg_transparent = true;
                } else if let Some(c) = parse_colour(value.as_bytes()) {
                    r.fg = Some(c);
                    r.fg_transparent = false;
                }
            }
            "background-color" | "background" => {
                if let Some(c) = value
                    .split_ascii_whitespace()
                    .find_map(|t| parse_colour(t.as_bytes()))
                {
                    r.bg = Some(c);
                }
            }
            "height" | "max-height" | "width" | "max-width" => zero_box |= is_zero_length(&value),
            "overflow" => clips |= value == "hidden",
            _ => {}
        }
    }
    r.gone |= zero_box && clips;
}

/// `Some(true)` for a font size under about 3 px, `Some(false)` for a readable one, `None` when unknown.
fn tiny_font(value: &str) -> Option<bool> {
    let v = value.trim();
    let number_len = v
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.')
        .count();
    let number: f32 = v.get(..number_len)?.parse().ok()?;
    let unit = v.get(number_len..)?.trim();
    let px = match unit {
        "" | "px" => number,
        "pt" => number * 4.0 / 3.0,
        "em" | "rem" => number * 16.0,
        "%" => number * 0.16,
        _ => return None,
    };
    Some(px < 3.0)
}

fn is_zero_length(value: &str) -> bool {
    let v = value.trim();
    let number_len = v
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.')
        .count();
    number_len > 0
        && v.get(..number_len)
            .and_then(|n| n.parse::<f32>().ok())
            .is_some_and(|n| n == 0.0)
}

/// A CSS or HTML colour: `#rgb`, `#rrggbb`, `rgb(r, g, b)`, `rgba(…)` with non-zero alpha, or a common name.
fn parse_colour(value: &[u8]) -> Option<Rgb> {
    let v = String::from_utf8_lossy(value).trim().to_ascii_lowercase();
    let hex = |s: &str| u8::from_str_radix(s, 16).ok();
    if let Some(h) = v.strip_prefix('#') {
        return match h.len() {
            3 => {
                let d = |i: usize| h.get(i..i + 1).and_then(hex).map(|x| x * 17);
                Some((d(0)?, d(1)?, d(2)?))
            }
            6 => Some((hex(h.get(0..2)?)?, hex(h.get(2..4)?)?, hex(h.get(4..6)?)?)),
            _ => None,
        };
    }
    if let Some(inner) = v
        .strip_prefix("rgba(")
        .or_else(|| v.strip_prefix("rgb("))
        .and_then(|r| r.strip_suffix(')'))
    {
        let parts: Vec<&str> = inner
            .split([',', ' ', '/'])
            .filter(|p| !p.is_empty())
            .collect();
        let channel = |p: &str| -> Option<u8> {
            if let Some(pct) = p.strip_suffix('%') {
                pct.parse::<f32>()
                    .ok()
                    .map(|x| (x.clamp(0.0, 100.0) * 2.55) as u8)
            } else {
                p.parse::<f32>().ok().map(|x| x.clamp(0.0, 255.0) as u8)
            }
        };
        if let Some(alpha) = parts.get(3) {
            let a: f32 = alpha.trim_end_matches('%').parse().ok()?;
            if a == 0.0 {
                return None;
            }
        }
        return Some((
            channel(parts.first()?)?,
            channel(parts.get(1)?)?,
            channel(parts.get(2)?)?,
        ));
    }
    Some(match v.as_str() {
        "white" => WHITE,
        "black" => BLACK,
        "snow" | "ivory" | "ghostwhite" | "whitesmoke" | "floralwhite" => (250, 250, 250),
        "silver" => (192, 192, 192),
        "gray" | "grey" => (128, 128, 128),
        "red" => (255, 0, 0),
        "green" => (0, 128, 0),
        "blue" => (0, 0, 255),
        "navy" => (0, 0, 128),
        "yellow" => (255, 255, 0),
        _ => return None,
    })
}

/// Classes a style sheet hides (`.x { display: none }`, zero font size …) outside any `@media` rule, minus
/// those any `@media` rule mentions (a class hidden on the desktop may show on a phone). At most 64.
fn hiding_classes(sheet: &str, out: &mut Vec<String>) {
    let css = sheet.as_bytes();
    let mut in_media: Vec<String> = Vec::new();
    let mut hiding: Vec<String> = Vec::new();
    let mut i = 0;
    // Depth of `{` of at-rules we are inside.
    let mut at_depth = 0usize;
    while i < css.len() {
        if css.get(i..i + 2) == Some(b"/*") {
            i = find(css, i + 2, b"*/").map_or(css.len(), |e| e + 2);
            continue;
        }
        if css.get(i) == Some(&b'}') {
            at_depth = at_depth.saturating_sub(1);
            i += 1;
            continue;
        }
        let Some(open) = css
            .get(i..)
            .and_then(|r| r.iter().position(|c| *c == b'{' || *c == b'}'))
        else {
            break;
        };
        let open = i + open;
        if css.get(open) == Some(&b'}') {
            i = open;
            continue;
        }
        let selector = css.get(i..open).unwrap_or_default();
        if selector.trim_ascii_start().starts_with(b"@") {
            at_depth += 1;
            i = open + 1;
            continue;
        }
        let close = css
            .get(open..)
            .and_then(|r| r.iter().position(|c| *c == b'}'))
            .map_or(css.len(), |c| open + c);
        let block = css.get(open + 1..close).unwrap_or_default();
        let classes = selector_classes(selector);
        if at_depth > 0 {
            in_media.extend(classes);
        } else {
            let mut r = Render::default();
            apply_style(&mut r, block);
            if r.gone || r.invisible || r.tiny {
                hiding.extend(classes);
            }
        }
        i = close + 1;
    }
    for class in hiding {
        if out.len() < 64 && !in_media.contains(&class) && !out.contains(&class) {
            out.push(class);
        }
    }
}

/// The class names of the last compound of each selector in a list (`div .a, span.b` → `a`, `b`).
fn selector_classes(selector: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(selector).to_ascii_lowercase();
    text.split(',')
        .filter_map(|sel| sel.split_ascii_whitespace().last().map(str::to_owned))
        .flat_map(|last| {
            last.split('.')
                .skip(1)
                .map(|c| {
                    c.split([':', '[', '#', '>'])
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Append text, collapsing white space runs (including across calls) to one space.
fn push_text(out: &mut String, text: &str) {
    let mut rest = text;
    while !rest.is_empty() {
        // Runs of ASCII that is not white space go in whole: what `push_char` would do one by one.
        let run = rest
            .bytes()
            .take_while(|&b| b.is_ascii() && !char::from(b).is_whitespace())
            .count();
        let (plain, tail) = rest.split_at(run);
        out.push_str(plain);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            push_char(out, c);
        }
        rest = chars.as_str();
    }
}

fn push_char(out: &mut String, c: char) {
    if c.is_whitespace() {
        if !(out.is_empty() || out.ends_with(' ') || out.ends_with('\n')) {
            out.push(' ');
        }
    } else {
        out.push(c);
    }
}

/// End the current block: words before and after must not run together.
fn separate(out: &mut String) {
    if out.ends_with(' ') {
        out.pop();
    }
    if !(out.is_empty() || out.ends_with('\n')) {
        out.push('\n');
    }
}

fn is_block(name: &[u8]) -> bool {
    BLOCK_TAGS
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(name))
}

struct Tag<'a> {
    name: &'a [u8],
    closing: bool,
    /// The attribute text between the name and the closing `>` (without a final `/`).
    attrs: &'a [u8],
    /// Written `<x … />`. HTML ignores that for ordinary elements; here such an element is not tracked, so
    /// it cannot hide what follows (the safe side).
    self_closing: bool,
}

/// Read a tag starting at `bytes[start] == b'<'`. Returns the index after it and the tag, or `None` for
/// comments, declarations and processing instructions. A `<` that does not start a tag is kept as text.
fn read_tag(bytes: &[u8], start: usize) -> (usize, Option<Tag<'_>>) {
    let rest = bytes.get(start + 1..).unwrap_or_default();
    if rest.starts_with(b"!--") {
        // Comment: up to `-->` (or the end).
        let body = start + 4;
        return match find(bytes, body, b"-->") {
            Some(end) => (end + 3, None),
            None => (bytes.len(), None),
        };
    }
    let (closing, name_start) = match rest.first() {
        Some(b'/') => (true, start + 2),
        Some(b'!') | Some(b'?') => {
            let end = find(bytes, start, b">").map_or(bytes.len(), |e| e + 1);
            return (end, None);
        }
        _ => (false, start + 1),
    };
    let mut i = name_start;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-' || bytes[i] == b':')
    {
        i += 1;
    }
    let name = &bytes[name_start..i];
    let name_end = i;
    // Skip attributes up to the closing `>`, honouring quotes (a `>` inside a quoted value does not end the tag).
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => {
                let attrs = &bytes[name_end..i];
                let self_closing = attrs.last() == Some(&b'/');
                return (
                    i + 1,
                    Some(Tag {
                        name,
                        closing,
                        attrs,
                        self_closing,
                    }),
                );
            }
            None => {}
        }
        i += 1;
    }
    let attrs = bytes.get(name_end..).unwrap_or_default();
    (
        bytes.len(),
        Some(Tag {
            name,
            closing,
            attrs,
            self_closing: false,
        }),
    )
}

/// A `<` starts markup only when followed by a letter, `/`, `!` or `?` (otherwise it is text: `a < b`).
fn starts_tag(next: Option<&u8>) -> bool {
    matches!(next, Some(c) if c.is_ascii_alphabetic() || matches!(c, b'/' | b'!' | b'?'))
}

/// Skip the raw text of a `<script>` or `<style>` element, up to and including its end tag.
fn skip_raw_text(bytes: &[u8], from: usize, name: &[u8]) -> usize {
    let mut i = from;
    while let Some(lt) = find(bytes, i, b"</") {
        let after = lt + 2;
        let candidate = bytes.get(after..after + name.len()).unwrap_or_default();
        if candidate.eq_ignore_ascii_case(name) {
            return find(bytes, after, b">").map_or(bytes.len(), |e| e + 1);
        }
        i = after;
    }
    bytes.len()
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let hay = haystack.get(from..)?;
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Decode a character reference at `html[start] == '&'`. Returns the index after it and the character, or
/// `(start + 1, None)` when it is not a known reference (the `&` is then text).
fn read_reference(html: &str, start: usize) -> (usize, Option<char>) {
    let bytes = html.as_bytes();
    let rest = bytes.get(start + 1..).unwrap_or_default();
    if let Some(num) = rest.strip_prefix(b"#") {
        let (hex, digits) = match num.first() {
            Some(b'x') | Some(b'X') => (true, num.get(1..).unwrap_or_default()),
            _ => (false, num),
        };
        let len = digits
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if len == 0 || len > 8 {
            return (start + 1, None);
        }
        let text = std::str::from_utf8(&digits[..len]).unwrap_or("0");
        let value = u32::from_str_radix(text, if hex { 16 } else { 10 }).unwrap_or(0);
        let c = char::from_u32(value)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{FFFD}');
        let mut end = start + 2 + usize::from(hex) + len;
        if bytes.get(end) == Some(&b';') {
            end += 1;
        }
        return (end, Some(c));
    }
    let len = rest
        .iter()
        .take(12)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let name = &html[start + 1..start + 1 + len];
    match named_reference(name) {
        Some(c) => {
            let mut end = start + 1 + len;
            if bytes.get(end) == Some(&b';') {
                end += 1;
            }
            (end, Some(c))
        }
        None => (start + 1, None),
    }
}

/// The named references that occur in real mail (Latin-1 letters and typographic marks).
fn named_reference(name: &str) -> Option<char> {
    let c = match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "shy" => '\u{AD}',
        "zwj" => '\u{200D}',
        "zwnj" => '\u{200C}',
        "euro" => '€',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "bull" => '•',
        "middot" => '·',
        "laquo" => '«',
        "raquo" => '»',
        "deg" => '°',
        "szlig" => 'ß',
        _ => return latin1_letter(name),
    };
    Some(c)
}

/// `&eacute;`, `&Ouml;`, `&ccedil;` …: a base letter plus a diacritic name.
fn latin1_letter(name: &str) -> Option<char> {
    const TABLE: &[(&str, &str, &str)] = &[
        // (suffix, lowercase letters, uppercase letters) in the order a e i o u y / n c
        ("acute", "áéíóúý", "ÁÉÍÓÚÝ"),
        ("grave", "àèìòù", "ÀÈÌÒÙ"),
        ("circ", "âêîôû", "ÂÊÎÔÛ"),
        ("uml", "äëïöüÿ", "ÄËÏÖÜŸ"),
        ("tilde", "ãñõ", "ÃÑÕ"),
        ("cedil", "ç", "Ç"),
        ("ring", "å", "Å"),
        ("slash", "ø", "Ø"),
    ];
    let mut chars = name.chars();
    let base = chars.next()?;
    let suffix = chars.as_str();
    for (sfx, lower, upper) in TABLE {
        if *sfx != suffix {
            continue;
        }
        let set = if base.is_ascii_uppercase() {
            upper
        } else {
            lower
        };
        let wanted = base.to_ascii_lowercase();
        return set.chars().find(|c| base_letter(*c) == wanted);
    }
    None
}

fn base_letter(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' | 'Ø' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => 'y',
        'ñ' | 'Ñ' => 'n',
        'ç' | 'Ç' => 'c',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_like_a_reader_sees() {
        let cases: &[(&str, &str)] = &[
            ("k<b></b>anker", "kanker"),
            ("<span>kan</span>ker", "kanker"),
            ("<font color=red>ka</font><i>nk</i>er", "kanker"),
            ("<p>een</p><p>twee</p>", "een\ntwee"),
            ("een<br>twee", "een\ntwee"),
            ("<div>a</div><div>b</div>", "a\nb"),
            ("<table><tr><td>x</td><td>y</td></tr></table>", "x\ny"),
            ("<ul><li>a</li><li>b</li></ul>", "a\nb"),
            ("<h1>kop</h1>tekst", "kop\ntekst"),
            ("&amp; &lt;b&gt;", "& <b>"),
            ("&#107;anker", "kanker"),
            ("&#x6B;anker", "kanker"),
            ("caf&eacute; &Ouml;l", "café Öl"),
            ("na&iuml;ef &ccedil;a", "naïef ça"),
            ("a<script>var kanker = 1;</script>b", "a\nb"),
            ("a<style>p { color: red }</style>b", "a\nb"),
            ("a<SCRIPT type=x>alert('</b>')</SCRIPT>b", "a\nb"),
            ("x<!-- kanker -->y", "xy"),
            ("<a href=\"x>y\">link</a>", "link"),
            ("a < b", "a < b"),
            ("a &unknown; b", "a &unknown; b"),
            ("  veel    \r\n  ruimte  ", "veel ruimte"),
            ("<!DOCTYPE html><html><body>hoi</body></html>", "hoi"),
            ("open <b", "open"),
            (
                "&#0; &#99999999; &#123456789;",
                "\u{FFFD} \u{FFFD} &#123456789;",
            ),
            ("", ""),
        ];
        for (html, want) in cases {
            assert_eq!(html_to_text(html), *want, "input {html:?}");
        }
    }

    /// The byte-by-byte conversion `html_to_text` replaced (same converter for tags and references, text
    /// pushed one character at a time).
    fn html_to_text_reference(html: &str) -> String {
        let bytes = html.as_bytes();
        let mut c = Converter::new(false, html.len());
        let push = |c: &mut Converter, text: &str| text.chars().for_each(|ch| c.char(ch));
        let mut i = 0;
        let mut run_start = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'<' if starts_tag(bytes.get(i + 1)) => {
                    push(&mut c, &html[run_start..i]);
                    let (next, tag) = read_tag(bytes, i);
                    i = next;
                    if let Some(tag) = tag {
                        i = c.tag(html, &tag, i);
                    }
                    run_start = i;
                }
                b'&' => {
                    push(&mut c, &html[run_start..i]);
                    let (next, decoded) = read_reference(html, i);
                    match decoded {
                        Some(ch) => c.char(ch),
                        None => push(&mut c, "&"),
                    }
                    i = next;
                    run_start = i;
                }
                _ => i += 1,
            }
        }
        push(&mut c, &html[run_start..]);
        c.finish().own
    }

    /// Hidden text is dropped, not glued into words; what a reader sees stays, joined as a reader sees it.
    #[test]
    fn hidden_text_is_dropped() {
        let cases: &[(&str, &str)] = &[
            ("a <div style=\"display:none\">verborgen</div> b", "a b"),
            ("a<span style='display: none !important'>x</span>b", "ab"),
            ("kan<span style=\"display:none\">xyz</span>ker", "kanker"),
            ("kan<div style=\"display:none\">xyz</div>ker", "kanker"),
            ("a <span style=\"visibility:hidden\">x <b style=\"visibility:visible\">y</b></span> b", "a y b"),
            ("a <span style=\"font-size:0\">x</span> b", "a b"),
            ("a <span style=\"font-size:1px\">x</span> b", "a b"),
            ("a <span style=\"font-size:0.5pt\">x</span> b", "a b"),
            ("a <span style=\"font-size:12px\">x</span> b", "a x b"),
            // Mail templates zero the font of a container and set it again on the columns.
            ("<td style=\"font-size:0\"><div style=\"font-size:14px\">kolom</div></td>", "kolom"),
            ("a <span style=\"color:#ffffff\">x</span> b", "a b"),
            ("a <span style=\"color:#FFF\">x</span> b", "a b"),
            ("a <font color=\"white\">x</font> b", "a b"),
            ("a <span style=\"color:rgb(254, 254, 254)\">x</span> b", "a b"),
            ("<table bgcolor=\"#ffffff\"><tr><td>zichtbaar <span style=\"color:#fff\">x</span></td></tr></table>", "zichtbaar"),
            // White text on a dark background is visible, dark text on it is not.
            ("<td bgcolor=\"#003366\"><font color=\"#ffffff\">nieuwsbrief</font></td>", "nieuwsbrief"),
            ("<div style=\"background:#000 url(x.png)\">zwart op zwart</div>", ""),
            ("<div style=\"background-color:#000;color:#fff\">wit op zwart</div>", "wit op zwart"),
            ("a <span style=\"color:transparent\">x</span> b", "a b"),
            ("a <span style=\"opacity:0\">x</span> b", "a b"),
            ("a <div style=\"max-height:0;overflow:hidden\">x</div> b", "a b"),
            ("a <div style=\"height:0\">x</div> b", "a\nx\nb"),
            ("a <span hidden>x</span> b", "a b"),
            // A hidden paragraph ends where a browser ends it: at the next paragraph.
            ("<p style=\"display:none\">weg<p>zichtbaar</p>", "zichtbaar"),
            ("<ul><li style=\"display:none\">weg<li>zichtbaar</ul>", "zichtbaar"),
            // An unclosed hidden element hides the rest, as in a browser.
            ("a<span style=\"display:none\">x<div>y</div>", "a"),
            // `<x/>` is not tracked: it cannot hide what follows.
            ("<div style=\"display:none\"/>zichtbaar", "zichtbaar"),
            // Classes hidden by a style sheet, unless a media rule may show them.
            ("<style>.verberg { display: none }</style>a <span class=\"x verberg\">weg</span> b", "a b"),
            (
                "<style>.m{display:none} @media (max-width:600px){.m{display:block}}</style>a <span class=m>mobiel</span>",
                "a mobiel",
            ),
        ];
        for (html, want) in cases {
            assert_eq!(html_to_text(html), *want, "input {html:?}");
            assert_eq!(
                html_to_text_reference(html),
                *want,
                "reference, input {html:?}"
            );
        }
    }

    #[test]
    fn quotes_are_kept_apart() {
        let html = "<p>Eigen tekst</p><div class=\"moz-cite-prefix\">Op ma schreef Jan:</div>\
                    <blockquote type=\"cite\"><p>geciteerd <b>woord</b></p><blockquote type=cite>dieper</blockquote></blockquote>\
                    <p>na het citaat</p>";
        let t = html_to_text_split(html);
        assert_eq!(t.own, "Eigen tekst\nOp ma schreef Jan:\nna het citaat");
        assert_eq!(t.quoted, "geciteerd woord\ndieper");
        let g = html_to_text_split(
            "a<blockquote class=\"gmail_quote\" style=\"margin:0\">b</blockquote>c",
        );
        assert_eq!((g.own.as_str(), g.quoted.as_str()), ("a\nc", "b"));
        let plain = html_to_text_split("a<blockquote>b</blockquote>c");
        assert_eq!((plain.own.as_str(), plain.quoted.as_str()), ("a\nb\nc", ""));
        // Without splitting, the quote is ordinary text.
        assert_eq!(
            html_to_text(html),
            "Eigen tekst\nOp ma schreef Jan:\ngeciteerd woord\ndieper\nna het citaat"
        );
    }

    #[test]
    fn deep_and_unbalanced_markup_stays_bounded() {
        let deep = "<div>".repeat(10_000) + "tekst" + &"</span>".repeat(10_000);
        assert_eq!(html_to_text(&deep), "tekst");
        let hidden_deep = "<div style=\"display:none\">".to_string()
            + &"<div>".repeat(1_000)
            + "x"
            + &"</div>".repeat(1_001)
            + "y";
        assert_eq!(html_to_text(&hidden_deep), "y");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(3000))]

        /// Token soups of tags, references, white space (ASCII and not) and letters convert exactly as
        /// the byte-by-byte version did.
        #[test]
        fn matches_the_reference(
            tokens in proptest::collection::vec(
                proptest::sample::select(vec![
                    "<b>", "</b>", "<p>", "</div>", "<br/>", "<script>", "</script>", "<style>", "<!--", "-->",
                    "<div style=\"display:none\">", "<span style='color:#fff'>", "<blockquote type=cite>",
                    "</blockquote>", "<li>", "<td bgcolor=#000>", "</span>", "<font size=0>",
                    "<a href=\"x>y\">", "<", ">", "&", "&amp;", "&#107;", "&#x6b;", "&eacute;", "&nbsp;",
                    "&unknown;", " ", "  ", "\t", "\r\n", "\u{0b}", "\u{0c}", "\u{1c}", "\u{a0}", "\u{2003}",
                    "\u{85}", "k", "anker", "é", "€", "x1-", ";", "\"", "'",
                ]),
                0..40,
            )
        ) {
            let html = tokens.concat();
            proptest::prop_assert_eq!(html_to_text(&html), html_to_text_reference(&html));
        }
    }

    #[test]
    fn long_hostile_input_ends_and_stays_bounded() {
        // Its cost is measured by the rules bench (`text/…`), not timed here.
        let html = "<".repeat(200_000) + &"&#".repeat(200_000) + &"<script>".repeat(10_000);
        let text = html_to_text(&html);
        assert!(text.len() <= html.len(), "{}", text.len());
    }
}
