-- Erasure: an erased account keeps its row (its id stays in messages and
-- conversations) without anything that identifies a person. Email and
-- username become NULL, so both are free to register again (a unique key
-- holds any number of NULLs). `erasure_finished_at` is set once every
-- conversation has been worked through; until then the maintenance run
-- resumes the erasure.
ALTER TABLE users
    MODIFY email VARCHAR(254) NULL,
    MODIFY username VARCHAR(150) NULL,
    ADD COLUMN erased_at DATETIME(6) NULL,
    ADD COLUMN erasure_finished_at DATETIME(6) NULL,
    ADD KEY users_erased (erased_at);
