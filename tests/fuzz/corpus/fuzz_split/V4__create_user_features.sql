-- The feature table the ranking model reads, backfilled from interactions.
CREATE TABLE user_features (
    user_id          BIGINT PRIMARY KEY REFERENCES users (user_id),
    views_30d        INTEGER NOT NULL DEFAULT 0,
    clicks_30d       INTEGER NOT NULL DEFAULT 0,
    purchases_30d    INTEGER NOT NULL DEFAULT 0,
    engagement_score DOUBLE PRECISION,
    updated_at       TIMESTAMP NOT NULL
);

INSERT INTO user_features (user_id, views_30d, clicks_30d, purchases_30d, engagement_score, updated_at)
SELECT u.user_id,
       (SELECT count(*) FROM interactions i WHERE i.user_id = u.user_id AND i.kind = 'view'),
       (SELECT count(*) FROM interactions i WHERE i.user_id = u.user_id AND i.kind = 'click'),
       (SELECT count(*) FROM interactions i WHERE i.user_id = u.user_id AND i.kind = 'purchase'),
       NULL,
       '2026-04-07 00:00:00'
FROM users u;
