-- 0005_pseudonym_keys: the pseudonym keys of the traffic records, shared by every node (until this version
-- each node kept its own in [traffic] key_dir, so two nodes wrote different pseudonyms for one person).
-- Drops and rewrites nothing; `mailwacht store migrate --from embedded` moves a node's key files here.
--
-- Each key is 32 random bytes (never derived from anything), stored only wrapped under the secret every
-- node reads from [traffic] key_secret_file: a dump of this database holds records and wrapped keys, which
-- are useless without that secret; the secret alone yields no key. Deleting a row destroys its key.
-- See src/traffic/keys/wrap.rs for the wrapping (HMAC-SHA256 pad and tag).

-- One row per key period [period_from, period_to) (seconds since the Unix epoch, to exclusive). Periods
-- never overlap, also when two nodes with different retention settings create keys at once.
CREATE TABLE pseudonym_keys (
    period_from  bigint PRIMARY KEY CHECK (period_from >= 0),
    period_to    bigint NOT NULL CHECK (period_to > period_from),
    -- Random per row, 16 bytes.
    nonce        bytea NOT NULL CHECK (length(nonce) = 16),
    -- The key XOR HMAC(secret, "mailwacht pseudonym key wrap" ‖ nonce ‖ from ‖ to), 32 bytes.
    wrapped      bytea NOT NULL CHECK (length(wrapped) = 32),
    -- HMAC(secret, "mailwacht pseudonym key tag" ‖ nonce ‖ from ‖ to ‖ wrapped), 32 bytes.
    tag          bytea NOT NULL CHECK (length(tag) = 32),
    EXCLUDE USING gist (int8range(period_from, period_to) WITH &&)
);

-- One row: HMAC(secret, "mailwacht pseudonym key secret check"), written by the first node that makes a
-- key, so a node given another secret refuses to make keys rather than writing pseudonyms under a key the
-- other nodes cannot open.
CREATE TABLE pseudonym_key_secret (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    secret_check  bytea NOT NULL CHECK (length(secret_check) = 32)
);
