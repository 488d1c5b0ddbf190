//! `[web]`: the console's settings (embedded in [`crate::config::Config`]; validated there through
//! [`WebSection::validate`]).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[web]`: the web console for ICT staff, the privacy officer and auditors.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// Serve the console from `mailwacht serve`.
    pub enabled: bool,
    /// `ip:port`; loopback by default: put a TLS reverse proxy in front (README).
    pub listen: String,
    /// Leave `Secure` off the session cookie, for a browser on the same machine talking plain HTTP to a
    /// loopback `listen` (tests, a first look). Refused unless `listen` is loopback.
    pub plain_http_loopback: bool,
    /// Minutes without a request after which a session ends.
    pub idle_minutes: u64,
    /// Failed logins (per account, and per client address ×4) before a lockout.
    pub max_failed_logins: u32,
    /// Minutes a lockout lasts.
    pub lockout_minutes: u64,
    /// Minutes a four-eyes content request waits for a second person.
    pub request_valid_minutes: u64,
    /// Minutes an approval can be used (once).
    pub approval_valid_minutes: u64,
    /// TLS in the binary: the certificate chain (PEM, leaf first). With `tls_key`; else plain HTTP for a
    /// TLS proxy in front.
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Single sign-on through a reverse proxy: the request header that names the logged-in person
    /// (`X-Remote-User`), believed only on connections from `trusted_proxies`.
    pub trusted_user_header: Option<String>,
    /// The proxies' addresses (the TCP peer, never a forwarded-for header).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            enabled: false,
            listen: "127.0.0.1:8025".into(),
            plain_http_loopback: false,
            idle_minutes: 15,
            max_failed_logins: 5,
            lockout_minutes: 15,
            request_valid_minutes: 24 * 60,
            approval_valid_minutes: 15,
            tls_cert: None,
            tls_key: None,
            trusted_user_header: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Hard upper bounds: a session or an approval that lives for days is no protection.
const MAX_IDLE_MINUTES: u64 = 8 * 60;
const MAX_APPROVAL_MINUTES: u64 = 60;
const MAX_REQUEST_MINUTES: u64 = 7 * 24 * 60;

impl WebSection {
    /// Check the section; on error, the key and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let listen = self
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| ("listen", format!("{:?} is not ip:port", self.listen)))?;
        if self.plain_http_loopback && !listen.ip().is_loopback() {
            return Err((
                "plain_http_loopback",
                format!(
                    "only for a loopback listen address, not {listen}: elsewhere put TLS in front"
                ),
            ));
        }
        for (key, value, max) in [
            ("idle_minutes", self.idle_minutes, MAX_IDLE_MINUTES),
            ("lockout_minutes", self.lockout_minutes, 24 * 60),
            (
                "request_valid_minutes",
                self.request_valid_minutes,
                MAX_REQUEST_MINUTES,
            ),
            (
                "approval_valid_minutes",
                self.approval_valid_minutes,
                MAX_APPROVAL_MINUTES,
            ),
        ] {
            if value == 0 || value > max {
                return Err((key, format!("must be 1 to {max}")));
            }
        }
        if self.max_failed_logins == 0 {
            return Err(("max_failed_logins", "must be greater than 0".into()));
        }
        self.validate_tls()?;
        self.validate_sso()
    }

    /// Both TLS files or neither; when the console is enabled they must load and belong together.
    fn validate_tls(&self) -> Result<(), (&'static str, String)> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(("tls_key", "tls_cert needs tls_key (the private key)".into())),
            (None, Some(_)) => Err((
                "tls_cert",
                "tls_key needs tls_cert (the certificate)".into(),
            )),
            (Some(_), Some(_)) if self.plain_http_loopback => Err((
                "plain_http_loopback",
                "cannot be combined with tls_cert: with TLS the cookies stay Secure".into(),
            )),
            (Some(cert), Some(key)) if self.enabled => {
                super::tls::server_config(cert, key).map(drop).map_err(|e| {
                    let key = match e {
                        super::tls::TlsError::Key { .. } => "tls_key",
                        _ => "tls_cert",
                    };
                    (key, e.to_string())
                })
            }
            _ => Ok(()),
        }
    }

    /// A header name that is one, and proxies to believe it from.
    fn validate_sso(&self) -> Result<(), (&'static str, String)> {
        match &self.trusted_user_header {
            None if !self.trusted_proxies.is_empty() => Err((
                "trusted_proxies",
                "only used with trusted_user_header".into(),
            )),
            None => Ok(()),
            Some(name) if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() => Err((
                "trusted_user_header",
                format!("{name:?} is not a header name"),
            )),
            Some(_) if self.trusted_proxies.is_empty() => Err((
                "trusted_proxies",
                "trusted_user_header needs the proxies' addresses (e.g. [\"127.0.0.1\"])".into(),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Whether the console serves TLS itself.
    pub fn tls(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }

    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_minutes * 60)
    }

    pub fn lockout(&self) -> Duration {
        Duration::from_secs(self.lockout_minutes * 60)
    }

    pub fn request_valid(&self) -> Duration {
        Duration::from_secs(self.request_valid_minutes * 60)
    }

    pub fn approval_valid(&self) -> Duration {
        Duration::from_secs(self.approval_valid_minutes * 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(WebSection::default().validate().is_ok());
        let bad = |f: fn(&mut WebSection)| {
            let mut s = WebSection::default();
            f(&mut s);
            s.validate().unwrap_err().0
        };
        assert_eq!(bad(|s| s.listen = "localhost".into()), "listen");
        assert_eq!(
            bad(|s| {
                s.listen = "0.0.0.0:8025".into();
                s.plain_http_loopback = true;
            }),
            "plain_http_loopback"
        );
        assert_eq!(
            bad(|s| s.approval_valid_minutes = 600),
            "approval_valid_minutes"
        );
        assert_eq!(bad(|s| s.idle_minutes = 0), "idle_minutes");
        assert_eq!(bad(|s| s.max_failed_logins = 0), "max_failed_logins");
    }
}
