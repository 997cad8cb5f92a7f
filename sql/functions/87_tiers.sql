-- 87_tiers.sql — what each tier allows, enforced (issue 11).  The limits
-- are the rows of confhaven.tiers (sql/migrations/016_tiers.sql); the tier
-- an organizer is on is confhaven._organizer_tier() (85_organizers.sql).
-- A request beyond the tier raises CH403 with a message that names the
-- cheapest tier that allows it, and DETAIL 'tier=<tier>;required_tier=
-- <tier or empty>' that the front ends turn into the answer's "tier" and
-- "required_tier" (ngx_http_confhaven_op_classify()).  Operations:
-- ngx_http_confhaven_op_organizer.c, ngx_http_confhaven_op_import.c.

-- does a tier allow this much of a feature?
CREATE OR REPLACE FUNCTION confhaven._tier_allows(t confhaven.tiers, feature text,
                                                  amount integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE
AS $$
    SELECT coalesce(CASE feature
             WHEN 'conferences' THEN t.conferences IS NULL OR amount <= t.conferences
             WHEN 'analytics_days' THEN amount <= t.analytics_days
             WHEN 'csv_export' THEN t.csv_export
             WHEN 'evaluation_review' THEN t.evaluation_review
             WHEN 'api_keys' THEN amount <= t.api_keys
             WHEN 'schedule_import' THEN t.schedule_import
           END, false);
$$;

-- nothing, or CH403 naming the cheapest tier that allows "amount" of the
-- feature (conferences and api_keys: the count after the operation;
-- analytics_days: the window asked for; the others take NULL)
CREATE OR REPLACE FUNCTION confhaven._tier_check(org bigint, feature text,
                                                 amount integer)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tier text := coalesce(confhaven._organizer_tier(org), 'free');
    v_have confhaven.tiers;
    v_need text;
    v_what text;
    v_allows text;
BEGIN
    SELECT * INTO v_have FROM confhaven.tiers WHERE tier = v_tier;
    IF confhaven._tier_allows(v_have, feature, amount) THEN
        RETURN;
    END IF;
    SELECT t.tier INTO v_need FROM confhaven.tiers t
     WHERE confhaven._tier_allows(t, feature, amount)
     ORDER BY t.rank LIMIT 1;

    CASE feature
    WHEN 'conferences' THEN
        v_what := format('owning %s conferences', amount);
        v_allows := format('allows %s conference%s per organizer', v_have.conferences,
                           CASE WHEN v_have.conferences = 1 THEN '' ELSE 's' END);
    WHEN 'analytics_days' THEN
        v_what := format('an analytics window of %s days', amount);
        v_allows := format('keeps analytics for the last %s days', v_have.analytics_days);
    WHEN 'csv_export' THEN
        v_what := 'CSV export of analytics';
        v_allows := 'has JSON analytics only';
    WHEN 'evaluation_review' THEN
        v_what := 'reviewing evaluation records (approve, reject, label)';
        v_allows := 'can list them but not review them';
    WHEN 'api_keys' THEN
        v_what := format('%s active API keys', amount);
        v_allows := format('allows %s active key%s', v_have.api_keys,
                           CASE WHEN v_have.api_keys = 1 THEN '' ELSE 's' END);
    ELSE
        v_what := 'importing schedules';
        v_allows := 'does not';
    END CASE;

    IF v_need IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CH403',
            MESSAGE = format('%s is beyond every tier: the %s tier %s', v_what, v_tier, v_allows),
            DETAIL = format('tier=%s;required_tier=', v_tier),
            HINT = CASE feature WHEN 'api_keys'
                        THEN 'revoke a key first (an operator: DELETE /api/admin/organizers/{id}/keys/{prefix})'
                        ELSE 'GET /api/organizer shows your tier''s limits and usage' END;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'CH403',
        MESSAGE = format('%s needs the %s tier: the %s tier %s', v_what, v_need, v_tier, v_allows),
        DETAIL = format('tier=%s;required_tier=%s', v_tier, v_need),
        HINT = format('upgrade to %s (POST /api/organizer/billing/checkout) or ask the operator%s; '
                      'GET /api/organizer shows your tier''s limits and usage', v_need,
                      CASE feature WHEN 'api_keys' THEN ', or revoke a key first'
                                   WHEN 'conferences' THEN ', or use a conference you already own'
                                   ELSE '' END);
END
$$;

-- an organizer's count of what a tier limits, while holding its row: two
-- requests of one organizer cannot both take the last free place
CREATE OR REPLACE FUNCTION confhaven._tier_usage(org bigint, feature text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM 1 FROM confhaven.organizers WHERE id = org FOR UPDATE;
    IF feature = 'conferences' THEN
        RETURN (SELECT count(*) FROM confhaven.conference_organizers
                 WHERE organizer_id = org);
    END IF;
    RETURN (SELECT count(*) FROM confhaven.api_keys
             WHERE organizer_id = org AND revoked_at IS NULL);
END
$$;

-- POST /api/organizer/conferences/{slug}/import: the admin import
-- (confhaven.import_schedule) for a conference the organizer owns, or a new
-- slug, which is then created and linked to the organizer (one more
-- conference against its tier).  A slug that exists and is not the
-- organizer's is taken, whoever owns it.
-- A slug as name lookups read it (_find_conference's compact key): no
-- punctuation, "2026" as "26".
CREATE OR REPLACE FUNCTION confhaven._slug_compact(slug text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT regexp_replace(regexp_replace(lower(slug), '(?<![0-9])20([0-9]{2})(?![0-9])', '\1', 'g'),
                          '[^a-z0-9]+', '', 'g');
$$;

CREATE OR REPLACE FUNCTION confhaven.organizer_import(cred text, slug text, name text,
                                                      timezone text, location text,
                                                      website text, body text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org  bigint := confhaven._organizer(cred);
    v_slug text := btrim(slug);
    v_conf bigint;
    v_r    json;
BEGIN
    PERFORM confhaven._tier_check(v_org, 'schedule_import', NULL);
    -- one import of a given slug at a time: a new slug is created once
    PERFORM pg_advisory_xact_lock(hashtext('confhaven organizer_import ' || v_slug));

    SELECT c.id INTO v_conf FROM confhaven.conferences c WHERE c.slug = v_slug;
    IF v_conf IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM confhaven.conference_organizers
                        WHERE organizer_id = v_org AND conference_id = v_conf) THEN
            RAISE EXCEPTION USING ERRCODE = 'CH409',
                MESSAGE = format('slug taken: the conference "%s" exists and is not yours', left(v_slug, 63)),
                HINT = 'choose another slug for a new conference; if this conference is yours, ask the operator to link it (POST /api/admin/organizers/{id}/conferences/{slug})';
        END IF;
    ELSE
        -- a new slug must not read as an existing conference's: names are
        -- looked up without punctuation and "20" of a year (_find_conference),
        -- and a look-alike would make another's name lookups ambiguous
        SELECT c.id INTO v_conf FROM confhaven.conferences c
         WHERE confhaven._slug_compact(c.slug) = confhaven._slug_compact(v_slug)
         LIMIT 1;
        IF v_conf IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'CH409',
                MESSAGE = format('slug taken: "%s" reads as the existing conference "%s"', left(v_slug, 63),
                                 (SELECT c.slug FROM confhaven.conferences c WHERE c.id = v_conf)),
                HINT = 'choose a slug that differs in more than punctuation or the "20" of a year';
        END IF;
        PERFORM confhaven._tier_check(v_org, 'conferences',
                                      confhaven._tier_usage(v_org, 'conferences') + 1);
    END IF;

    v_r := confhaven.import_schedule(v_slug, name, timezone, location, website, body);

    IF v_conf IS NULL THEN
        INSERT INTO confhaven.conference_organizers (organizer_id, conference_id)
        SELECT v_org, c.id FROM confhaven.conferences c WHERE c.slug = v_slug
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN v_r;
END
$$;

-- POST /api/admin/organizers/{id}/tier?tier=: the tier an operator gives
-- (what Stripe would otherwise set); in force at once, through
-- confhaven._organizer_tier() like every tier
CREATE OR REPLACE FUNCTION confhaven.admin_set_tier(org bigint, tier text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM confhaven._admin_organizer(org);
    IF tier IS NULL OR NOT EXISTS (SELECT 1 FROM confhaven.tiers t WHERE t.tier = admin_set_tier.tier) THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = format('unknown tier "%s"', left(coalesce(tier, ''), 40)),
            HINT = 'tiers are free, pro and enterprise, e.g. ?tier=pro';
    END IF;
    UPDATE confhaven.organizers o SET subscription_tier = admin_set_tier.tier
     WHERE o.id = org;
    RETURN confhaven._organizer_json(org);
END
$$;
