//! Issue 15: ICT staff review without root. A real non-root user in the `[admin] group` runs every review
//! command (quarantine, audit, traffic, inquiry) against the running daemon with only the socket's path —
//! the configuration stays unreadable to them — and a user outside the group is told which group to ask
//! for.
//!
//! Creates a group and two users (and removes them afterwards), so it needs root (as in CI's containers);
//! run as anyone else it says so and passes.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The uid (and gid) the daemon runs as (Debian's `nobody`/`nogroup`).
const DAEMON_UID: u32 = 65534;

/// A group and users made for one test, deleted when dropped.
struct Accounts {
    group: String,
    member: String,
    outsider: String,
}

impl Accounts {
    fn create() -> Accounts {
        let id = std::process::id();
        let accounts = Accounts {
            group: format!("mwt-ict-{id}"),
            member: format!("mwt-m-{id}"),
            outsider: format!("mwt-o-{id}"),
        };
        run_ok("groupadd", &["--system", &accounts.group]);
        for (user, groups) in [
            (&accounts.member, Some(&accounts.group)),
            (&accounts.outsider, None),
        ] {
            let mut args = vec![
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ];
            if let Some(g) = groups {
                args.extend(["--groups", g.as_str()]);
            }
            args.push(user);
            run_ok("useradd", &args);
        }
        accounts
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for user in [&self.member, &self.outsider] {
            let _ = Command::new("userdel").arg(user).status();
        }
        let _ = Command::new("groupdel").arg(&self.group).status();
    }
}

fn run_ok(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?}");
}

/// `mailwacht <args>` as `user` (runuser: the groups come from the group database, as at a login), with
/// `system_config` as the system configuration and no --config; (exit code, stdout, stderr).
fn as_user(user: &str, system_config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("runuser")
        .args(["-u", user, "--"])
        .arg(support::daemon::binary_for_anyone())
        .args(args)
        .env_remove("MAILWACHT_CONFIG")
        .env_remove("MAILWACHT_SOCKET")
        .env("MAILWACHT_SYSTEM_CONFIG", system_config)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("runuser");
    support::daemon::outcome(&out)
}

#[test]
fn a_group_member_reviews_through_the_socket_and_an_outsider_is_told_which_group_to_ask_for() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating users and changing to them needs root");
        return;
    }
    let accounts = Accounts::create();
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // As the package and unit lay it out: the data directory the daemon's own (0700), the runtime directory
    // the daemon's and traversable (RuntimeDirectoryMode=0751), the configuration root:daemon 0640.
    let data = tmp.path().join("data");
    let keys = tmp.path().join("data-keys");
    let run = tmp.path().join("run");
    for (dir, mode) in [(&data, 0o700), (&keys, 0o700), (&run, 0o751)] {
        std::fs::create_dir(dir).expect("mkdir");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
        std::os::unix::fs::chown(dir, Some(DAEMON_UID), Some(DAEMON_UID)).expect("chown");
    }
    let socket = run.join("admin.sock");
    let config = tmp.path().join("mailwacht.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nsocket = {:?}\ngroup = {:?}\n",
            socket.display().to_string(),
            accounts.group
        ),
    )
    .expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::chown(&config, Some(0), Some(DAEMON_UID)).expect("chown");

    // The daemon's user is in the group too (the package adds it): only a member may give the socket to it.
    let mut runuser = Command::new("runuser");
    runuser
        .args(["-u", "nobody", "-g", "nogroup", "-G", &accounts.group, "--"])
        .arg(support::daemon::binary_for_anyone());
    let (child, _, log) = support::daemon::spawn_serve_with(
        runuser,
        &config,
        &data,
        &["--listen", "127.0.0.1:0"],
        "listen=",
    );
    let _daemon = StopOnDrop(child);
    let log_text = || log.lock().expect("log").join("\n");
    assert!(
        log_text().contains("admin socket listening"),
        "{}",
        log_text()
    );
    let socket_arg = socket.to_str().expect("utf-8");

    // The member cannot read the configuration, and needs neither it nor sudo.
    let (code, _, err) = as_user(&accounts.member, &config, &["config"]);
    assert_eq!(
        code, 2,
        "the configuration is unreadable to the member: {err}"
    );
    assert!(err.contains("ermission denied"), "{err}");
    for args in [
        &["quarantine", "list"][..],
        &["audit", "list"],
        &["traffic", "summary"],
        &["inquiry", "list"],
    ] {
        let with_socket = [args, &["--socket", socket_arg]].concat();
        let (code, out, err) = as_user(&accounts.member, &config, &with_socket);
        assert_eq!(code, 0, "{args:?} as a member: {out}{err}\n{}", log_text());
    }
    let (_, out, _) = as_user(
        &accounts.member,
        &config,
        &["quarantine", "list", "--socket", socket_arg],
    );
    assert!(out.contains("the quarantine is empty"), "{out}");
    // Its audit trail records the member's uid.
    let (code, out, err) = as_user(
        &accounts.member,
        &config,
        &["audit", "list", "--json", "--socket", socket_arg],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"entries\""), "{out}");

    // Without --socket and an unreadable configuration the packaged default is used (no daemon there in
    // this test: said so, no fallback to a store of its own).
    let (code, _, err) = as_user(&accounts.member, &config, &["quarantine", "list"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/run/mailwacht/admin.sock") || err.contains("toegang geweigerd"),
        "{err}"
    );

    // The outsider is refused by the socket itself, and told which group to ask for.
    let (code, out, err) = as_user(
        &accounts.outsider,
        &config,
        &["quarantine", "list", "--socket", socket_arg],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("toegang geweigerd")
            && err.contains(&format!("ask to be added to group {}", accounts.group)),
        "{err}"
    );
}

/// A daemon started through `runuser`, stopped with SIGTERM when the test ends, on a failed assertion too:
/// `runuser` passes SIGTERM on to the daemon and waits for it, where SIGKILL would end `runuser` alone and
/// leave the daemon running.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
