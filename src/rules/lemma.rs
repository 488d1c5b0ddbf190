//! Dutch word forms from a lemma, at compile time: a rule names `v:steken` or `n:foto` once and matches
//! every form a writer uses (`steek`, `steekt`, `stak`, `staken`, `gestoken`; `foto's`, `fotootje`).
//!
//! Word lists written from examples miss the next form (a plural, a past tense, a diminutive, a separable
//! verb split over the sentence). Dutch inflects regularly, with a closed list of strong and irregular verbs,
//! so the forms are generated from the lemma instead:
//!
//! - `v:maken` — a verb: stem (`maak`, open syllables doubled, `v`/`z` devoiced), stem+t, the infinitive,
//!   the weak past by *'t kofschip* (`maakte(n)`, `vermoordde(n)`), the participle with `ge-` unless the verb
//!   starts with an unstressed prefix (`gemaakt`, `vermoord`), and for a strong or irregular verb its own
//!   past and participle from [`STRONG`] (also behind `be-`, `ver-`, `ont-`, …: `verbood`).
//! - `v:af/maken` — a separable verb: the joined forms (`afmaken`, `afmaakt`, `afgemaakt`, `af te maken`)
//!   and the finite forms with the particle later in the sentence (`ik maak je af`), which [`Form::particle`]
//!   carries for the matcher.
//! - `v:verzamelen=verzamel` — the stem given where the syllable rule cannot know the stress.
//! - `n:foto` — a noun: plural `-en`/`-s`/`-'s` (with the doubling of a short vowel's consonant and the
//!   undoubling of a long vowel), diminutive `-je`/`-tje`/`-pje`/`-etje` and its plural.
//!
//! Generating a form nobody writes costs nothing (it never occurs); the lists are written so that no form is
//! an everyday word of its own (see the rule files' comments). Pure, no I/O, never panics.

/// One generated form: its words, and for a split separable verb the particle that must follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The form, words separated by single spaces (`af te maken`), not yet folded.
    pub text: String,
    /// For a finite form of a separable verb used apart (`maak … af`): the particle.
    pub particle: Option<String>,
}

impl Form {
    fn plain(text: String) -> Form {
        Form {
            text,
            particle: None,
        }
    }
}

/// A lemma entry that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LemmaError {
    #[error(
        "lemma `{0}`: a verb lemma is an infinitive ending in -en or -n (`v:steken`, `v:slaan`)"
    )]
    NotInfinitive(String),
    #[error("lemma `{0}`: a lemma is one word of letters (a separable verb: `v:af/maken`)")]
    NotAWord(String),
}

