//! The review service ([`crate::admin::Service`]) over the stores, built one way for every front end:
//! the daemon's admin socket and web console, and the command line when no daemon answers (offline).
//!
//! Must not: open the stores (the daemon and the offline command line open them differently: the daemon
//! creates, recovers and rotates, offline only reads the keys).

use std::sync::Arc;

use crate::admin::{Accounts, AuditLog, Service, TrafficService};
use crate::config::Config;
use crate::quarantine::Store;
use crate::traffic::{KeyRing, Traffic};

/// The review service over open stores, with `config`'s next hop (for releases) and limits and the
/// `traffic` settings; also the traffic part alone, which a reload updates and traffic retention reads.
pub fn service(
    config: &Config,
    traffic_settings: crate::admin::TrafficSettings,
    quarantine: Store,
    audit: AuditLog,
    traffic: Traffic,
    keys: Arc<KeyRing>,
) -> (Service, TrafficService) {
    let traffic = TrafficService::new(traffic, keys, traffic_settings);
    // The console accounts live where the audit log does: in the shared database, every node's.
    let accounts = audit.shared_db().cloned().map(Accounts::postgres);
    let service = Service::new(
        quarantine,
        audit,
        config.next_hop_settings(),
        config.limits.clone(),
    )
    .with_traffic(traffic.clone());
    let service = match accounts {
        Some(accounts) => service.with_accounts(accounts),
        None => service,
    };
    (service, traffic)
}
