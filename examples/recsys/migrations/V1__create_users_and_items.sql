-- Users and catalogue items: the entities the recommender scores.
CREATE TABLE users (
    user_id     BIGINT PRIMARY KEY,
    country     TEXT NOT NULL,
    signup_at   TIMESTAMP NOT NULL,
    age_bucket  TEXT
);

CREATE TABLE items (
    item_id     BIGINT PRIMARY KEY,
    category    TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    created_at  TIMESTAMP NOT NULL
);
