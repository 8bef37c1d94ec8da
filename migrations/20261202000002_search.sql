-- Search: an InnoDB full-text index on the messages' current text. A
-- tombstone's body is NULL and is never indexed; an edit replaces the
-- indexed words with the new text's.
ALTER TABLE messages ADD FULLTEXT KEY messages_text (body);
