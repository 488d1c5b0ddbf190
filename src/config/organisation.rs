//! `[organisation]` (who "we" are, send-as pairs) and `[exemptions]` (WereldKidz 6.8 *persoonlijk*, 6.9
//! *vertrouwenspersoon*): the raw sections, as the file has them.

use serde::{Deserialize, Serialize};

/// `[organisation]`: who "we" are.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Organisation {
    /// Name used in bounce texts ("de school").
    pub name: String,
    /// The school board's own mail domains. Mail from these is screened; recipients outside them are
    /// external (BSN and visible-recipient rules). Empty: every sender is screened, every recipient external.
    pub local_domains: Vec<String>,
    /// How senders reach the ICT desk, shown in bounces.
    pub helpdesk: String,
    /// Allowed From addresses that differ from the envelope sender (shared mailboxes, send-as aliases).
    pub send_as: Vec<SendAs>,
    /// Pupils' addresses (globs such as `*@leerling.school.nl`). Rules with `sender-role`/`recipient-role`
    /// tell staff → pupil mail apart with them (SVOK B.4). Empty (the default): nobody is a pupil.
    pub pupils: Vec<String>,
    /// Staff addresses (globs). Empty (the default): every local address that is not a pupil's.
    pub staff: Vec<String>,
}

impl Default for Organisation {
    fn default() -> Self {
        Organisation {
            name: "de school".into(),
            local_domains: Vec::new(),
            helpdesk: "de ICT-servicedesk".into(),
            send_as: Vec::new(),
            pupils: Vec::new(),
            staff: Vec::new(),
        }
    }
}

/// One allowed (envelope sender, From) pair; either side may be `*@domain` or `*`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendAs {
    pub sender: String,
    pub from: String,
}

/// `[exemptions]`: WereldKidz 6.8 (*persoonlijk*) and 6.9 (*vertrouwenspersoon*).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exemptions {
    /// *Vertrouwenspersonen*: mail from them, and mail to them alone, skips the content rules (WereldKidz 6.9);
    /// security and identity rules still apply.
    pub counsellors: Vec<String>,
    /// Reporting destinations (police, the inspectorate's meldpunt, Veilig Thuis, management): mail whose
    /// every recipient is one of these (or a counsellor) skips the content rules. Addresses or globs
    /// (`*@politie.nl`).
    pub report_to: Vec<String>,
    /// `Sensitivity:` header values that mark mail *persoonlijk* (Outlook's Persoonlijk/Privé labels).
    pub sensitivity: Vec<String>,
    /// Subject labels that mark mail *persoonlijk*: `[label]`, `(label)`, `label:` or `label -` at the start
    /// of the subject (after `Re:`/`Fw:` prefixes), or `[label]` anywhere. Case-insensitive.
    pub subject_labels: Vec<String>,
}

impl Default for Exemptions {
    fn default() -> Self {
        Exemptions {
            counsellors: Vec::new(),
            report_to: Vec::new(),
            sensitivity: vec!["personal".into(), "private".into()],
            subject_labels: vec!["persoonlijk".into(), "privé".into()],
        }
    }
}
