-- 016_tiers.sql — what each subscription tier allows (issue 11).
--
-- The one tier table: every check (sql/functions/87_tiers.sql) and the
-- "limits" of GET /api/organizer read it, and README "Tiers" says why each
-- value is what it is.  The tier an organizer is on is
-- confhaven._organizer_tier(id), never organizers.subscription_tier.
-- A limit changes with a new migration that updates this table.

CREATE TABLE IF NOT EXISTS confhaven.tiers (
    tier               text PRIMARY KEY
                           CHECK (tier IN ('free', 'pro', 'enterprise')),
    rank               smallint NOT NULL UNIQUE,   -- cheapest first
    conferences        integer CHECK (conferences > 0),  -- NULL: no limit
    analytics_days     integer NOT NULL CHECK (analytics_days > 0),
    csv_export         boolean NOT NULL,
    evaluation_review  boolean NOT NULL,  -- approve/reject/label; any tier lists
    api_keys           integer NOT NULL CHECK (api_keys > 0),  -- not revoked
    schedule_import    boolean NOT NULL   -- POST /api/organizer/conferences/{slug}/import
);

INSERT INTO confhaven.tiers (tier, rank, conferences, analytics_days, csv_export,
                             evaluation_review, api_keys, schedule_import)
VALUES ('free',       1, 1,    30,  false, false,  2, true),
       ('pro',        2, 10,   365, true,  true,  10, true),
       ('enterprise', 3, NULL, 730, true,  true,  50, true)
ON CONFLICT (tier) DO NOTHING;