/// Strong and irregular verbs: infinitive, present stem, past singular, past plural, participle (with
/// `ge-` where it has one). Verbs with an inseparable prefix (`verbieden`, `ontsteken`) are found through
/// their base verb.
pub const STRONG: &[(&str, &str, &str, &str, &str)] = &[
    ("bederven", "bederf", "bedierf", "bedierven", "bedorven"),
    ("bedriegen", "bedrieg", "bedroog", "bedrogen", "bedrogen"),
    ("beginnen", "begin", "begon", "begonnen", "begonnen"),
    ("bidden", "bid", "bad", "baden", "gebeden"),
    ("bieden", "bied", "bood", "boden", "geboden"),
    ("bijten", "bijt", "beet", "beten", "gebeten"),
    ("binden", "bind", "bond", "bonden", "gebonden"),
    ("blazen", "blaas", "blies", "bliezen", "geblazen"),
    ("blijven", "blijf", "bleef", "bleven", "gebleven"),
    ("branden", "brand", "brandde", "brandden", "gebrand"),
    ("breken", "breek", "brak", "braken", "gebroken"),
    ("brengen", "breng", "bracht", "brachten", "gebracht"),
    ("denken", "denk", "dacht", "dachten", "gedacht"),
    ("doen", "doe", "deed", "deden", "gedaan"),
    ("dragen", "draag", "droeg", "droegen", "gedragen"),
    ("drijven", "drijf", "dreef", "dreven", "gedreven"),
    ("dringen", "dring", "drong", "drongen", "gedrongen"),
    ("drinken", "drink", "dronk", "dronken", "gedronken"),
    ("dwingen", "dwing", "dwong", "dwongen", "gedwongen"),
    ("gaan", "ga", "ging", "gingen", "gegaan"),
    ("geven", "geef", "gaf", "gaven", "gegeven"),
    ("gieten", "giet", "goot", "goten", "gegoten"),
    ("glijden", "glijd", "gleed", "gleden", "gegleden"),
    ("grijpen", "grijp", "greep", "grepen", "gegrepen"),
    ("hangen", "hang", "hing", "hingen", "gehangen"),
    ("hebben", "heb", "had", "hadden", "gehad"),
    ("helpen", "help", "hielp", "hielpen", "geholpen"),
    ("houden", "houd", "hield", "hielden", "gehouden"),
    ("kiezen", "kies", "koos", "kozen", "gekozen"),
    ("kijken", "kijk", "keek", "keken", "gekeken"),
    ("klimmen", "klim", "klom", "klommen", "geklommen"),
    ("knijpen", "knijp", "kneep", "knepen", "geknepen"),
    ("komen", "kom", "kwam", "kwamen", "gekomen"),
    ("kopen", "koop", "kocht", "kochten", "gekocht"),
    ("krijgen", "krijg", "kreeg", "kregen", "gekregen"),
    ("kruipen", "kruip", "kroop", "kropen", "gekropen"),
    ("kunnen", "kan", "kon", "konden", "gekund"),
    ("laten", "laat", "liet", "lieten", "gelaten"),
    ("lezen", "lees", "las", "lazen", "gelezen"),
    ("liegen", "lieg", "loog", "logen", "gelogen"),
    ("liggen", "lig", "lag", "lagen", "gelegen"),
    ("lijden", "lijd", "leed", "leden", "geleden"),
    ("lopen", "loop", "liep", "liepen", "gelopen"),
    ("moeten", "moet", "moest", "moesten", "gemoeten"),
    ("mogen", "mag", "mocht", "mochten", "gemogen"),
    ("nemen", "neem", "nam", "namen", "genomen"),
    ("rijden", "rijd", "reed", "reden", "gereden"),
    ("roepen", "roep", "riep", "riepen", "geroepen"),
    ("schenden", "schend", "schond", "schonden", "geschonden"),
    ("schieten", "schiet", "schoot", "schoten", "geschoten"),
    ("schijten", "schijt", "scheet", "scheten", "gescheten"),
    ("schoppen", "schop", "schopte", "schopten", "geschopt"),
    ("schrijven", "schrijf", "schreef", "schreven", "geschreven"),
    ("schuiven", "schuif", "schoof", "schoven", "geschoven"),
    ("slaan", "sla", "sloeg", "sloegen", "geslagen"),
    ("slapen", "slaap", "sliep", "sliepen", "geslapen"),
    ("slijpen", "slijp", "sleep", "slepen", "geslepen"),
    ("sluiten", "sluit", "sloot", "sloten", "gesloten"),
    ("smijten", "smijt", "smeet", "smeten", "gesmeten"),
    ("snijden", "snijd", "sneed", "sneden", "gesneden"),
    ("spreken", "spreek", "sprak", "spraken", "gesproken"),
    ("springen", "spring", "sprong", "sprongen", "gesprongen"),
    ("spuiten", "spuit", "spoot", "spoten", "gespoten"),
    ("staan", "sta", "stond", "stonden", "gestaan"),
    ("steken", "steek", "stak", "staken", "gestoken"),
    ("stelen", "steel", "stal", "stalen", "gestolen"),
    ("sterven", "sterf", "stierf", "stierven", "gestorven"),
    ("stoten", "stoot", "stiet", "stieten", "gestoten"),
    ("treffen", "tref", "trof", "troffen", "getroffen"),
    ("trekken", "trek", "trok", "trokken", "getrokken"),
    ("vallen", "val", "viel", "vielen", "gevallen"),
    ("vangen", "vang", "ving", "vingen", "gevangen"),
    ("vechten", "vecht", "vocht", "vochten", "gevochten"),
    ("vinden", "vind", "vond", "vonden", "gevonden"),
    ("vliegen", "vlieg", "vloog", "vlogen", "gevlogen"),
    ("vragen", "vraag", "vroeg", "vroegen", "gevraagd"),
    ("wegen", "weeg", "woog", "wogen", "gewogen"),
    ("werpen", "werp", "wierp", "wierpen", "geworpen"),
    ("weten", "weet", "wist", "wisten", "geweten"),
    ("willen", "wil", "wilde", "wilden", "gewild"),
    ("winnen", "win", "won", "wonnen", "gewonnen"),
    ("worden", "word", "werd", "werden", "geworden"),
    ("wrijven", "wrijf", "wreef", "wreven", "gewreven"),
    ("zeggen", "zeg", "zei", "zeiden", "gezegd"),
    ("zenden", "zend", "zond", "zonden", "gezonden"),
    ("zien", "zie", "zag", "zagen", "gezien"),
    ("zijn", "ben", "was", "waren", "geweest"),
    ("zingen", "zing", "zong", "zongen", "gezongen"),
    ("zitten", "zit", "zat", "zaten", "gezeten"),
    ("zoeken", "zoek", "zocht", "zochten", "gezocht"),
    ("zuigen", "zuig", "zoog", "zogen", "gezogen"),
    ("zullen", "zal", "zou", "zouden", "gezuld"),
    ("zwijgen", "zwijg", "zweeg", "zwegen", "gezwegen"),
];

