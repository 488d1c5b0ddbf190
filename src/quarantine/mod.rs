//! The quarantine: where infected mail is kept apart for investigation and repair (WereldKidz 8.5).
