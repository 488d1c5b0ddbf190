//! The console's words, Dutch first (the users are Dutch school staff) and English. One table, so a
//! missing translation is a test failure rather than an empty label.

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Nl,
    En,
}

impl Lang {
    /// From the `mw_lang` cookie's value (anything else is Dutch).
    pub fn from_code(code: &str) -> Lang {
        if code == "en" {
            Lang::En
        } else {
            Lang::Nl
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::En => "en",
        }
    }
}

/// (key, Dutch, English).
const TEXTS: &[(&str, &str, &str)] = &[
    ("title", "mailwacht beheer", "mailwacht console"),
    ("nav.quarantine", "Quarantaine", "Quarantine"),
    ("nav.access", "Inzageverzoeken", "Access requests"),
    ("nav.audit", "Auditlog", "Audit trail"),
    ("nav.status", "Status", "Status"),
    ("nav.traffic", "Verkeersrapport", "Traffic report"),
    ("nav.logout", "Afmelden", "Log out"),
    ("nav.other_lang", "English", "Nederlands"),
    ("login.title", "Aanmelden", "Log in"),
    ("login.username", "Gebruikersnaam", "User name"),
    ("login.password", "Wachtwoord", "Password"),
    ("login.submit", "Aanmelden", "Log in"),
    (
        "login.failed",
        "Onjuiste gebruikersnaam of wachtwoord.",
        "Wrong user name or password.",
    ),
    (
        "login.locked",
        "Te veel mislukte pogingen; probeer het later opnieuw.",
        "Too many failed attempts; try again later.",
    ),
    (
        "login.expired",
        "Het formulier is verlopen; probeer opnieuw.",
        "The form expired; please try again.",
    ),
    ("logged_in_as", "Aangemeld als", "Logged in as"),
    ("role", "rol", "role"),
    ("q.title", "Quarantaine", "Quarantine"),
    (
        "q.intro",
        "Besmette berichten, apart gehouden (WereldKidz 8.5). Inhoud alleen na goedkeuring door een tweede persoon.",
        "Infected messages kept apart (WereldKidz 8.5). Content only after approval by a second person.",
    ),
    ("q.id", "Id", "Id"),
    ("q.time", "Ontvangen", "Received"),
    ("q.detection", "Detectie", "Detection"),
    ("q.domain", "Afzenderdomein", "Sender domain"),
    ("q.size", "Grootte", "Size"),
    ("q.status", "Status", "Status"),
    ("q.none", "Geen berichten gevonden.", "No messages found."),
    ("q.from", "Vanaf (JJJJ-MM-DD)", "From (YYYY-MM-DD)"),
    ("q.filter", "Filteren", "Filter"),
    ("q.prev", "Vorige", "Previous"),
    ("q.next", "Volgende", "Next"),
    ("q.page", "Pagina", "Page"),
    ("q.held", "vastgehouden", "held"),
    ("q.released", "vrijgegeven", "released"),
    ("q.structure", "MIME-structuur (zonder inhoud)", "MIME structure (without content)"),
    ("q.part", "Deel", "Part"),
    ("q.kind", "Soort", "Kind"),
    ("q.type", "Type", "Type"),
    ("q.name", "Bestandsnaam", "File name"),
    ("q.members", "Archiefleden", "Archive members"),
    ("q.infected", "Besmet", "Infected"),
    ("q.whole", "Detecties in het hele bericht", "Detections in the whole message"),
    ("q.recipients", "Ontvangers", "Recipients"),
    ("q.request", "Inzage aanvragen (vier ogen)", "Request access (four eyes)"),
    ("q.action", "Handeling", "Action"),
    ("q.reason", "Reden (minstens 10 tekens)", "Reason (at least 10 characters)"),
    ("q.submit_request", "Aanvragen", "Request"),
    ("q.delete", "Verwijderen", "Delete"),
    ("q.deleted", "Bericht verwijderd.", "Message deleted."),
    ("a.show-raw", "inhoud bekijken", "view content"),
    ("a.export", "exporteren (.eml)", "export (.eml)"),
    ("a.release", "vrijgeven aan ontvangers", "release to recipients"),
    ("acc.title", "Inzageverzoeken", "Access requests"),
    (
        "acc.intro",
        "Een ander dan de aanvrager (rol ict of privacy) keurt goed; een goedkeuring geldt één keer en kort.",
        "Someone other than the requester (role ict or privacy) approves; an approval is good once, for a short time.",
    ),
    ("acc.number", "Nr.", "No."),
    ("acc.requester", "Aanvrager", "Requester"),
    ("acc.state", "Stand", "State"),
    ("acc.approve", "Goedkeuren", "Approve"),
    ("acc.refuse", "Weigeren", "Refuse"),
    ("acc.use", "Uitvoeren", "Carry out"),
    ("acc.none", "Geen verzoeken.", "No requests."),
    ("acc.requested", "Verzoek ingediend; wacht op goedkeuring door een tweede persoon.", "Request filed; waiting for approval by a second person."),
    ("st.pending", "wacht op goedkeuring", "awaiting approval"),
    ("st.approved", "goedgekeurd door", "approved by"),
    ("st.refused", "geweigerd door", "refused by"),
    ("st.used", "uitgevoerd, goedgekeurd door", "carried out, approved by"),
    ("st.expired", "verlopen", "expired"),
    ("raw.title", "Inhoud van het bericht", "Message content"),
    (
        "raw.note",
        "Deze inzage staat met beide namen in het auditlog. De pagina wordt niet bewaard.",
        "This access is in the audit trail with both names. The page is not cached.",
    ),
    ("rel.done", "Vrijgegeven aan", "Released to"),
    ("audit.title", "Auditlog", "Audit trail"),
    ("audit.intact", "Keten intact", "Chain intact"),
    ("audit.broken", "KETEN GEBROKEN", "CHAIN BROKEN"),
    ("audit.time", "Tijd", "Time"),
    ("audit.action", "Handeling", "Action"),
    ("audit.detail", "Details", "Detail"),
    ("audit.uid", "uid", "uid"),
    ("audit.person", "Persoon (naam of uid)", "Person (name or uid)"),
    ("status.title", "Status", "Status"),
    ("status.scanner", "Virusscanner", "Malware scanner"),
    ("status.next_hop", "Volgende hop", "Next hop"),
    ("status.mode", "Werkwijze", "Mode"),
    ("status.screening", "Screening", "Screening"),
    ("status.enforce", "handhaven (enforce): verdachte mail wordt teruggestuurd", "enforce: suspect mail is sent back"),
    ("status.monitor", "alleen melden (monitor): mail gaat ongewijzigd door, malware blijft in quarantaine", "monitor: mail goes on unchanged, malware is still quarantined"),
    ("status.rules", "Regels geladen", "Rules loaded"),
    ("status.version", "Versie", "Version"),
    ("status.reload", "Laatst (her)laden", "Last (re)load"),
    ("status.ok", "antwoordt", "answering"),
    ("status.down", "antwoordt niet", "not answering"),
    ("tr.title", "Verkeersrapport", "Traffic report"),
    (
        "tr.intro",
        "Getotaliseerde verkeersgegevens (SOML/ProCon 8.2): aantallen kleiner dan k, of die door één afzender gedomineerd worden, zijn weggelaten (·), zodat niets naar een persoon te herleiden is. Gegevens worden na de bewaartermijn verwijderd.",
        "Aggregated traffic data (SOML/ProCon 8.2): counts below k, or dominated by one sender, are left out (·) so nothing leads back to a person. Data is deleted after the retention period.",
    ),
    ("tr.group", "Indeling", "Group by"),
    ("tr.csv", "Download CSV", "Download CSV"),
    ("tr.xlsx", "Download Excel (XLSX)", "Download Excel (XLSX)"),
    ("tr.none", "Nog geen afgesloten perioden om te tonen.", "No completed periods to show yet."),
    ("tr.k", "k-anonimiteit", "k-anonymity"),
    ("tr.retention", "bewaartermijn (dagen)", "retention (days)"),
    ("nav.inquiries", "Gerichte controles", "Inquiries"),
    ("a.inquiry", "gerichte controle", "inquiry"),
    ("inq.title", "Gerichte controle", "Targeted inquiry"),
    (
        "inq.intro",
        "Alleen bij een vermoeden, voor een vaste korte periode, alleen verkeersgegevens (SOML/ProCon 8.3). Een auditor vraagt aan, de functionaris gegevensbescherming keurt goed; de persoon wordt na afloop geïnformeerd (WereldKidz 6.6).",
        "Only on suspicion, for a fixed short period, traffic data only (SOML/ProCon 8.3). An auditor requests, the privacy officer approves; the person is informed afterwards (WereldKidz 6.6).",
    ),
    ("inq.request", "Gerichte controle aanvragen", "Request an inquiry"),
    ("inq.requests", "Aanvragen", "Requests"),
    ("inq.list", "Controles", "Inquiries"),
    ("inq.none", "Geen gerichte controles.", "No inquiries."),
    ("inq.person", "Persoon (e-mailadres)", "Person (address)"),
    ("inq.days", "Dagen", "Days"),
    ("inq.by", "Verantwoordelijk", "Responsible"),
    ("inq.window", "Periode", "Window"),
    ("inq.open", "loopt", "open"),
    ("inq.closed", "afgelopen", "ended"),
    ("inq.opened", "geopend, goedgekeurd door", "opened, approved by"),
    ("inq.notified", "Persoon geïnformeerd", "Person informed"),
    ("inq.overdue", "TE LAAT: nog niet geïnformeerd", "OVERDUE: not informed yet"),
    ("inq.date", "Datum (JJJJ-MM-DD)", "Date (YYYY-MM-DD)"),
    ("inq.how", "Hoe", "How"),
    ("inq.record", "Vastleggen", "Record"),
    ("inq.close", "Beëindigen", "End now"),
    ("inq.traffic_only", "Alleen verkeersgegevens: tijd, grootte, aantallen, domeinen — nooit inhoud.", "Traffic data only: time, size, counts, domains — never content."),
    ("inq.local", "Intern", "Internal"),
    ("inq.external", "Extern", "External"),
    ("inq.domains", "Domeinen", "Domains"),
    ("inq.attachments", "Bijlagen", "Attachments"),
    ("inq.verdict", "Uitkomst", "Verdict"),
    ("inq.categories", "Categorieën", "Categories"),
    ("inq.notification", "Tekst voor de persoon", "Text for the person"),
    ("nav.check", "Bericht controleren", "Check a message"),
    ("check.title", "Bericht controleren", "Check a message"),
    (
        "check.intro",
        "Wat mailwacht met dit bericht zou doen, met dezelfde regels als het filter. Er wordt niets bewaard of gelogd.",
        "What mailwacht would do with this message, with the filter's own rules. Nothing is stored or logged.",
    ),
    ("check.upload", "Bestand (.eml)", "File (.eml)"),
    ("check.paste", "Of plak het bericht (met kopregels)", "Or paste the message (with headers)"),
    ("check.submit", "Controleren", "Check"),
    ("check.result", "Uitkomst", "Result"),
    ("check.score", "Score", "Score"),
    ("check.exempt", "Uitgezonderd", "Exempt"),
    ("check.damage", "Beschadigingen", "Damage"),
    ("check.rule", "Regel", "Rule"),
    ("check.weight", "Gewicht", "Weight"),
    ("check.article", "Artikel", "Article"),
    ("check.empty", "Geen bericht ontvangen.", "No message received."),
    ("check.too_big", "Het bericht is te groot (max. 25 MiB).", "The message is too large (max. 25 MiB)."),
    ("check.bad", "Het formulier kon niet gelezen worden.", "The form could not be read."),
    ("err.title", "Niet gelukt", "Not done"),
    ("err.forbidden", "Uw rol geeft geen toegang tot deze pagina.", "Your role gives no access to this page."),
    ("err.csrf", "Het formulier is verlopen of ongeldig; laad de pagina opnieuw.", "The form expired or is invalid; reload the page."),
    ("err.not_found", "Niet gevonden.", "Not found."),
    (
        "err.sso",
        "U bent aangemeld bij uw organisatie, maar er is geen actief mailwacht-account met deze naam; vraag ICT-beheer om een account met een rol.",
        "You are signed in with your organisation, but there is no enabled mailwacht account of this name; ask ICT staff for an account with a role.",
    ),
    (
        "err.unavailable",
        "De beheeromgeving kan accounts en sessies nu niet lezen (met meerdere nodes: de gedeelde database antwoordt niet); aanmelden lukt weer zodra dat opgelost is.",
        "The console cannot read its accounts and sessions now (with several nodes: the shared database does not answer); logging in works again once that is fixed.",
    ),
    ("back", "Terug", "Back"),
];

/// The text of `key` in `lang` (the key itself when missing, which a test rules out).
pub fn t(lang: Lang, key: &str) -> &'static str {
    match TEXTS.iter().find(|(k, _, _)| *k == key) {
        Some((_, nl, en)) => match lang {
            Lang::Nl => nl,
            Lang::En => en,
        },
        None => "??",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_unique_and_translated() {
        let mut seen = std::collections::HashSet::new();
        for (k, nl, en) in TEXTS {
            assert!(seen.insert(*k), "duplicate {k}");
            assert!(!nl.is_empty() && !en.is_empty(), "{k}");
        }
        // Every key a template uses is in the table.
        for template in super::super::TEMPLATES {
            for piece in template.split("t(\"").skip(1) {
                let key = piece.split('"').next().unwrap_or_default();
                assert_ne!(t(Lang::Nl, key), "??", "template key {key} missing");
            }
        }
    }
}
