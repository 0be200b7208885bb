-- Free-form item attributes for the content-based model: JSON text on SQLite.
ALTER TABLE items ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes));
UPDATE items SET attributes = json_object('category', category, 'premium', json(CASE WHEN price_cents > 2000 THEN 'true' ELSE 'false' END));
