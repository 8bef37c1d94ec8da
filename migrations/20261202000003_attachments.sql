-- Attachments: every upload is a row from the moment its form is handed
-- out; a send attaches uploads by setting their message_id (each at most
-- once). What a message shows of its attachments is kept on its row, as
-- JSON, written with the message, so reading messages needs no statement of
-- its own for them.
CREATE TABLE uploads (
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    owner_id BIGINT NOT NULL,
    filename VARCHAR(255) NOT NULL,
    content_type VARCHAR(255) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    size BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    message_id BIGINT NULL,
    PRIMARY KEY (id),
    -- The maintenance run's walks: unattached uploads by age, attached ones
    -- by message.
    KEY uploads_by_message (message_id, created_at),
    CONSTRAINT uploads_owner FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uploads_message FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

ALTER TABLE messages
    ADD COLUMN attachments TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
