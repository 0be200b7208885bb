-- Click/purchase events: the raw material of every feature.
CREATE TABLE interactions (
    interaction_id BIGINT PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (user_id),
    item_id        BIGINT NOT NULL REFERENCES items (item_id),
    kind           TEXT NOT NULL CHECK (kind IN ('view', 'click', 'purchase')),
    occurred_at    TIMESTAMP NOT NULL
);
CREATE INDEX interactions_user_time ON interactions (user_id, occurred_at);
