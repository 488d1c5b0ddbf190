//! Tests over the embedded default rule set: the Scunthorpe table, each rule kind hitting and not hitting.

use super::*;
use crate::envelope::Recipient;
use crate::message::{ArchiveMember, ArchiveProblem, Attachment, Damage, FileKind, HeaderView, Text, TextOrigin};

fn embedded() -> RuleSet {
    match RuleSet::embedded() {
        Ok(r) => r,
        Err(e) => panic!("embedded rules do not compile: {e}"),
    }
}

#[test]
fn embedded_set_compiles() {
    let r = embedded();
    assert!(r.rules().len() >= 20, "{}", r.rules().len());
    for info in r.rules() {
        assert!(file::CATEGORIES.contains(&info.category.as_str()));
        assert!(info.message_nl.len() > 40 && info.message_en.len() > 40, "{}", info.id);
    }
    assert!(r.rule("MW-PRIVACY-01").is_some());
}
