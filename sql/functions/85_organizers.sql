-- 85_organizers.sql — organizers and API keys, the events the front ends
-- record and their daily rollups, analytics, and evaluation records
-- (issue 10).  Operations: ngx_http_confhaven_op_organizer.c; the event
-- buffer: ngx_http_confhaven_events.c.
--
-- A key is 'chk_' || prefix (12 hex) || '_' || secret (48 hex), shown
-- once.  nginx never sends it here: it sends the credential
-- 'prefix:sha256-of-the-key-in-hex' (or '-' for something that is not a
-- key), and the row found by its prefix must have that hash.  Every
-- refusal is the same CH401, whatever was wrong.

CREATE OR REPLACE FUNCTION confhaven._organizer(cred text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_key confhaven.api_keys;
BEGIN
    IF cred IS NOT NULL AND cred ~ '^[0-9a-f]{12}:[0-9a-f]{64}$' THEN
        SELECT * INTO v_key FROM confhaven.api_keys
         WHERE prefix = split_part(cred, ':', 1);
    END IF;
    IF v_key.id IS NULL OR v_key.revoked_at IS NOT NULL
       OR v_key.key_hash <> decode(split_part(cred, ':', 2), 'hex')
    THEN
        RAISE EXCEPTION USING ERRCODE = 'CH401',
            MESSAGE = 'the API key is missing, unknown or revoked',
            HINT = 'send your organizer key as "X-API-Key: chk_..." or "Authorization: Bearer chk_..."; an operator issues keys (POST /api/admin/organizers/{id}/keys)';
    END IF;
    -- at most one write a minute per key
    IF v_key.last_used_at IS NULL OR v_key.last_used_at < now() - interval '1 minute' THEN
        UPDATE confhaven.api_keys SET last_used_at = now() WHERE id = v_key.id;
    END IF;
    RETURN v_key.organizer_id;
END
$$;

-- the conference (slug, name or id) if the organizer owns it; one answer
-- for "not yours" and "does not exist"
CREATE OR REPLACE FUNCTION confhaven._organizer_conference(org bigint, conf text)
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF conf IS NULL OR btrim(conf) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = 'a conference is required',
            HINT = 'GET /api/organizer lists the conferences your key can see';
    END IF;
    IF conf ~ '^[0-9]{1,18}$' THEN
        v_id := conf::bigint;
    ELSE
        v_id := confhaven._find_conference(conf);
    END IF;
    IF v_id IS NULL OR NOT EXISTS (
           SELECT 1 FROM confhaven.conference_organizers
            WHERE organizer_id = org AND conference_id = v_id)
    THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('no conference "%s" among your conferences', left(conf, 100)),
            HINT = 'GET /api/organizer lists the conferences your key can see';
    END IF;
    RETURN v_id;
END
$$;

CREATE OR REPLACE FUNCTION confhaven._new_key(org bigint, label text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_prefix text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 12);
    v_secret text := replace(gen_random_uuid()::text, '-', '')
                     || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16);
    v_key    text;
    v_row    confhaven.api_keys;
BEGIN
    v_key := 'chk_' || v_prefix || '_' || v_secret;
    INSERT INTO confhaven.api_keys (organizer_id, prefix, key_hash, label)
    VALUES (org, v_prefix, sha256(convert_to(v_key, 'UTF8')), left(label, 200))
    RETURNING * INTO v_row;
    RETURN json_build_object(
        'organizer_id', org,
        'key', v_key,
        'prefix', v_row.prefix,
        'label', v_row.label,
        'created_at', v_row.created_at,
        'note', 'Store this key now: it is shown only once.');
END
$$;

