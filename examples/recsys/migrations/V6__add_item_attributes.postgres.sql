-- Free-form item attributes for the content-based model: jsonb on PostgreSQL.
ALTER TABLE items ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}'::jsonb;
UPDATE items SET attributes = jsonb_build_object('category', category, 'premium', price_cents > 2000);
CREATE INDEX items_attributes ON items USING gin (attributes);
