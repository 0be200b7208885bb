-- A deterministic synthetic cohort (600 users over five countries and five
-- age buckets) and the conversion label the fairness gate measures:
-- exactly 30% of every country and every age bucket converted.
ALTER TABLE users ADD COLUMN converted BOOLEAN;

WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < 599)
INSERT INTO users (user_id, country, signup_at, age_bucket, converted)
SELECT 1000 + n,
       CASE n % 5 WHEN 0 THEN 'DE' WHEN 1 THEN 'FR' WHEN 2 THEN 'US' WHEN 3 THEN 'BR' ELSE 'IN' END,
       '2026-05-01 00:00:00',
       CASE (n / 50) % 5 WHEN 0 THEN '18-24' WHEN 1 THEN '25-34' WHEN 2 THEN '35-44'
                         WHEN 3 THEN '45-54' ELSE '55+' END,
       (n / 5) % 10 < 3
FROM seq;

UPDATE users SET converted = EXISTS (
    SELECT 1 FROM interactions i WHERE i.user_id = users.user_id AND i.kind = 'purchase')
WHERE user_id < 1000;