-- The tier in force: what the organizer bought (or an admin gave, with no
-- Stripe subscription), while the subscription is in good standing; during
-- a failed payment's grace period still that tier; 'free' otherwise.
CREATE OR REPLACE FUNCTION confhaven._organizer_tier(org bigint)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
             WHEN o.billing_status IN ('none', 'active', 'trialing')
                 THEN o.subscription_tier
             WHEN o.billing_status = 'past_due'
                  AND (o.grace_until IS NULL OR o.grace_until > now())
                 THEN o.subscription_tier
             ELSE 'free'
           END
      FROM confhaven.organizers o
     WHERE o.id = org;
$$;

CREATE OR REPLACE FUNCTION confhaven._organizer_json(org bigint)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', o.id,
        'name', o.name,
        'tier', confhaven._organizer_tier(o.id),
        'created_at', o.created_at,
        'billing', json_build_object(
            'tier', confhaven._organizer_tier(o.id),
            'status', o.billing_status,
            'current_period_end', o.current_period_end,
            'cancel_at_period_end', o.cancel_at_period_end,
            'grace_until', o.grace_until),
        'conferences', coalesce((
            SELECT json_agg(json_build_object('id', c.id, 'slug', c.slug,
                                              'name', c.name) ORDER BY c.slug)
              FROM confhaven.conference_organizers oc
              JOIN confhaven.conferences c ON c.id = oc.conference_id
             WHERE oc.organizer_id = o.id), '[]'::json),
        'keys', coalesce((
            SELECT json_agg(json_build_object('prefix', k.prefix,
                                              'label', k.label,
                                              'created_at', k.created_at,
                                              'last_used_at', k.last_used_at,
                                              'revoked_at', k.revoked_at)
                            ORDER BY k.id)
              FROM confhaven.api_keys k
             WHERE k.organizer_id = o.id), '[]'::json),
        -- the tier's limits (confhaven.tiers, 87_tiers.sql) and their use
        'limits', (SELECT json_build_object('conferences', t.conferences,
                                            'analytics_days', t.analytics_days,
                                            'csv_export', t.csv_export,
                                            'evaluation_review', t.evaluation_review,
                                            'api_keys', t.api_keys,
                                            'schedule_import', t.schedule_import)
                     FROM confhaven.tiers t
                    WHERE t.tier = confhaven._organizer_tier(o.id)),
        'usage', json_build_object(
            'conferences', (SELECT count(*) FROM confhaven.conference_organizers oc
                             WHERE oc.organizer_id = o.id),
            'api_keys', (SELECT count(*) FROM confhaven.api_keys k
                          WHERE k.organizer_id = o.id AND k.revoked_at IS NULL)))
      FROM confhaven.organizers o
     WHERE o.id = org;
$$;

-- ---------------------------------------------------------------- admin

CREATE OR REPLACE FUNCTION confhaven.admin_create_organizer(name text, tier text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = 'an organizer needs a name',
            HINT = 'POST /api/admin/organizers?name=...';
    END IF;
    IF coalesce(tier, 'free') NOT IN ('free', 'pro', 'enterprise') THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = format('unknown tier "%s"', left(tier, 40)),
            HINT = 'tiers are free, pro and enterprise';
    END IF;
    INSERT INTO confhaven.organizers (name, subscription_tier)
    VALUES (left(btrim(name), 200), coalesce(tier, 'free'))
    RETURNING id INTO v_id;
    RETURN confhaven._organizer_json(v_id);
END
$$;

CREATE OR REPLACE FUNCTION confhaven._admin_organizer(org bigint)
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM confhaven.organizers WHERE id = org) THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('no organizer with id %s', org),
            HINT = 'POST /api/admin/organizers?name=... creates one';
    END IF;
    RETURN org;
END
$$;

