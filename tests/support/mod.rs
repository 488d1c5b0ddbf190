//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod clamd;
pub mod client;
pub mod daemon;
pub mod milter_client;
pub mod sink;
