-- Real-time delivery: single-use tickets that open a WebSocket, and the open
-- connections that events are posted to.

-- A ticket is kept as the SHA-256 digest of what the client holds; it is
-- spent by setting used_at in the one statement that checks it.
CREATE TABLE realtime_tickets (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ticket_hash BINARY(32) NOT NULL,
    user_id BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at DATETIME(6) NULL,
    UNIQUE KEY realtime_tickets_hash (ticket_hash),
    KEY realtime_tickets_expiry (expires_at),
    CONSTRAINT realtime_tickets_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per open connection, by the gateway's connection id; fan-out reads
-- them by user.
CREATE TABLE realtime_connections (
    connection_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    connected_at DATETIME(6) NOT NULL,
    KEY realtime_connections_by_user (user_id),
    CONSTRAINT realtime_connections_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
