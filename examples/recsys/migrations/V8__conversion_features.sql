-- The conversion model's feature table for the synthetic cohort (V7): the
-- features carry signal for the label (converted) so the model-impact
-- gate has something to lose.  Deterministic, from the user id.
CREATE TABLE conversion_features (
    user_id           BIGINT PRIMARY KEY REFERENCES users (user_id),
    sessions_7d       INTEGER NOT NULL,
    pages_per_session DOUBLE PRECISION,
    days_since_signup INTEGER NOT NULL,
    plan              TEXT NOT NULL,
    converted         BOOLEAN NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

INSERT INTO conversion_features (user_id, sessions_7d, pages_per_session, days_since_signup,
                                 plan, converted, updated_at)
SELECT user_id,
       (user_id * 7919) % 9 + CASE WHEN converted THEN 3 ELSE 0 END,
       ((user_id * 104729) % 50) / 10.0 + CASE WHEN converted THEN 1.0 ELSE 0 END,
       (user_id * 31) % 60 + CASE WHEN converted THEN 0 ELSE 20 END,
       CASE WHEN converted AND user_id % 3 = 0 THEN 'pro'
            ELSE CASE (user_id * 13) % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'trial' ELSE 'pro' END END,
       converted,
       '2026-05-02 00:00:00'
FROM users
WHERE user_id >= 1000;
