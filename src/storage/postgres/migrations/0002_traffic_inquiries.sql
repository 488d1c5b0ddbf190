-- 0002_traffic_inquiries: the traffic records (verkeersgegevens) of every node and the inquiries on them.
-- Records are pseudonymised before they get here, exactly as in the embedded store (the keys stay in
-- [traffic] key_dir on each node); summaries are computed by mailwacht from the merged rows.

-- One row per handled message, of any node. seq orders records of the same second (as the embedded
-- store's counter does); record is the traffic::Record as JSON, its fields documented in src/traffic/mod.rs.
CREATE TABLE traffic_record (
    seq     bigserial PRIMARY KEY,
    -- traffic::Record::time, seconds since the Unix epoch (also inside record; here for range and purge).
    time    bigint NOT NULL CHECK (time >= 0),
    record  jsonb NOT NULL,
    -- Records moved from a node's embedded store (`mailwacht store migrate --from embedded`): which store
    -- (host and data directory) and the record's key there, so that moving it again adds nothing.
    -- NULL for records written here.
    origin      text,
    origin_key  bytea,
    UNIQUE (origin, origin_key)
);
CREATE INDEX traffic_record_time ON traffic_record (time, seq);

-- One row: the latest retention cut-off (records before it may be gone; summaries refuse earlier periods).
CREATE TABLE traffic_meta (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    purged_before  bigint NOT NULL
);
INSERT INTO traffic_meta (purged_before) VALUES (0);

-- Targeted inquiries (SOML/ProCon 8.3, WereldKidz 6.6). Ids come from one sequence, so two nodes never
-- hand out the same number.
CREATE SEQUENCE inquiry_id;
CREATE TABLE inquiry (
    id       bigint PRIMARY KEY CHECK (id > 0),
    -- traffic::Inquiry as JSON (with its notification state).
    inquiry  jsonb NOT NULL
);
