-- 0003_access_requests: the console's four-eyes access requests, shared by every node, so that a request
-- made on one node can be approved and used on another. (The console accounts stay users.json in each
-- node's data directory for now.)

-- One row: the requests of every node as admin::approval::Approvals in JSON (the next number and the kept
-- requests). Each step locks it (SELECT … FOR UPDATE), applies the same state machine as one node does, and
-- writes it back in the same transaction.
CREATE TABLE access_requests (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    state  jsonb NOT NULL
);
INSERT INTO access_requests (state) VALUES ('{"next": 1, "requests": {}}');
