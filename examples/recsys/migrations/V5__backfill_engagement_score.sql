-- A new model input: a weighted engagement score, backfilled for every user.
UPDATE user_features
SET engagement_score = 0.2 * views_30d + 0.3 * clicks_30d + 0.5 * purchases_30d;

CREATE INDEX user_features_engagement ON user_features (engagement_score);