/// Unstressed prefixes after which a participle takes no `ge-` (`vermoord`, `bedreigd`, `ontvoerd`).
const INSEPARABLE: &[&str] = &["be", "ge", "her", "ont", "ver", "er", "mis"];

/// Expand one list entry. `v:…` and `n:…` are lemmas; anything else is returned as it is.
pub fn expand(entry: &str) -> Result<Vec<Form>, LemmaError> {
    if let Some(rest) = entry.strip_prefix("v:") {
        verb(rest.trim())
    } else if let Some(rest) = entry.strip_prefix("n:") {
        noun(rest.trim())
    } else {
        Ok(vec![Form::plain(entry.to_string())])
    }
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase())
}

/// The present stem of a regular verb from its infinitive (`maken`→`maak`, `zitten`→`zit`,
/// `geven`→`geef`, `beuken`→`beuk`).
fn regular_stem(inf: &str) -> Option<String> {
    let base = inf.strip_suffix("en")?;
    let b = base.as_bytes();
    let n = b.len();
    if n < 2 {
        return None;
    }
    let mut stem = base.to_string();
    let last = *b.get(n - 1)?;
    let before = *b.get(n - 2)?;
    if last == before && !is_vowel(last) {
        // zitten → zit, trappen → trap
        stem.pop();
    } else if !is_vowel(last) && is_vowel(before) && (n < 3 || !is_vowel(*b.get(n - 3)?)) {
        // An open syllable: maken → maak, steken → steek (not for `i`: the short i of `liken` is rare here).
        if before != b'i' && before != b'y' {
            stem.insert(n - 1, before as char);
        }
    }
    // Devoicing at the end: geven → geef, lezen → lees.
    if stem.ends_with('v') {
        stem.pop();
        stem.push('f');
    } else if stem.ends_with('z') {
        stem.pop();
        stem.push('s');
    }
    Some(stem)
}

/// `'t kofschip`: does the weak past take `-te` (voiceless stem end) or `-de`? Looks at the infinitive's
/// consonant before `-en`, so `leven` (v) takes `-de` although its stem `leef` ends in `f`.
fn voiceless(inf: &str, stem: &str) -> bool {
    let base = inf.strip_suffix("en").unwrap_or(stem);
    base.ends_with("ch")
        || base
            .as_bytes()
            .last()
            .is_some_and(|c| matches!(c, b't' | b'k' | b'f' | b's' | b'p' | b'x'))
}

fn takes_ge(inf: &str) -> bool {
    // A prefix only when a consonant follows it: `bedreigen`, `vermoorden`, but `beuken` takes `ge-`.
    !INSEPARABLE.iter().any(|p| {
        inf.len() > p.len() + 3
            && inf.starts_with(p)
            && inf.as_bytes().get(p.len()).is_some_and(|c| !is_vowel(*c))
    })
}

/// The finite forms (used apart from a particle) and the participle of a verb.
struct VerbForms {
    finite: Vec<String>,
    infinitive: String,
    participle: String,
}

