//! What the criterion benches share: the engine as `serve` builds it, for one school domain, and a
//! single-threaded runtime to drive its async `check`.

use mailwacht::config::Config;
use mailwacht::filter::Engine;

/// The engine with the default rules for `school.example`, and a current-thread runtime.
pub fn engine() -> (Engine, tokio::runtime::Runtime) {
    let config = Config::parse(
        "[organisation]\nlocal_domains = [\"school.example\"]\n",
        "bench",
    )
    .expect("config");
    let engine = config.engine().expect("engine");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    (engine, runtime)
}
