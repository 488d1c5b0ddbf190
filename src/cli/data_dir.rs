//! The data directory as the command line meets it: whose it is, acting as its owner in offline mode, and
//! naming a permission problem as such.
//!
//! Offline mode (no daemon answers on the admin socket) opens the stores itself. Whatever it creates there
//! (sled files, the audit log) must belong to the user the daemon runs as, or the daemon cannot open them
//! at its next start and all mail is deferred. So, before any store is opened:
//!
//! - the data directory must exist: offline mode never creates it (only `serve` does, as its own user; a
//!   directory root created would not be the daemon's);
//! - run by its owner, nothing changes;
//! - run by root, the process takes the owner's effective uid, gid and groups until the stores are closed,
//!   so every file is created as the owner would; the real uid stays root's and is what the audit log
//!   records. Root's ids come back afterwards, for writing an export or report where root asked;
//! - run by anyone else, it refuses: the directory is owner-only, and an attempt would fail half-way.
//!
//! Must not: change ids other than the effective ones, or keep them changed longer than the stores are open.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{bail, Context};

/// The process's effective ids to restore once the stores are closed (dropped).
#[derive(Debug)]
pub(super) struct ActingAsOwner {
    saved: Option<SavedIds>,
}

#[derive(Debug)]
struct SavedIds {
    euid: libc::uid_t,
    egid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

/// Prepare to open the stores in `data_dir` offline (see the module docs). Keep the value until the
/// stores are closed.
pub(super) fn act_as_owner(data_dir: &Path) -> anyhow::Result<ActingAsOwner> {
    let meta = match std::fs::metadata(data_dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "nog niets opgeslagen / nothing stored yet: the data directory {} does not exist \
             (no quarantine, traffic records or audit log yet). `mailwacht serve` creates it at its \
             first start, as the user it runs as; this command created nothing",
            data_dir.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| {
                format!("cannot read the data directory {}", data_dir.display())
            })
        }
    };
    if !meta.is_dir() {
        bail!(
            "the data directory {} is not a directory",
            data_dir.display()
        );
    }
    let (owner, group) = (meta.uid(), meta.gid());
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == owner {
        return Ok(ActingAsOwner { saved: None });
    }
    if euid != 0 {
        return Err(not_the_owner(data_dir, owner, euid));
    }
    let saved = SavedIds {
        euid,
        // SAFETY: getegid has no preconditions and cannot fail.
        egid: unsafe { libc::getegid() },
        groups: groups().context("reading the supplementary groups")?,
    };
    let guard = ActingAsOwner { saved: Some(saved) };
    // Groups and gid first: once the uid is not root's, they cannot be changed.
    // SAFETY: setgroups reads one gid from a valid pointer; setegid/seteuid take plain ids. glibc applies
    // each to every thread of the process.
    let switched = unsafe {
        libc::setgroups(1, &group) == 0 && libc::setegid(group) == 0 && libc::seteuid(owner) == 0
    };
    if !switched {
        let error = std::io::Error::last_os_error();
        drop(guard);
        return Err(error).with_context(|| {
            format!(
                "cannot act as uid {owner}, the owner of {}",
                data_dir.display()
            )
        });
    }
    Ok(guard)
}

/// Refuse a caller who is neither root nor the owner of `data_dir` (an existing one): they can use the
/// stores only through the daemon's admin socket.
pub(super) fn refuse_if_not_owner(data_dir: &Path) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::metadata(data_dir) else {
        return Ok(());
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 && euid != meta.uid() {
        return Err(not_the_owner(data_dir, meta.uid(), euid));
    }
    Ok(())
}

fn not_the_owner(data_dir: &Path, owner: u32, euid: u32) -> anyhow::Error {
    anyhow::anyhow!(
        "the data directory {} belongs to uid {owner} (the user mailwacht serve runs as); this command \
         runs as uid {euid}. Use the running daemon's admin socket (its [admin] group), or run this as \
         uid {owner} (e.g. sudo -u mailwacht mailwacht ...) or as root",
        data_dir.display()
    )
}

/// The process's supplementary groups.
fn groups() -> std::io::Result<Vec<libc::gid_t>> {
    // SAFETY: with size 0 getgroups only returns the count.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    let Ok(len) = usize::try_from(n) else {
        return Err(std::io::Error::last_os_error());
    };
    let mut groups = vec![0; len];
    // SAFETY: the buffer holds `n` gids.
    let got = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
    let Ok(got) = usize::try_from(got) else {
        return Err(std::io::Error::last_os_error());
    };
    groups.truncate(got);
    Ok(groups)
}

impl Drop for ActingAsOwner {
    fn drop(&mut self) {
        let Some(saved) = self.saved.take() else {
            return;
        };
        // uid first: root's effective uid is needed to change the gid and groups back. The real and saved
        // uids stayed root's, so this cannot be refused.
        // SAFETY: plain ids, and a pointer to `groups.len()` gids.
        let restored = unsafe {
            libc::seteuid(saved.euid) == 0
                && libc::setegid(saved.egid) == 0
                && libc::setgroups(saved.groups.len(), saved.groups.as_ptr()) == 0
        };
        if !restored {
            eprintln!(
                "mailwacht: cannot restore the effective ids: {}",
                std::io::Error::last_os_error()
            );
            std::process::exit(i32::from(super::EXIT_ERROR));
        }
    }
}
