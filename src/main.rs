//! The `mailwacht` binary: everything happens in [`mailwacht::cli::run`]; errors are printed once here.

use std::process::ExitCode;

fn main() -> ExitCode {
    match mailwacht::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mailwacht: {err:#}");
            ExitCode::from(mailwacht::cli::EXIT_ERROR)
        }
    }
}
