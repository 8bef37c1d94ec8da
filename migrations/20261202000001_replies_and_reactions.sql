-- Replies and threads, and reactions.
--
-- Threads are flat: a reply's thread_id is its thread's first message, and
-- that first message counts its replies in reply_count (updated under the
-- conversation's lock, like every change of the conversation).
--
-- A message's reactions as shown (each emoji in the order it was first used,
-- its exact count and its first 25 users) are kept on the message row itself,
-- as JSON, rewritten with the row's new version under the conversation's
-- lock: a page of messages reads them with no statement of its own.
-- message_reactors holds every reaction, for uniqueness, for the full list of
-- who reacted and for refilling the first 25 when one of them takes theirs
-- back.
-- changed_at: when the message last changed after it was sent (an edit, a
-- deletion or a reaction), so that its event is `message.updated` whatever
-- the change was.
ALTER TABLE messages
    ADD COLUMN changed_at DATETIME(6) NULL,
    ADD COLUMN reply_to BIGINT NULL,
    ADD COLUMN thread_id BIGINT NULL,
    ADD COLUMN reply_count INT NOT NULL DEFAULT 0,
    ADD COLUMN reactions TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    ADD KEY messages_thread (thread_id, seq);

-- Emoji compare byte for byte: a binary string, up to 32 characters of 4
-- bytes.
CREATE TABLE message_reactors (
    id BIGINT NOT NULL AUTO_INCREMENT,
    message_id BIGINT NOT NULL,
    emoji VARBINARY(128) NOT NULL,
    user_id BIGINT NOT NULL,
    reacted_at DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY message_reactors_once (message_id, emoji, user_id),
    KEY message_reactors_in_order (message_id, emoji, id),
    CONSTRAINT message_reactors_message FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT message_reactors_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
