-- Typing indicators are never stored as messages. One row per user and
-- conversation holds when that user's last delivered `typing: true` left, so
-- a burst of frames through any number of instances delivers one event
-- every 2 seconds (the row is locked while an event is decided).
CREATE TABLE typing_states (
    conversation_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    typing_at DATETIME(6) NULL,
    PRIMARY KEY (conversation_id, user_id),
    CONSTRAINT typing_states_conversation FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
    CONSTRAINT typing_states_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
