-- 0004_accounts: the web console's accounts, shared by every node, so that an account added on one node
-- signs in on every node. Until this version each node kept its own users.json, which a node on this
-- backend no longer reads: add the accounts again with `mailwacht user add`. Drops and rewrites nothing.

-- One row per account, as admin::accounts::Account: a disabled account stays (its name stays in the audit
-- log and is never handed to someone else). hash is argon2id in PHC form; no password is ever stored.
CREATE TABLE accounts (
    name      text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    role      text NOT NULL CHECK (role IN ('ict', 'privacy', 'auditor')),
    hash      text NOT NULL,
    disabled  boolean NOT NULL DEFAULT false,
    created   bigint NOT NULL CHECK (created >= 0)
);
