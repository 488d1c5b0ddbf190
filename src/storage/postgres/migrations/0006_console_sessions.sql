-- 0006_console_sessions: the web console's sessions and failed logins, shared by every node, so a person
-- stays logged in whichever node the load balancer picks (or after a node restarts), logout on one node ends
-- the session on all, and failed logins are counted over all nodes. Until this version each node kept them
-- in memory. Adds tables and a trigger; drops and rewrites nothing.

-- One row per open session (web::session::postgres). token_hash is the SHA-256 of the cookie token: the
-- token itself is never stored, so a dump of this table logs nobody in. last_seen is seconds since the
-- epoch, written at most once a minute; a session idle longer than [web] idle_minutes is not found (the
-- query's WHERE) and deleted at the next login.
CREATE TABLE console_sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    account    text NOT NULL REFERENCES accounts (name),
    role       text NOT NULL CHECK (role IN ('ict', 'privacy', 'auditor')),
    csrf       text NOT NULL,
    last_seen  bigint NOT NULL CHECK (last_seen >= 0)
);
CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen);
CREATE INDEX console_sessions_account ON console_sessions (account);

-- A disabled account, or one whose role changed, loses its sessions at once, on every node, whoever
-- changed it (the daemon, or the offline command line).
CREATE FUNCTION console_sessions_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM console_sessions WHERE account = NEW.name;
    RETURN NULL;
END
$$;
CREATE TRIGGER console_sessions_end AFTER UPDATE OF disabled, role ON accounts
    FOR EACH ROW WHEN (NEW.disabled OR NEW.role IS DISTINCT FROM OLD.role)
    EXECUTE FUNCTION console_sessions_end();

-- The login throttle: one row per counter, key_hash the SHA-256 of 'user:NAME' or 'ip:ADDRESS' (neither
-- the names tried nor the addresses are readable here), failures in a row and the last one's time (seconds
-- since the epoch). Rows older than [web] lockout_minutes are deleted at the next failure.
CREATE TABLE console_login_failures (
    key_hash     bytea PRIMARY KEY CHECK (length(key_hash) = 32),
    failures     integer NOT NULL CHECK (failures > 0),
    last_failure bigint NOT NULL CHECK (last_failure >= 0)
);