fn verb_forms(inf: &str, stem_override: Option<&str>) -> Result<VerbForms, LemmaError> {
    if let Some(&(_, stem, past, pasts, part)) = STRONG.iter().find(|s| s.0 == inf) {
        let mut finite = vec![stem.to_string(), past.to_string(), pasts.to_string()];
        let b = stem.as_bytes();
        let open = b.len() >= 2
            && b.last().is_some_and(|c| matches!(c, b'a' | b'o' | b'u'))
            && b.get(b.len() - 2).is_some_and(|c| !is_vowel(*c));
        if open {
            // sla → slaat, ga → gaat
            let v = stem.chars().last().unwrap_or('a');
            finite.push(format!("{stem}{v}t"));
        } else if !stem.ends_with('t') {
            finite.push(format!("{stem}t"));
        }
        if stem.ends_with('d') {
            finite.push(format!("{}t", stem.trim_end_matches('d')));
        }
        return Ok(VerbForms {
            finite,
            infinitive: inf.to_string(),
            participle: part.to_string(),
        });
    }
    // A strong verb behind an inseparable prefix: verbieden → ver + bieden.
    for p in INSEPARABLE {
        if let Some(base) = inf.strip_prefix(p) {
            if STRONG.iter().any(|s| s.0 == base) && base.len() >= 4 {
                let f = verb_forms(base, None)?;
                let part = f.participle.strip_prefix("ge").unwrap_or(&f.participle);
                return Ok(VerbForms {
                    finite: f.finite.iter().map(|x| format!("{p}{x}")).collect(),
                    infinitive: inf.to_string(),
                    participle: format!("{p}{part}"),
                });
            }
        }
    }
    if !inf.ends_with("en") {
        return Err(LemmaError::NotInfinitive(inf.to_string()));
    }
    let stem = match stem_override {
        Some(s) => s.to_string(),
        None => regular_stem(inf).ok_or_else(|| LemmaError::NotInfinitive(inf.to_string()))?,
    };
    let (te, t_or_d) = if voiceless(inf, &stem) {
        ("te", 't')
    } else {
        ("de", 'd')
    };
    let mut finite = vec![stem.clone(), format!("{stem}{te}"), format!("{stem}{te}n")];
    if !stem.ends_with('t') {
        finite.push(format!("{stem}t"));
    }
    let ge = if takes_ge(inf) { "ge" } else { "" };
    let participle = if stem.ends_with('t') || stem.ends_with('d') {
        format!("{ge}{stem}")
    } else {
        format!("{ge}{stem}{t_or_d}")
    };
    Ok(VerbForms {
        finite,
        infinitive: inf.to_string(),
        participle,
    })
}

/// Every form of a verb lemma (`steken`, `af/maken`, `verzamelen=verzamel`).
fn verb(lemma: &str) -> Result<Vec<Form>, LemmaError> {
    let (lemma, stem_override) = match lemma.split_once('=') {
        Some((l, s)) => (l.trim(), Some(s.trim())),
        None => (lemma, None),
    };
    let (particle, inf) = match lemma.split_once('/') {
        Some((p, v)) => (Some(p.trim()), v.trim()),
        None => (None, lemma),
    };
    if !is_word(inf) || particle.is_some_and(|p| !is_word(p)) {
        return Err(LemmaError::NotAWord(lemma.to_string()));
    }
    if stem_override.is_some_and(|s| !is_word(s)) {
        return Err(LemmaError::NotAWord(lemma.to_string()));
    }
    let f = verb_forms(inf, stem_override)?;
    let mut out = Vec::new();
    match particle {
        None => {
            for x in &f.finite {
                out.push(Form::plain(x.clone()));
            }
            out.push(Form::plain(f.infinitive.clone()));
            out.push(Form::plain(f.participle.clone()));
            // The participle as an adjective (`gestoken`, `vermoorde`).
            if !f.participle.ends_with("en") {
                out.push(Form::plain(format!("{}e", f.participle)));
            }
        }
        Some(p) => {
            // Joined: in a subordinate clause, the infinitive, the participle, `te`.
            for x in &f.finite {
                out.push(Form::plain(format!("{p}{x}")));
            }
            out.push(Form::plain(format!("{p}{}", f.infinitive)));
            out.push(Form::plain(format!("{p} {}", f.infinitive)));
            out.push(Form::plain(format!("{p}{}", f.participle)));
            out.push(Form::plain(format!("{p} te {}", f.infinitive)));
            // Apart, the particle later in the sentence: `ik maak je af`, `stak hem neer`, and the present
            // plural, which is the infinitive's form: `we maken je af`, `zij nemen onze wijken over`.
            for x in f.finite.iter().chain(std::iter::once(&f.infinitive)) {
                out.push(Form {
                    text: x.clone(),
                    particle: Some(p.to_string()),
                });
            }
        }
    }
    dedup(&mut out);
    Ok(out)
}

