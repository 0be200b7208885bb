-- A small, deterministic sample so the demo has data to gate on.
INSERT INTO users (user_id, country, signup_at, age_bucket) VALUES
    (1, 'DE', '2026-01-03 10:00:00', '25-34'),
    (2, 'FR', '2026-01-05 11:30:00', '35-44'),
    (3, 'US', '2026-02-01 09:15:00', '18-24'),
    (4, 'US', '2026-02-11 18:40:00', NULL),
    (5, 'BR', '2026-03-07 07:05:00', '45-54'),
    (6, 'IN', '2026-03-19 21:20:00', '25-34');

INSERT INTO items (item_id, category, price_cents, created_at) VALUES
    (10, 'books',       1299, '2025-12-01 00:00:00'),
    (11, 'books',        899, '2025-12-02 00:00:00'),
    (12, 'electronics', 4999, '2025-12-10 00:00:00'),
    (13, 'garden',      2450, '2026-01-15 00:00:00');

INSERT INTO interactions (interaction_id, user_id, item_id, kind, occurred_at) VALUES
    (100, 1, 10, 'view',     '2026-04-01 10:00:00'),
    (101, 1, 10, 'purchase', '2026-04-01 10:05:00'),
    (102, 2, 12, 'click',    '2026-04-02 12:00:00'),
    (103, 3, 11, 'view',     '2026-04-03 08:00:00'),
    (104, 3, 13, 'click',    '2026-04-03 08:02:00'),
    (105, 4, 12, 'purchase', '2026-04-04 19:00:00'),
    (106, 5, 10, 'view',     '2026-04-05 07:30:00'),
    (107, 6, 13, 'purchase', '2026-04-06 22:10:00');
