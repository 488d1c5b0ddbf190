//! The bench text, shared by `benches/rules.rs` and `examples/rules_profile.rs` (the same bytes measured by
//! criterion and counted by callgrind).

use mailwacht::envelope::Envelope;
use mailwacht::message::{Analysis, Text, TextOrigin};
use mailwacht::rules::OrgContext;

/// About 1 MB of ordinary Dutch school mail text (no hits), built from realistic sentences.
pub fn dutch_text() -> String {
    let sentences = [
        "Beste ouders en verzorgers, volgende week donderdag is de ouderavond in de aula van de school.",
        "De kinderen van groep 6 gaan op schoolreis naar het openluchtmuseum; vergeet de lunch niet.",
        "Wij vragen u het toestemmingsformulier voor vrijdag te ondertekenen en mee te geven.",
        "In de bijlage vindt u het rapport en de planning van de projectweek over duurzaamheid.",
        "Met vriendelijke groet, juf Marieke en meester Daan, OBS De Regenboog, groep 5/6.",
        "Het KWF organiseert een sponsorloop; de opbrengst gaat naar kankeronderzoek.",
        "Tijdens de les seksuele voorlichting bespreken we lichaam, grenzen en respect.",
    ];
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 1_000_000 {
        text.push_str(sentences[i % sentences.len()]);
        text.push_str(if i % 5 == 4 { "\n\n" } else { " " });
        i += 1;
    }
    text
}

/// What the text is evaluated with: a teacher's mail from inside the school's domain, the text as the body.
pub fn context(text: &str) -> (OrgContext, Envelope, Analysis) {
    let org = OrgContext {
        local_domains: vec!["school.example".into()],
        send_as: Vec::new(),
    };
    let envelope = Envelope {
        mail_from: Some("juf@school.example".into()),
        ..Envelope::default()
    };
    let analysis = Analysis {
        size: text.len(),
        texts: vec![Text {
            origin: TextOrigin::Body { part: 0 },
            text: text.to_string(),
        }],
        ..Analysis::default()
    };
    (org, envelope, analysis)
}
