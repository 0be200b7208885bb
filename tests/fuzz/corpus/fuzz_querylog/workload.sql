-- a workload
SELECT score FROM user_features WHERE user_id = 3;
UPDATE user_features SET clicks = clicks + 1 WHERE user_id = 7;
SELECT $$;$$, 'it''s', E'\\x' FROM t; /* ; */
