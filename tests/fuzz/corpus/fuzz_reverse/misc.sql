BEGIN;
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
DO $$ BEGIN RAISE NOTICE 'a;b'; END $$;
/* nested /* comment */ ; */
SELECT create_hypertable('m', 'ts');
COPY (SELECT 1) TO STDOUT;
COMMIT;
