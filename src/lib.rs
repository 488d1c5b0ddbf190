//! mailwacht — a mail gateway that enforces the ICT codes of conduct of Dutch school boards.
//!
//! Map of the crate (the folder layout is the architecture). The modules form layers and every
//! `use crate::…` points down (`tests/layers.rs` keeps it so and prints the graph): leaves (`message`,
//! `envelope`, `metrics`, `smtp::reply`, `util`, `accept`, `queue_id`, `storage`) → pure core (`rules`,
//! `scan`, `policy`) → protocols and stores (`smtp`, `milter`, `quarantine`, `traffic`, `bounce`) → the
//! filter (`filter`) → review (`admin`) → `config` → `cli`.
//!
//! - [`config`]: one TOML file (or the embedded defaults) → validated section structs → one `compile`
//!   into what the daemon runs.
//! - [`envelope`]: the SMTP envelope of one message (sender, recipients, XFORWARD attributes).
//! - [`message`]: a parsed, read-only view of one mail: headers, decoded text, attachments, archive members,
//!   and the damage found while parsing. Pure, no I/O.
//! - [`rules`]: rule files (TOML) → compiled rule set → hits for one message. Pure, no I/O after loading.
//! - [`policy`]: exemptions (*persoonlijk*, *vertrouwenspersoon*) and the [`policy::Decision`]: pass, bounce,
//!   quarantine or tempfail. Pure.
//! - [`scan`]: malware scanners (clamd over `zINSTREAM`; the built-in EICAR/hash scanner).
//! - [`bounce`]: the RFC 3464 delivery status notification sent back to the sender (Dutch first, English second).
//! - [`quarantine`]: where infected mail is kept apart (art. 8.5): files as the truth, a sled index, retention.
//! - [`traffic`]: *verkeersgegevens* (WereldKidz 6.7, SOML/ProCon 8.2/8.3): pseudonymous traffic records in
//!   sled, 28-day retention, k-anonymous summaries for auditors, time-limited targeted inquiries.
//! - [`admin`]: the admin socket ICT staff review the quarantine through, and the chained audit log.
//! - [`metrics`]: Prometheus `/metrics` on a loopback port (aggregates only).
//! - [`filter`]: the one path from a received message to verdict, action, answer and account (log line,
//!   metrics, traffic record) for both modes: after the queue (relay, DSN, quarantine → SMTP reply; `250`
//!   only when the message is safe) and before it (continue, reject, discard → milter reply).
//! - [`milter`]: the milter protocol before the queue (Postfix `smtpd_milters`): codec, session, server.
//! - [`smtp`]: the SMTP server Postfix talks to, and the client that relays to the next hop.
//! - `accept`: the accept loop (connection cap, shutdown, grace) the SMTP and milter servers share.
//! - [`queue_id`]: the id of one message (time-sortable, unique across processes and clock steps).
//! - [`util`]: `BoxFuture`, shared by the object-safe async traits.
//! - [`storage`]: the data directory's files: owner-only creation, who owns what, damaged or not ours.
//! - [`web`]: the web console (`[web]`): login, roles, quarantine review under four eyes, audit trail,
//!   status and traffic reports — a front end over the same [`admin::Service`] as the socket and the CLI.
//! - [`cli`]: the `mailwacht` command line (thin: parses flags and calls the modules above).

mod accept;
pub mod admin;
pub mod bounce;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod envelope;
pub mod filter;
pub mod message;
pub mod metrics;
pub mod milter;
pub mod policy;
pub mod quarantine;
pub mod queue_id;
pub mod rules;
pub mod scan;
pub mod smtp;
pub mod storage;
pub mod traffic;
pub mod util;
pub mod web;