/// Every form of a noun lemma: singular, plurals, diminutives.
fn noun(lemma: &str) -> Result<Vec<Form>, LemmaError> {
    if !is_word(lemma) {
        return Err(LemmaError::NotAWord(lemma.to_string()));
    }
    let b = lemma.as_bytes();
    let n = b.len();
    let last = b.last().copied().unwrap_or(b'a');
    let before = if n >= 2 { b.get(n - 2).copied() } else { None };
    let third = if n >= 3 { b.get(n - 3).copied() } else { None };
    let mut forms: Vec<String> = vec![lemma.to_string()];
    let mut dims: Vec<String> = Vec::new();
    if is_vowel(last) {
        // foto → foto's, fotos, fotootje; baby → baby's
        forms.push(format!("{lemma}'s"));
        forms.push(format!("{lemma}s"));
        if last == b'e' {
            forms.push(format!("{lemma}n"));
            dims.push(format!("{lemma}tje"));
        } else if matches!(last, b'a' | b'o' | b'u')
            && !matches!(
                (before, last),
                (Some(b'a' | b'o' | b'e'), b'u') | (Some(b'a'), b'a') | (Some(b'o'), b'o')
            )
        {
            dims.push(format!("{lemma}{}tje", last as char));
        } else {
            dims.push(format!("{lemma}tje"));
        }
    } else {
        forms.push(format!("{lemma}s"));
        let long = before.is_some_and(is_vowel) && third.is_some_and(is_vowel);
        let short = before.is_some_and(is_vowel) && !third.is_some_and(is_vowel);
        if long && third == before {
            // aap → apen: a long vowel written single in an open syllable.
            let mut undoubled = lemma.to_string();
            undoubled.remove(n - 2);
            let voiced = match last {
                b'f' => format!("{}ven", &undoubled[..undoubled.len() - 1]),
                b's' => format!("{}zen", &undoubled[..undoubled.len() - 1]),
                _ => format!("{undoubled}en"),
            };
            forms.push(voiced);
            forms.push(format!("{undoubled}en"));
        } else if short && last != b'w' {
            // kut → kutten, lul → lullen (not `bomen` from `bom`: that is another word)
            forms.push(format!("{lemma}{}en", last as char));
        } else {
            forms.push(format!("{lemma}en"));
            if last == b'f' {
                forms.push(format!("{}ven", &lemma[..n - 1]));
            } else if last == b's' {
                forms.push(format!("{}zen", &lemma[..n - 1]));
            }
        }
        if last == b'm' && !short {
            dims.push(format!("{lemma}pje"));
        }
        if short && matches!(last, b'l' | b'm' | b'n' | b'r' | b'g') {
            dims.push(format!("{lemma}{}etje", last as char));
        }
        if matches!(last, b'l' | b'n' | b'r' | b'w') {
            dims.push(format!("{lemma}tje"));
        }
        dims.push(format!("{lemma}je"));
        if lemma.ends_with("ing") {
            dims.push(format!("{}kje", &lemma[..n - 1]));
        }
    }
    let mut out: Vec<Form> = forms.into_iter().map(Form::plain).collect();
    for d in dims {
        out.push(Form::plain(format!("{d}s")));
        out.push(Form::plain(d));
    }
    dedup(&mut out);
    Ok(out)
}

