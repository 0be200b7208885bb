-- Undo V9: the channel column goes (SQLite 3.35+ and PostgreSQL drop columns).
ALTER TABLE conversion_features DROP COLUMN channel;
