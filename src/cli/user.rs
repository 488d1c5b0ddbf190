//! `mailwacht user ...`: the web console's accounts (add, list, passwd, disable). Thin: builds an
//! [`admin::UserRequest`] and sends it through [`super::quarantine::call`] (the daemon over the admin
//! socket, or the same service offline), so every change lands in the audit log either way.
//!
//! Passwords are read from the terminal without echo (twice), or as one line from stdin with
//! `--password-stdin`; never from a flag (flags show in `ps` and shell history).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::quarantine::{call, when, ReviewFlags, ReviewTarget};
use super::ConfigSource;
use crate::admin::{self, Request, Response, Role, UserRequest};

#[derive(Debug, clap::Args)]
pub struct UserArgs {
    #[command(flatten)]
    review: ReviewFlags,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Add a console account (audited).
    Add {
        /// 1 to 64 of a-z, 0-9, '.', '_', '-'.
        name: String,
        /// ict (quarantine, check, status), privacy (audit trail, reports, approvals) or auditor (reports,
        /// inquiry requests).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password as one line from stdin instead of asking on the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts: name, role, enabled.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a new password (also enables a disabled account; audited).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: no more logins, its sessions end (audited; the name is never reused).
    Disable { name: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

pub fn run(source: &ConfigSource, args: UserArgs) -> anyhow::Result<ExitCode> {
    let config = ReviewTarget::new(source, args.review)?;
    let request = match args.command {
        UserCommand::List { json } => {
            let Response::Users { users } = call(&config, Request::User(UserRequest::List))? else {
                bail!("unexpected answer from the daemon");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                print_list(&users);
            }
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => UserRequest::Add {
            password: read_password(password_stdin)?,
            name,
            role,
        },
        UserCommand::Passwd {
            name,
            password_stdin,
        } => UserRequest::Passwd {
            password: read_password(password_stdin)?,
            name,
        },
        UserCommand::Disable { name } => UserRequest::Disable { name },
    };
    let what = match &request {
        UserRequest::Add { .. } => "added",
        UserRequest::Passwd { .. } => "password set",
        _ => "disabled",
    };
    let Response::UserChanged { name } = call(&config, Request::User(request))? else {
        bail!("unexpected answer from the daemon");
    };
    println!("{name}: {what}");
    Ok(ExitCode::SUCCESS)
}

fn print_list(users: &[admin::AccountInfo]) {
    if users.is_empty() {
        println!(
            "geen accounts / no accounts (mailwacht user add NAME --role ict|privacy|auditor)"
        );
        return;
    }
    for u in users {
        println!(
            "{:<24} {:<8} {:<9} since {}",
            u.name,
            u.role.as_str(),
            if u.disabled { "disabled" } else { "enabled" },
            when(u.created)
        );
    }
}

/// One line from stdin, or twice from the terminal without echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = prompt("Wachtwoord / password: ")?;
    let second = prompt("Nogmaals / again: ")?;
    if first != second {
        bail!("the two passwords differ; nothing changed");
    }
    Ok(first)
}

/// Read a line from the terminal with echo off (restored afterwards, also on error).
fn prompt(text: &str) -> anyhow::Result<String> {
    eprint!("{text}");
    std::io::stderr().flush().ok();
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is stdin, `saved` a valid termios.
    let have_tty = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if have_tty {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: as above; sets the terminal attributes of stdin.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if have_tty {
        // SAFETY: restores what tcgetattr returned.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    eprintln!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
