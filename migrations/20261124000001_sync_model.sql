-- The sync model: a gap-free order per conversation (seq for messages,
-- version for every change), read markers, edits and tombstones, direct
-- conversations, and per-conversation counters that make unread counts and
-- "my conversations by activity" cheap without a write per participant.

-- Conversations carry their own counters and activity; a send updates this one
-- row (under its lock, which is what orders the conversation's changes).
ALTER TABLE conversations
    ADD COLUMN direct_low BIGINT NULL,
    ADD COLUMN direct_high BIGINT NULL,
    ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN last_version BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN participant_count INT NOT NULL DEFAULT 0,
    ADD COLUMN last_activity_at DATETIME(6) NULL,
    -- One direct conversation per pair of users (low id, high id); NULLs for
    -- group conversations never collide.
    ADD UNIQUE KEY conversations_direct_pair (direct_low, direct_high);

ALTER TABLE messages
    ADD COLUMN seq BIGINT NULL,
    ADD COLUMN version BIGINT NULL,
    ADD COLUMN edited_at DATETIME(6) NULL,
    ADD COLUMN deleted_at DATETIME(6) NULL,
    MODIFY body TEXT NULL;

-- Existing messages take their place in id order, per conversation. A window
-- function is fine in a one-off step; the derived table is materialised, so
-- MySQL lets the update read the table it writes.
UPDATE messages m
JOIN (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY id) AS position
    FROM messages
) numbered ON numbered.id = m.id
SET m.seq = numbered.position, m.version = numbered.position;

ALTER TABLE messages
    MODIFY seq BIGINT NOT NULL,
    MODIFY version BIGINT NOT NULL,
    ADD UNIQUE KEY messages_seq (conversation_id, seq),
    ADD UNIQUE KEY messages_version (conversation_id, version);

-- messages_seq now serves the conversation foreign key and every page.
ALTER TABLE messages DROP KEY messages_by_conversation;

UPDATE conversations c
SET c.last_seq = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
    c.last_version = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
    c.participant_count = (SELECT COUNT(*) FROM conversation_participants p WHERE p.conversation_id = c.id),
    c.last_activity_at = COALESCE(
        (SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = c.id),
        c.created_at);

ALTER TABLE conversations MODIFY last_activity_at DATETIME(6) NOT NULL;

-- Read markers: the seq of the last message read. Everything sent before this
-- migration counts as read, so no one wakes up to a wall of old history.
ALTER TABLE conversation_participants
    ADD COLUMN last_read_seq BIGINT NOT NULL DEFAULT 0,
    ADD KEY participants_by_user (user_id, conversation_id);

UPDATE conversation_participants p
JOIN conversations c ON c.id = p.conversation_id
SET p.last_read_seq = c.last_seq;

-- Activity lives on the conversation now: a send no longer writes one row per
-- participant.
ALTER TABLE conversation_participants
    DROP KEY participants_by_user_activity,
    DROP COLUMN last_activity_at;
