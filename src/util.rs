//! Small helpers shared by every layer. A leaf: it uses nothing else in the crate.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, as returned by the object-safe async traits of this crate (scanners, the quarantine,
/// the SMTP and milter handlers).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
