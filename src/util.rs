//! Small helpers shared by every layer. A leaf: it uses nothing else in the crate.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, as returned by the object-safe async traits of this crate (scanners, the quarantine,
/// the SMTP and milter handlers).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs a handler's future so that a panic, while building the future or while polling it, comes back as
/// `Err` with the panic's message instead of unwinding through the server. The one panic guard of the SMTP
/// and milter servers: each turns the `Err` into its temporary failure (`451`), never into an acceptance.
///
/// The future runs in the caller's task, under `catch_unwind`: a task spawned per message only to catch its
/// panic cost a task allocation, a scheduling round and a wake-up of the session.
pub async fn guarded<T>(call: impl FnOnce() -> BoxFuture<'static, T>) -> Result<T, String> {
    let caught = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(future) => CatchUnwind(future).await,
        Err(panic) => Err(panic),
    };
    caught.map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("-")
            .to_string()
    })
}

/// A future with a panic while polling it turned into an `Err` (it is not polled again).
struct CatchUnwind<T>(BoxFuture<'static, T>);

impl<T> Future for CatchUnwind<T> {
    type Output = std::thread::Result<T>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let future = &mut self.0;
        // Unwind safety: after a panic the future is dropped unpolled and only the failure goes out.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(value)) => std::task::Poll::Ready(Ok(value)),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value comes back; a panic while building the future or while polling it comes back as `Err` with
    /// its message, and nothing unwinds into the caller.
    #[tokio::test]
    async fn guarded_turns_panics_into_errors() {
        let ok = guarded(|| Box::pin(async { 7 }) as BoxFuture<'static, i32>).await;
        assert_eq!(ok, Ok(7));
        let before = guarded(|| -> BoxFuture<'static, i32> { panic!("before any future") }).await;
        assert_eq!(before, Err("before any future".to_string()));
        let polled = guarded(|| -> BoxFuture<'static, i32> {
            Box::pin(async {
                tokio::task::yield_now().await;
                panic!("{}", String::from("while polled"))
            })
        })
        .await;
        assert_eq!(polled, Err("while polled".to_string()));
    }
}