fn dedup(forms: &mut Vec<Form>) {
    let mut seen = std::collections::HashSet::new();
    forms.retain(|f| seen.insert((f.text.clone(), f.particle.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(entry: &str) -> Vec<String> {
        expand(entry)
            .unwrap()
            .into_iter()
            .filter(|f| f.particle.is_none())
            .map(|f| f.text)
            .collect()
    }

    fn apart(entry: &str) -> Vec<(String, String)> {
        expand(entry)
            .unwrap()
            .into_iter()
            .filter_map(|f| f.particle.map(|p| (f.text, p)))
            .collect()
    }

    fn has(entry: &str, forms: &[&str]) {
        let got = texts(entry);
        for f in forms {
            assert!(
                got.iter().any(|g| g == f),
                "{entry}: {f} missing in {got:?}"
            );
        }
    }

    fn lacks(entry: &str, forms: &[&str]) {
        let got = texts(entry);
        for f in forms {
            assert!(
                !got.iter().any(|g| g == f),
                "{entry}: {f} wrongly in {got:?}"
            );
        }
    }

    #[test]
    fn weak_verbs_by_the_syllable_rule_and_kofschip() {
        has(
            "v:maken",
            &["maak", "maakt", "maken", "maakte", "maakten", "gemaakt"],
        );
        has("v:trappen", &["trap", "trapt", "trapte", "getrapt"]);
        has(
            "v:vermoorden",
            &["vermoord", "vermoordde", "vermoordden", "vermoorde"],
        );
        lacks("v:vermoorden", &["gevermoord", "vermoordet"]);
        has("v:beuken", &["beuk", "beukt", "beukte", "gebeukt"]);
        has("v:leven", &["leef", "leeft", "leefde", "geleefd"]);
        has(
            "v:bedreigen",
            &["bedreig", "bedreigt", "bedreigde", "bedreigd"],
        );
        has("v:filmen", &["film", "filmt", "filmde", "gefilmd"]);
        has("v:pesten", &["pest", "pestte", "gepest"]);
        has(
            "v:verzamelen=verzamel",
            &["verzamel", "verzamelt", "verzamelde"],
        );
    }

    #[test]
    fn strong_verbs_from_the_table_also_behind_a_prefix() {
        has(
            "v:steken",
            &["steek", "steekt", "stak", "staken", "gestoken"],
        );
        has(
            "v:slaan",
            &["sla", "slaat", "sloeg", "sloegen", "geslagen", "slaan"],
        );
        has("v:schieten", &["schiet", "schoot", "schoten", "geschoten"]);
        has(
            "v:snijden",
            &["snijd", "snijdt", "snijt", "sneed", "gesneden"],
        );
        has("v:verbieden", &["verbied", "verbood", "verboden"]);
        lacks("v:verbieden", &["vergeboden"]);
    }

    #[test]
    fn separable_verbs_joined_and_apart() {
        has(
            "v:af/maken",
            &["afmaken", "afmaakt", "afgemaakt", "af te maken", "afmaakte"],
        );
        has("v:neer/steken", &["neersteken", "neergestoken", "neerstak"]);
        let split = apart("v:af/maken");
        assert!(split.contains(&("maak".to_string(), "af".to_string())));
        assert!(split.contains(&("maakten".to_string(), "af".to_string())));
        assert!(split.contains(&("maken".to_string(), "af".to_string())));
        assert!(apart("v:dood/slaan").contains(&("sloeg".to_string(), "dood".to_string())));
        assert!(apart("v:maken").is_empty());
    }

    #[test]
    fn nouns_plural_and_diminutive() {
        has(
            "n:foto",
            &["foto", "foto's", "fotos", "fotootje", "fotootjes"],
        );
        has("n:kut", &["kutten", "kutje", "kutjes"]);
        has("n:aap", &["apen", "aapje"]);
        has("n:lul", &["lullen", "lulletje"]);
        has("n:naaktfoto", &["naaktfoto's", "naaktfotootje"]);
        has("n:film", &["films", "filmpje"]);
        has("n:video", &["video's", "videootje"]);
        has("n:ziekte", &["ziektes", "ziekten"]);
        has("n:bericht", &["berichten", "berichtje"]);
        has("n:bom", &["bommen", "bommetje"]);
        lacks("n:bom", &["bomen"]);
    }

    #[test]
    fn bad_lemmas_are_errors_and_plain_entries_pass_through() {
        assert!(matches!(
            expand("v:maak"),
            Err(LemmaError::NotInfinitive(_))
        ));
        assert!(matches!(expand("v:af maken"), Err(LemmaError::NotAWord(_))));
        assert!(matches!(expand("n:"), Err(LemmaError::NotAWord(_))));
        assert_eq!(texts("in elkaar"), vec!["in elkaar".to_string()]);
    }
}