CREATE OR REPLACE FUNCTION confhaven.admin_link_conference(org bigint, conf text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_conf bigint;
BEGIN
    PERFORM confhaven._admin_organizer(org);
    SELECT id INTO v_conf FROM confhaven.conferences WHERE slug = lower(conf);
    IF v_conf IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('no conference "%s"', left(conf, 100)),
            HINT = confhaven._slug_hint(conf);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM confhaven.conference_organizers
                    WHERE organizer_id = org AND conference_id = v_conf) THEN
        PERFORM confhaven._tier_check(org, 'conferences',
                                      confhaven._tier_usage(org, 'conferences') + 1);
    END IF;
    INSERT INTO confhaven.conference_organizers (organizer_id, conference_id)
    VALUES (org, v_conf) ON CONFLICT DO NOTHING;
    RETURN confhaven._organizer_json(org);
END
$$;

CREATE OR REPLACE FUNCTION confhaven.admin_issue_key(org bigint, label text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM confhaven._admin_organizer(org);
    PERFORM confhaven._tier_check(org, 'api_keys',
                                  confhaven._tier_usage(org, 'api_keys') + 1);
    RETURN confhaven._new_key(org, label);
END
$$;

CREATE OR REPLACE FUNCTION confhaven.admin_revoke_key(org bigint, key_prefix text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM confhaven._admin_organizer(org);
    UPDATE confhaven.api_keys SET revoked_at = coalesce(revoked_at, now())
     WHERE organizer_id = org AND prefix = key_prefix;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('organizer %s has no key with prefix "%s"', org, left(key_prefix, 40)),
            HINT = 'the prefix is the 12 hex digits after "chk_"';
    END IF;
    RETURN confhaven._organizer_json(org);
END
$$;

-- ------------------------------------------------------------ organizer

CREATE OR REPLACE FUNCTION confhaven.organizer_whoami(cred text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org bigint := confhaven._organizer(cred);
BEGIN
    -- a statement of its own: it sees last_used_at just written
    RETURN confhaven._organizer_json(v_org);
END
$$;

-- a new key; the key that asked is revoked
CREATE OR REPLACE FUNCTION confhaven.organizer_rotate_key(cred text, label text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org bigint := confhaven._organizer(cred);
    v_new json;
BEGIN
    -- the asking key goes: as many keys after as before
    PERFORM confhaven._tier_check(v_org, 'api_keys',
                                  confhaven._tier_usage(v_org, 'api_keys'));
    v_new := confhaven._new_key(v_org, coalesce(label,
                 (SELECT k.label FROM confhaven.api_keys k
                   WHERE k.prefix = split_part(cred, ':', 1))));
    UPDATE confhaven.api_keys SET revoked_at = now()
     WHERE prefix = split_part(cred, ':', 1);
    RETURN (v_new::jsonb || jsonb_build_object('revoked', split_part(cred, ':', 1)))::json;
END
$$;

-- ----------------------------------------------------------------- events

-- the conferences an event belongs to: the one it named, the session's,
-- or those of the sessions it found; NULL when none
CREATE OR REPLACE FUNCTION confhaven._event_conferences(conf text, sid bigint, ids bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF conf IS NOT NULL AND conf <> '' THEN
        v_id := confhaven._find_conference(conf);
    ELSIF sid IS NOT NULL THEN
        SELECT conference_id INTO v_id FROM confhaven.sessions WHERE id = sid;
    ELSIF ids IS NOT NULL AND cardinality(ids) > 0 THEN
        RETURN QUERY SELECT DISTINCT s.conference_id FROM confhaven.sessions s
                      WHERE s.id = ANY(ids);
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    RETURN NEXT v_id;
END
$$;

CREATE OR REPLACE FUNCTION confhaven._mask_email(t text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT regexp_replace(t, '[^\s@"<>,;:()]+@[^\s@"<>,;:()]+\.[A-Za-z]{2,}', '[email]', 'g');
$$;

CREATE OR REPLACE FUNCTION confhaven._latency_bucket(ms integer)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT lpad(coalesce((SELECT b FROM unnest(ARRAY[1, 2, 5, 10, 20, 50, 100, 200, 500,
                                                    1000, 2000, 5000, 10000, 20000]) b
                           WHERE ms <= b ORDER BY b LIMIT 1), 99999)::text, 5, '0');
$$;

-- the daily counts of some events (by id)
CREATE OR REPLACE FUNCTION confhaven.rollup_events(ids bigint[])
RETURNS void
LANGUAGE sql VOLATILE
AS $$
    INSERT INTO confhaven.event_daily AS d (conference_id, day, dim, key, n)
    SELECT e.conference_id, (e.at AT TIME ZONE 'UTC')::date, f.dim, f.key, count(*)
      FROM confhaven.events e
      LEFT JOIN confhaven.sessions s ON s.id = e.session_id
      LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id
      LEFT JOIN confhaven.conferences c ON c.id = s.conference_id
     CROSS JOIN LATERAL (
        SELECT 'searches' AS dim, '' AS key WHERE e.kind = 'search'
        UNION ALL SELECT 'query', lower(e.query) WHERE e.kind = 'search' AND e.query IS NOT NULL
        UNION ALL SELECT 'zero', lower(e.query) WHERE e.kind = 'search' AND e.result_count = 0
                                                  AND e.query IS NOT NULL
        UNION ALL SELECT 'zero_searches', '' WHERE e.kind = 'search' AND e.result_count = 0
        UNION ALL SELECT 'views', '' WHERE e.kind = 'view'
        UNION ALL SELECT 'invites', '' WHERE e.kind = 'invite'
        UNION ALL SELECT 'viewed', e.session_id::text WHERE e.kind = 'view'
        UNION ALL SELECT 'invited', e.session_id::text WHERE e.kind = 'invite'
        UNION ALL SELECT 'found', fs.id::text
                    FROM unnest(e.found) AS u(x)
                    JOIN confhaven.sessions fs ON fs.id = u.x
                   WHERE e.kind = 'search' AND fs.conference_id = e.conference_id
        UNION ALL SELECT 'track', coalesce(tr.name, '(none)') WHERE e.kind IN ('view', 'invite') AND s.id IS NOT NULL
        UNION ALL SELECT 'level', coalesce(s.level, '(none)') WHERE e.kind IN ('view', 'invite') AND s.id IS NOT NULL
        UNION ALL SELECT 'session_day', coalesce(to_char((s.start_at AT TIME ZONE c.timezone)::date, 'YYYY-MM-DD'), '(none)')
                   WHERE e.kind IN ('view', 'invite') AND s.id IS NOT NULL
        UNION ALL SELECT 'client', coalesce(e.client, 'other')
        UNION ALL SELECT 'wire', coalesce(e.wire, 'rest')
        UNION ALL SELECT 'cache_hits', '' WHERE e.cache_hit
        UNION ALL SELECT 'latency', confhaven._latency_bucket(e.latency_ms)
                   WHERE e.latency_ms IS NOT NULL AND e.kind IN ('search', 'view')
     ) f
     WHERE e.id = ANY(ids) AND e.conference_id IS NOT NULL
     GROUP BY 1, 2, 3, 4
    ON CONFLICT (conference_id, dim, day, key) DO UPDATE SET n = d.n + excluded.n;
$$;

-- every rollup again, from the events kept (after a bulk load)
CREATE OR REPLACE FUNCTION confhaven.rebuild_rollups()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_from bigint := 0;
    v_max  bigint;
    v_step bigint := 200000;
BEGIN
    TRUNCATE confhaven.event_daily;
    SELECT coalesce(max(id), 0) INTO v_max FROM confhaven.events;
    WHILE v_from < v_max LOOP
        PERFORM confhaven.rollup_events(ARRAY(SELECT id FROM confhaven.events
                                               WHERE id > v_from AND id <= v_from + v_step));
        v_from := v_from + v_step;
    END LOOP;
    RETURN (SELECT count(*) FROM confhaven.event_daily);
END
$$;

-- a batch from one nginx worker: a JSON array of events (see
-- ngx_http_confhaven_events.c); returns how many were stored
CREATE OR REPLACE FUNCTION confhaven.record_events(batch json)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_ids bigint[];
    v_n   integer;
BEGIN
    WITH raw AS (
        SELECT to_timestamp((e->>'t')::bigint / 1000.0) AS at,
               e->>'k' AS kind,
               nullif(e->>'c', '') AS conf,
               (e->>'s')::bigint AS sid,
               nullif(e->>'q', '') AS q,
               (e->>'n')::integer AS n,
               coalesce((e->>'h')::boolean, false) AS hit,
               e->>'w' AS wire,
               e->>'a' AS client,
               (e->>'l')::integer AS latency,
               ARRAY(SELECT x::bigint FROM json_array_elements_text(
                         CASE WHEN json_typeof(e->'f') = 'array' THEN e->'f' ELSE '[]' END) x) AS found
          FROM json_array_elements(batch) e
         WHERE e->>'k' IN ('search', 'view', 'invite')),
    ins AS (
        INSERT INTO confhaven.events (at, conference_id, kind, session_id, query,
                                      result_count, found, cache_hit, wire, client,
                                      latency_ms)
        SELECT r.at, cid, r.kind, r.sid, left(r.q, 500), r.n,
               CASE WHEN cardinality(r.found) > 0 THEN r.found END,
               r.hit, r.wire, r.client, r.latency
          FROM raw r, confhaven._event_conferences(r.conf, r.sid, r.found) cid
        RETURNING id)
    SELECT array_agg(id) INTO v_ids FROM ins;

    IF v_ids IS NOT NULL THEN
        PERFORM confhaven.rollup_events(v_ids);
    END IF;

    -- p: "name=value" lines (the key argument never among them)
    INSERT INTO confhaven.evaluation_data (created_at, conference_id, tool_name, user_query,
                                           tool_parameters, response_json, is_error, trace_id)
    SELECT to_timestamp((e->>'t')::bigint / 1000.0),
           (SELECT cid FROM confhaven._event_conferences(nullif(e->>'c', ''),
                                                         (e->>'s')::bigint, NULL) cid LIMIT 1),
           left(e->>'tool', 100),
           confhaven._mask_email(left(nullif(e->>'q', ''), 500)),
           (SELECT coalesce(jsonb_object_agg(split_part(l, '=', 1),
                                             confhaven._mask_email(substr(l, strpos(l, '=') + 1))),
                            '{}'::jsonb)
              FROM regexp_split_to_table(coalesce(e->>'p', ''), E'\n') l
             WHERE strpos(l, '=') > 1),
           jsonb_build_object('summary', confhaven._mask_email(e->>'r'),
                              'bytes', (e->>'rb')::bigint),
           coalesce((e->>'x')::boolean, false),
           left(e->>'trace', 64)
      FROM json_array_elements(batch) e
     WHERE e->>'tool' IS NOT NULL;

    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN coalesce(cardinality(v_ids), 0) + v_n;
END
$$;

-- ------------------------------------------------------------- analytics

CREATE OR REPLACE FUNCTION confhaven._csv(t text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN t IS NULL THEN ''
                WHEN t ~ '[",\r\n]' OR t ~ '^[=+@-]'
                THEN '"' || replace(CASE WHEN t ~ '^[=+@-]' THEN '''' || t ELSE t END, '"', '""') || '"'
                ELSE t END;
$$;

-- get_organizer_analytics: format 'json' (default) or 'csv'
CREATE OR REPLACE FUNCTION confhaven.organizer_analytics(cred text, conf text,
                                                         days integer, format text)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org  bigint := confhaven._organizer(cred);
    v_conf bigint;
    v_from date;
    v_to   date := (now() AT TIME ZONE 'UTC')::date;
    v_days integer := coalesce(days, 30);
    v_json json;
BEGIN
    v_conf := confhaven._organizer_conference(v_org, conf);
    IF v_days < 1 OR v_days > 730 THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = format('days must be from 1 to 730, not %s', v_days);
    END IF;
    IF format = 'csv' THEN
        PERFORM confhaven._tier_check(v_org, 'csv_export', NULL);
    END IF;
    PERFORM confhaven._tier_check(v_org, 'analytics_days', v_days);
    v_from := v_to - (v_days - 1);

    IF format = 'csv' THEN
        RETURN 'section,key,label,count' || E'\n' || coalesce((
            SELECT string_agg(concat_ws(',', confhaven._csv(sec), confhaven._csv(k),
                                        confhaven._csv(lbl), n::text), E'\n'
                              ORDER BY ord, sec, n DESC, k)
              FROM (
                SELECT 1 AS ord, CASE d.dim WHEN 'searches' THEN 'searches_per_day'
                                            WHEN 'views' THEN 'views_per_day'
                                            ELSE d.dim || '_per_day' END AS sec,
                       d.day::text AS k, NULL::text AS lbl, d.n
                  FROM confhaven.event_daily d
                 WHERE d.conference_id = v_conf AND d.day BETWEEN v_from AND v_to
                   AND d.dim IN ('searches', 'views', 'invites', 'zero_searches')
                UNION ALL
                SELECT 2, CASE a.dim WHEN 'query' THEN 'top_query'
                                     WHEN 'zero' THEN 'zero_result_query'
                                     WHEN 'viewed' THEN 'most_viewed'
                                     WHEN 'found' THEN 'most_found'
                                     WHEN 'invited' THEN 'most_invited'
                                     WHEN 'client' THEN 'assistant'
                                     ELSE a.dim END,
                       a.key, s.title, a.n
                  FROM (SELECT d.dim, d.key, sum(d.n)::bigint AS n
                          FROM confhaven.event_daily d
                         WHERE d.conference_id = v_conf AND d.day BETWEEN v_from AND v_to
                           AND d.dim IN ('query', 'zero', 'viewed', 'found', 'invited',
                                         'track', 'level', 'session_day', 'client', 'wire',
                                         'latency')
                         GROUP BY d.dim, d.key) a
                  LEFT JOIN confhaven.sessions s
                    ON s.id = CASE WHEN a.dim IN ('viewed', 'found', 'invited') THEN a.key::bigint END
              ) rows), '') || E'\n';
    END IF;

    WITH d AS (
        SELECT dim, day, key, n FROM confhaven.event_daily
         WHERE conference_id = v_conf AND day BETWEEN v_from AND v_to),
    agg AS (
        SELECT dim, key, sum(n)::bigint AS n FROM d GROUP BY dim, key),
    ranked AS (
        SELECT a.*, row_number() OVER (PARTITION BY dim ORDER BY n DESC, key) AS rk FROM agg a),
    lat AS (
        SELECT key::integer AS le, n, sum(n) OVER (ORDER BY key) AS cum, sum(n) OVER () AS total
          FROM agg WHERE dim = 'latency'),
    sess AS (
        SELECT r.dim, json_agg(json_build_object('session_id', r.key::bigint,
                                                 'title', s.title, 'count', r.n)
                               ORDER BY r.n DESC, r.key) AS list
          FROM ranked r
          LEFT JOIN confhaven.sessions s
            ON s.id = CASE WHEN r.dim IN ('viewed', 'found', 'invited') THEN r.key::bigint END
         WHERE r.dim IN ('viewed', 'found', 'invited') AND r.rk <= 20
         GROUP BY r.dim),
    lists AS (
        SELECT r.dim, json_agg(json_build_object(
                          CASE r.dim WHEN 'query' THEN 'query' WHEN 'zero' THEN 'query'
                                     WHEN 'client' THEN 'assistant' WHEN 'wire' THEN 'wire'
                                     WHEN 'track' THEN 'track' WHEN 'level' THEN 'level'
                                     ELSE 'day' END, r.key, 'count', r.n)
                      ORDER BY r.n DESC, r.key) AS list
          FROM ranked r
         WHERE r.dim IN ('query', 'zero', 'client', 'wire', 'track', 'level', 'session_day')
           AND r.rk <= 50
         GROUP BY r.dim),
    tot AS (
        SELECT coalesce(sum(n) FILTER (WHERE dim = 'searches'), 0) AS searches,
               coalesce(sum(n) FILTER (WHERE dim = 'zero_searches'), 0) AS zero,
               coalesce(sum(n) FILTER (WHERE dim = 'views'), 0) AS views,
               coalesce(sum(n) FILTER (WHERE dim = 'invites'), 0) AS invites,
               coalesce(sum(n) FILTER (WHERE dim = 'cache_hits'), 0) AS hits
          FROM agg)
    SELECT json_build_object(
        'conference', (SELECT json_build_object('id', c.id, 'slug', c.slug, 'name', c.name)
                         FROM confhaven.conferences c WHERE c.id = v_conf),
        'days', v_days,
        'from', v_from,
        'to', v_to,
        'totals', (SELECT json_build_object('searches', searches,
                                            'zero_result_searches', zero,
                                            'session_views', views,
                                            'invites', invites,
                                            'cache_hits', hits) FROM tot),
        'searches_per_day', (
            -- one pass over the window's daily totals, joined to its days
            SELECT coalesce(json_agg(json_build_object(
                       'day', g.day::date,
                       'searches', coalesce(p.s, 0),
                       'zero_result', coalesce(p.z, 0),
                       'session_views', coalesce(p.v, 0))
                     ORDER BY g.day), '[]'::json)
              FROM generate_series(v_from, v_to, interval '1 day') g(day)
              LEFT JOIN (SELECT d.day,
                                sum(d.n) FILTER (WHERE d.dim = 'searches') AS s,
                                sum(d.n) FILTER (WHERE d.dim = 'zero_searches') AS z,
                                sum(d.n) FILTER (WHERE d.dim = 'views') AS v
                           FROM d
                          WHERE d.key = ''
                            AND d.dim IN ('searches', 'zero_searches', 'views')
                          GROUP BY d.day) p
                ON p.day = g.day::date),
        'top_queries', coalesce((SELECT list FROM lists WHERE dim = 'query'), '[]'::json),
        'zero_result_queries', coalesce((SELECT list FROM lists WHERE dim = 'zero'), '[]'::json),
        'most_viewed', coalesce((SELECT list FROM sess WHERE dim = 'viewed'), '[]'::json),
        'most_found', coalesce((SELECT list FROM sess WHERE dim = 'found'), '[]'::json),
        'most_invited', coalesce((SELECT list FROM sess WHERE dim = 'invited'), '[]'::json),
        'interest', json_build_object(
            'by_track', coalesce((SELECT list FROM lists WHERE dim = 'track'), '[]'::json),
            'by_level', coalesce((SELECT list FROM lists WHERE dim = 'level'), '[]'::json),
            'by_day', coalesce((SELECT list FROM lists WHERE dim = 'session_day'), '[]'::json)),
        'assistants', coalesce((SELECT list FROM lists WHERE dim = 'client'), '[]'::json),
        'wires', coalesce((SELECT list FROM lists WHERE dim = 'wire'), '[]'::json),
        'latency_ms', (SELECT json_build_object(
                           'samples', coalesce(max(total), 0),
                           'p50', min(le) FILTER (WHERE cum >= total * 0.50),
                           'p90', min(le) FILTER (WHERE cum >= total * 0.90),
                           'p99', min(le) FILTER (WHERE cum >= total * 0.99),
                           'note', 'upper bounds of latency buckets (1, 2, 5, 10, 20, 50 ... ms); 99999: above 20 s')
                         FROM lat))
      INTO v_json;
    RETURN v_json::text;
END
$$;

-- ------------------------------------------------------------ evaluations

CREATE OR REPLACE FUNCTION confhaven.organizer_evaluations(cred text, conf text,
                                                           want text, lim integer)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_conf bigint := confhaven._organizer_conference(confhaven._organizer(cred), conf);
BEGIN
    IF want IS NOT NULL AND want NOT IN ('pending', 'approved', 'rejected') THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = format('unknown status "%s"', left(want, 40)),
            HINT = 'status is pending, approved or rejected';
    END IF;
    RETURN json_build_object('evaluations', coalesce((
        SELECT json_agg(json_build_object(
                   'id', e.id, 'created_at', e.created_at, 'tool_name', e.tool_name,
                   'user_query', e.user_query, 'tool_parameters', e.tool_parameters,
                   'response', e.response_json, 'is_error', e.is_error,
                   'trace_id', e.trace_id, 'status', e.status, 'label', e.human_label,
                   'judge_score', e.llm_judge_score, 'judge_note', e.judge_note,
                   'reviewed_at', e.reviewed_at) ORDER BY e.id DESC)
          FROM (SELECT * FROM confhaven.evaluation_data d
                 WHERE d.conference_id = v_conf
                   AND (want IS NULL OR d.status = want)
                 ORDER BY d.id DESC LIMIT coalesce(lim, 50)) e), '[]'::json));
END
$$;

CREATE OR REPLACE FUNCTION confhaven.organizer_review(cred text, eval_id bigint,
                                                      want text, lbl integer)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org bigint := confhaven._organizer(cred);
    v_row confhaven.evaluation_data;
BEGIN
    PERFORM confhaven._tier_check(v_org, 'evaluation_review', NULL);
    IF want IS NOT NULL AND want NOT IN ('pending', 'approved', 'rejected') THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = format('unknown status "%s"', left(want, 40)),
            HINT = 'status is pending, approved or rejected';
    END IF;
    IF want IS NULL AND lbl IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = 'give a status, a label or both',
            HINT = 'e.g. ?status=approved&label=4';
    END IF;
    UPDATE confhaven.evaluation_data e
       SET status = coalesce(want, e.status),
           human_label = coalesce(lbl::smallint, e.human_label),
           reviewed_at = now()
     WHERE e.id = eval_id
       AND e.conference_id IN (SELECT conference_id FROM confhaven.conference_organizers
                                WHERE organizer_id = v_org)
    RETURNING * INTO v_row;
    IF v_row.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('no evaluation record %s among your conferences', eval_id),
            HINT = 'GET /api/organizer/evaluations?conference=... lists them';
    END IF;
    RETURN json_build_object('id', v_row.id, 'status', v_row.status,
                             'label', v_row.human_label, 'reviewed_at', v_row.reviewed_at);
END
$$;

-- the automated judge's score (0..1) and note, by the operator's key
CREATE OR REPLACE FUNCTION confhaven.admin_judge(eval_id bigint, score text, note text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_score double precision;
BEGIN
    IF score IS NULL OR score !~ '^(0(\.[0-9]+)?|1(\.0+)?)$' THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = 'score must be a number from 0 to 1',
            HINT = 'e.g. ?score=0.85';
    END IF;
    v_score := score::double precision;
    UPDATE confhaven.evaluation_data SET llm_judge_score = v_score,
                                         judge_note = left(note, 2000)
     WHERE id = eval_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('no evaluation record %s', eval_id);
    END IF;
    RETURN json_build_object('id', eval_id, 'judge_score', v_score);
END
$$;

-- retention: evaluation records older than keep_seconds go
CREATE OR REPLACE FUNCTION confhaven.expire_evaluations(keep_seconds bigint)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM confhaven.evaluation_data
     WHERE created_at < now() - make_interval(secs => keep_seconds);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;
