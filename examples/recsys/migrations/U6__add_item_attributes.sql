DROP INDEX IF EXISTS items_attributes;
ALTER TABLE items DROP COLUMN attributes;
