-- Real-time delivery as a pipeline of its own: a change commits what must be
-- delivered, and the fan-out function delivers it after the answer.

-- How far each delivery shard of a conversation has delivered the
-- conversation's change log (messages by version). A pass holds its row's
-- lock from reading its recipients until its posts are out, so two passes of
-- one shard never overlap, and a removal can wait for the passes in flight.
-- No foreign key: its check would share-lock the conversation's row for the
-- whole pass that creates the cursor, and every send takes that row's lock.
CREATE TABLE delivery_cursors (
    conversation_id BIGINT NOT NULL,
    shard INT NOT NULL,
    delivered_version BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, shard)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Conversation events (joined, updated, left, read) waiting for delivery, one
-- row per recipient, written in the change's transaction and deleted by the
-- pass that delivered it. Auto-increment ids are not commit order, so rows are
-- consumed by deletion, never by a cursor over ids.
CREATE TABLE realtime_outbox (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    conversation_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    kind VARCHAR(16) CHARACTER SET ascii NOT NULL,
    -- The event itself for kinds that are not rendered at delivery (read).
    payload TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY realtime_outbox_by_conversation (conversation_id, user_id),
    KEY realtime_outbox_by_age (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Tickets and connections carry the session (refresh-token family) they were
-- opened in, so that ending the session closes them.
ALTER TABLE realtime_tickets ADD COLUMN session_id BINARY(16) NULL;
ALTER TABLE realtime_connections
    ADD COLUMN session_id BINARY(16) NULL,
    ADD KEY realtime_connections_by_session (session_id);
