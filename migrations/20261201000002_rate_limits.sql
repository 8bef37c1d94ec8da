-- Per-user rate limits, kept in the database so that they hold across Lambda
-- instances: one fixed window per user and limit, counted by one upsert.
CREATE TABLE rate_windows (
    user_id BIGINT NOT NULL,
    bucket VARCHAR(16) CHARACTER SET ascii NOT NULL,
    window_started_at DATETIME(6) NOT NULL,
    uses INT NOT NULL,
    PRIMARY KEY (user_id, bucket),
    CONSTRAINT rate_windows_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
