-- A send in one round trip. The conversation's row lock orders its changes,
-- so every send of a conversation waits for the one before it to commit; as
-- separate statements the lock was held over four round trips (lock, insert,
-- counters, commit). As one procedure it is held for the time the server
-- takes to run them, with no network in between.
--
-- What it does, in order: counts the send against the sender's rate limit
-- (the upsert of `shared::store::rate_windows::reserve`, committed on its
-- own, so that the sender's sends into other conversations never wait on
-- that row), a consistent read of the sender's membership (so a stranger
-- takes no conversation lock), then in one transaction the conversation's
-- row lock with membership in the condition (a member removed since), the
-- replied-to message's thread, the message's row, the uploads it claims, the
-- thread's reply count, and the conversation's counters with the sender's
-- read marker. A send that changes nothing (a repeated client_id, a missing
-- replied-to message, an upload already taken) gives its use back; refused
-- by the limit or as a stranger, the use stays counted. Any error rolls the
-- transaction back before it reaches the caller, so no lock outlives the
-- call.
--
-- It answers one row: `outcome` ('created', 'limited', 'repeated' when the
-- sender's client_id is already stored here, 'not_participant',
-- 'no_reply_to', 'attachment_taken'); for 'created' the message's id, seq,
-- version and thread, and the conversation's participant count (for its
-- delivery); for 'limited' when the sender's window began.
--
-- in_window_began_after: a window that began at or before it has passed.
-- in_upload_ids: a JSON array of the upload ids to claim, or NULL.
CREATE PROCEDURE send_message(
    IN in_conversation BIGINT,
    IN in_sender BIGINT,
    IN in_body TEXT CHARACTER SET utf8mb4,
    IN in_client_id VARCHAR(64) CHARACTER SET utf8mb4,
    IN in_created_at DATETIME(6),
    IN in_reply_to BIGINT,
    IN in_attachments TEXT CHARACTER SET utf8mb4,
    IN in_upload_ids TEXT CHARACTER SET utf8mb4,
    IN in_bucket VARCHAR(16) CHARACTER SET ascii,
    IN in_allowed INT,
    IN in_window_began_after DATETIME(6)
)
MODIFIES SQL DATA
BEGIN
    DECLARE outcome VARCHAR(16) CHARACTER SET ascii DEFAULT 'created';
    DECLARE new_id, new_seq, new_version, thread BIGINT DEFAULT NULL;
    DECLARE participants INT DEFAULT NULL;
    DECLARE upload VARCHAR(64) CHARACTER SET ascii DEFAULT NULL;
    DECLARE uploads_named, uploads_claimed INT DEFAULT 0;
    DECLARE uses_counted BIGINT DEFAULT NULL;
    DECLARE window_began DATETIME(6) DEFAULT NULL;
    DECLARE is_member BOOLEAN DEFAULT FALSE;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    send: BEGIN
        -- This statement's own count, whatever the sender's other sends
        -- count meanwhile (LAST_INSERT_ID(expr) is per connection).
        INSERT INTO rate_windows (user_id, bucket, uses, window_started_at)
        VALUES (in_sender, in_bucket, LAST_INSERT_ID(1), in_created_at)
        ON DUPLICATE KEY UPDATE
            uses = LAST_INSERT_ID(IF(window_started_at <= in_window_began_after, 1, uses + 1)),
            window_started_at = IF(window_started_at <= in_window_began_after, in_created_at,
                                   window_started_at);
        SET uses_counted = LAST_INSERT_ID();
        IF uses_counted > in_allowed THEN
            SELECT w.window_started_at INTO window_began
              FROM rate_windows w
             WHERE w.user_id = in_sender AND w.bucket = in_bucket;
            SET outcome = 'limited';
            LEAVE send;
        END IF;
        -- `SELECT ... INTO`, a consistent read: `SET` or `IF` over a
        -- subquery share-locks the row (MariaDB 10.11, at READ COMMITTED
        -- too), a participant row before the conversation's, against the
        -- lock order.
        SELECT EXISTS (SELECT 1 FROM conversation_participants p
                        WHERE p.conversation_id = in_conversation AND p.user_id = in_sender)
          INTO is_member;
        IF NOT is_member THEN
            SET outcome = 'not_participant';
            LEAVE send;
        END IF;
        START TRANSACTION;
        SELECT c.last_seq + 1, c.last_version + 1, c.participant_count
          INTO new_seq, new_version, participants
          FROM conversations c
         WHERE c.id = in_conversation
           AND EXISTS (SELECT 1 FROM conversation_participants p
                        WHERE p.conversation_id = c.id AND p.user_id = in_sender)
           FOR UPDATE;
        IF new_seq IS NULL THEN
            ROLLBACK;
            SET outcome = 'not_participant';
            LEAVE send;
        END IF;
        IF in_reply_to IS NOT NULL THEN
            SELECT COALESCE(m.thread_id, m.id) INTO thread
              FROM messages m
             WHERE m.id = in_reply_to AND m.conversation_id = in_conversation;
            IF thread IS NULL THEN
                ROLLBACK;
                SET outcome = 'no_reply_to';
                LEAVE send;
            END IF;
        END IF;
        insert_message: BEGIN
            -- Under the conversation's lock only the idempotency key can
            -- collide.
            DECLARE EXIT HANDLER FOR 1062
            BEGIN
                ROLLBACK;
                SET outcome = 'repeated';
            END;
            INSERT INTO messages
                (conversation_id, sender_id, body, client_id, created_at, seq, version,
                 reply_to, thread_id, attachments)
            VALUES
                (in_conversation, in_sender, in_body, in_client_id, in_created_at, new_seq,
                 new_version, in_reply_to, thread, in_attachments);
            SET new_id = LAST_INSERT_ID();
        END insert_message;
        IF outcome = 'repeated' THEN
            LEAVE send;
        END IF;
        SET uploads_named = COALESCE(JSON_LENGTH(in_upload_ids), 0);
        WHILE uploads_claimed < uploads_named DO
            SET upload = JSON_UNQUOTE(JSON_EXTRACT(in_upload_ids, CONCAT('$[', uploads_claimed, ']')));
            UPDATE uploads u SET u.message_id = new_id
             WHERE u.id = upload COLLATE ascii_bin AND u.owner_id = in_sender AND u.message_id IS NULL;
            IF ROW_COUNT() <> 1 THEN
                ROLLBACK;
                SET outcome = 'attachment_taken';
                LEAVE send;
            END IF;
            SET uploads_claimed = uploads_claimed + 1;
        END WHILE;
        IF thread IS NOT NULL THEN
            UPDATE messages m SET m.reply_count = m.reply_count + 1 WHERE m.id = thread;
        END IF;
        UPDATE conversations c
          JOIN conversation_participants p ON p.conversation_id = c.id AND p.user_id = in_sender
           SET c.last_seq = new_seq, c.last_version = new_version,
               c.last_activity_at = GREATEST(c.last_activity_at, in_created_at),
               p.last_read_seq = new_seq
         WHERE c.id = in_conversation;
        COMMIT;
    END send;

    -- A send that changed nothing gives its use back, as
    -- `shared::store::rate_windows::release` does.
    IF outcome IN ('repeated', 'no_reply_to', 'attachment_taken') THEN
        UPDATE rate_windows w SET w.uses = GREATEST(w.uses - 1, 0)
         WHERE w.user_id = in_sender AND w.bucket = in_bucket;
    END IF;

    SELECT outcome, new_id AS id, new_seq AS seq, new_version AS version, thread AS thread_id,
           participants AS participant_count, window_began AS window_started_at;
END
