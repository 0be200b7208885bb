DELETE FROM users WHERE user_id >= 1000;
ALTER TABLE users DROP COLUMN converted;
