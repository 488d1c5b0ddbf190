//! The daemon: what `mailwacht serve` runs once the configuration is compiled.

pub mod logging;
