DROP INDEX user_features_engagement;
UPDATE user_features SET engagement_score = NULL;
