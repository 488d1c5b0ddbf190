-- 0001_quarantine_audit: the quarantine (entries and their raw bytes) and the audit log (hash chain and its
-- head). 0002 (traffic records, inquiries) and 0003 (console accounts, four-eyes requests) are reserved.

-- One row per quarantined message (WereldKidz 8.5). Infected mail is rare and bounded by
-- [smtp] max_message_size, so the original is kept in the row.
CREATE TABLE quarantine (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    -- When it was received, seconds since the Unix epoch.
    received    bigint NOT NULL,
    -- 'held' or 'released'.
    status      text NOT NULL CHECK (status IN ('held', 'released')),
    -- Envelope sender (NULL for <>), recipients and MAIL FROM parameters, as received.
    mail_from   text,
    rcpt_to     text[] NOT NULL,
    mail_params text[] NOT NULL,
    -- What the scanner found and where: [{"name": …, "location": …}, …].
    detections  jsonb NOT NULL,
    -- The original message, byte for byte.
    raw         bytea NOT NULL
);
CREATE INDEX quarantine_received ON quarantine (received);

-- The audit log: one row per entry, the JSON line exactly as hashed; `prev` inside it chains it to the
-- row before (as audit.log does on disk). seq counts from 1 without gaps.
CREATE TABLE audit_log (
    seq   bigint PRIMARY KEY CHECK (seq > 0),
    line  text NOT NULL,
    -- SHA-256 (hex) of line.
    hash  text NOT NULL
);

-- The anchor of the chain's end (audit.head on disk): one row, locked (SELECT … FOR UPDATE) by every
-- append, so two nodes never fork the chain.
CREATE TABLE audit_head (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    entries  bigint NOT NULL,
    last     text NOT NULL
);
INSERT INTO audit_head (entries, last)
VALUES (0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Entries are only ever appended: changing or removing one takes the table owner disabling this trigger,
-- and the chain still shows it.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
