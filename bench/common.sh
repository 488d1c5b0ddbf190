# Shared by the bench scripts (sourced, not run): the mailwacht binary to measure.
# MW_BIN is MAILWACHT_BIN, or the release build in ${CARGO_TARGET_DIR:-target}, built when absent.
# Needs REPO and say() from the caller.
MW_BIN=${MAILWACHT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/mailwacht}
if [ ! -x "$MW_BIN" ]; then
    say "building $MW_BIN"
    (cd "$REPO" && nice -n 5 cargo build --release -q) || exit 2
fi
