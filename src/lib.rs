//! mailwacht — a mail gateway that enforces the ICT codes of conduct of Dutch school boards.
//!
//! Map of the crate (the folder layout is the architecture). The modules form layers and every
//! `use crate::…` points down (`tests/layers.rs` keeps it so and prints the graph):
//!
//! 1. leaves — `message`, `envelope`, `metrics`, `smtp::reply`, `util`, `accept`, `queue_id`, `storage`,
//!    `web::settings`: plain data and small helpers.
//! 2. pure core — `rules`, `scan`, `policy`: from a message to hits and a verdict; no I/O after loading.
//! 3. protocols and stores — `smtp`, `milter`, `quarantine`, `traffic`, `bounce`: bytes on sockets, files on
//!    disk.
//! 4. `filter` — the one path from a received message to verdict, action, answer and account.
//! 5. `admin` — the review service (quarantine, traffic, audit) every front end calls.
//! 6. `config` — the raw sections and the one `compile` into what the daemon runs.
//! 7. `web` — the web console, a front end over `admin` that the daemon starts.
//! 8. `daemon` — the wiring `serve` runs: listeners, stores, reload, background tasks.
//! 9. `cli` — the command line: flags → the library.
//!
//! - [`config`]: one TOML file (or the embedded defaults) → validated section structs (one file per group
//!   of sections) → one `compile` into what the daemon runs (engine, server, milter, next-hop and traffic
//!   settings).
//! - [`daemon`]: `run(compiled, listeners, reload, shutdown)`, as mini-redis' `server::run`: opens the
//!   stores, starts the SMTP, milter, admin, `/metrics` and web servers, reloads on SIGHUP, and owns the
//!   retention and purge tasks through one guard; the review service built the same way for the offline
//!   CLI; the log line format.
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
//! - [`storage`]: the data directory's files: owner-only creation, who owns what, damaged or not ours; the
//!   backend (embedded, or PostgreSQL shared by several nodes: pool, errors, versioned schema).
//! - [`web`]: the web console (`[web]`): login, roles, quarantine review under four eyes, audit trail,
//!   status and traffic reports — a front end over the same [`admin::Service`] as the socket and the CLI.
//! - [`cli`]: the `mailwacht` command line (thin: parses flags and calls the modules above; `serve` is flags
//!   → load → compile → bind → [`daemon::run`]).

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
