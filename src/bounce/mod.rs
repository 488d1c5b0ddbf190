//! Bouncing (WereldKidz 6.5: a suspect message is sent back to its sender automatically).
//!
//! Builds the RFC 3464 delivery status notification, Dutch first and English second, and sends it with a
//! null sender via the next hop. Never carries the forbidden content or an infected file: only the original
//! headers are attached.
