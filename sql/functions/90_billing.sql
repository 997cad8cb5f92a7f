-- 90_billing.sql — Stripe billing of organizers (issue 11).
--
-- The Stripe calls and the webhook signature are the module's
-- (ops/ngx_http_confhaven_op_billing.c); these functions only read and
-- write the organizers' billing columns (migration 014).  The tier in
-- force is always confhaven._organizer_tier() (85_organizers.sql).
--
-- Webhooks: an event is recorded once in stripe_events (its id is the
-- key: a duplicate or replayed delivery changes nothing).  The state
-- applied is the subscription as fetched from Stripe when the event came
-- (GET /v1/subscriptions/{id}), stamped with the time of that answer: a
-- state older than the one already applied (billing_updated_at) is
-- recorded as "stale" and changes nothing, whatever order events arrive
-- in.

-- the organizer behind the key, ready to buy a tier through Checkout
CREATE OR REPLACE FUNCTION confhaven.billing_checkout_begin(cred text,
                                                            want text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org bigint := confhaven._organizer(cred);
    o confhaven.organizers;
    v_tier text;
BEGIN
    IF want IS NULL OR btrim(want) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = 'the tier to subscribe to is required',
            HINT = 'send {"tier": "pro"} or {"tier": "enterprise"}';
    END IF;
    IF want = 'free' THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = 'the free tier needs no checkout',
            HINT = 'to go back to free, cancel the subscription in the customer portal (POST /api/organizer/billing/portal)';
    END IF;
    IF want NOT IN ('pro', 'enterprise') THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = format('unknown tier "%s"', left(want, 40)),
            HINT = 'the tiers sold are pro and enterprise';
    END IF;
    SELECT * INTO o FROM confhaven.organizers WHERE id = v_org;
    v_tier := confhaven._organizer_tier(v_org);
    IF v_tier = want THEN
        RAISE EXCEPTION USING ERRCODE = 'CH409',
            MESSAGE = format('the %s tier is already in force', want),
            HINT = 'GET /api/organizer shows your billing; the customer portal (POST /api/organizer/billing/portal) changes or cancels it';
    END IF;
    IF o.stripe_subscription_id IS NOT NULL
       AND o.billing_status IN ('active', 'trialing', 'past_due')
    THEN
        RAISE EXCEPTION USING ERRCODE = 'CH409',
            MESSAGE = format('you already have a %s subscription (%s)',
                             o.subscription_tier, o.billing_status),
            HINT = 'change the plan in the customer portal (POST /api/organizer/billing/portal) instead of buying a second subscription';
    END IF;
    RETURN json_build_object('organizer_id', o.id,
                             'customer', o.stripe_customer_id,
                             'tier', want);
END
$$;

-- the organizer's Stripe customer, for a customer-portal session
CREATE OR REPLACE FUNCTION confhaven.billing_portal_begin(cred text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org bigint := confhaven._organizer(cred);
    v_customer text;
BEGIN
    SELECT stripe_customer_id INTO v_customer
      FROM confhaven.organizers WHERE id = v_org;
    IF v_customer IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CH409',
            MESSAGE = 'you have no Stripe customer yet: there is no billing to manage',
            HINT = 'subscribe first: POST /api/organizer/billing/checkout with {"tier": "pro"}';
    END IF;
    RETURN json_build_object('organizer_id', v_org, 'customer', v_customer);
END
$$;

CREATE OR REPLACE FUNCTION confhaven.billing_event_seen(event_id text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (SELECT 1 FROM confhaven.stripe_events WHERE id = event_id);
$$;

-- Retention of stripe_events: an id is needed only while Stripe may
-- deliver its event again (it retries for up to 3 days), so events
-- received more than keep_days ago go, at most batch of them a call
-- (rows another call is deleting are skipped).  Every newly recorded
-- event calls it: the table holds about keep_days of events, and a call
-- with nothing to delete is one probe of stripe_events_received_idx.
-- Returns how many were deleted.
CREATE OR REPLACE FUNCTION confhaven.billing_prune_events(
    keep_days integer DEFAULT 30, batch integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM confhaven.stripe_events
     WHERE id IN (SELECT id FROM confhaven.stripe_events
                   WHERE received_at < now() - keep_days * interval '1 day'
                   ORDER BY received_at
                   LIMIT greatest(batch, 0)
                   FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

-- an event that changes nothing (unknown type, no subscription found)
CREATE OR REPLACE FUNCTION confhaven.billing_record(event_id text,
    event_type text, event_created bigint, outcome text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    INSERT INTO confhaven.stripe_events (id, type, created, outcome)
    VALUES (left(event_id, 255), left(event_type, 100),
            to_timestamp(coalesce(event_created, 0)), left(outcome, 500))
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN json_build_object('outcome', 'duplicate');
    END IF;
    PERFORM confhaven.billing_prune_events();
    RETURN json_build_object('outcome', outcome);
END
$$;

-- an id in a Stripe object: a string, or an expanded object with "id"
CREATE OR REPLACE FUNCTION confhaven._stripe_id(v json)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE json_typeof(v)
             WHEN 'string' THEN v #>> '{}'
             WHEN 'object' THEN v ->> 'id'
           END;
$$;

-- Applies one webhook event: org_hint is our organizer id as the event
-- carries it (client_reference_id, metadata.organizer_id), customer the
-- Stripe customer, sub the subscription as fetched (NULL: none, the
-- event only links the customer), tier the tier of its price (NULL:
-- a price we do not sell), state_ms the time of that state (ms since the
-- epoch), grace_s the grace period of a failed payment.
CREATE OR REPLACE FUNCTION confhaven.billing_apply(event_id text,
    event_type text, event_created bigint, org_hint text, customer text,
    sub json, tier text, state_ms bigint, grace_s integer)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_org bigint;
    o confhaven.organizers;
    v_sub text := sub ->> 'id';
    v_status text := sub ->> 'status';
    v_customer text := coalesce(confhaven._stripe_id(sub -> 'customer'),
                                customer);
    v_at timestamptz := to_timestamp(state_ms / 1000.0);
    v_end text;
    v_outcome text;
BEGIN
    INSERT INTO confhaven.stripe_events (id, type, created)
    VALUES (left(event_id, 255), left(event_type, 100),
            to_timestamp(coalesce(event_created, 0)))
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN json_build_object('outcome', 'duplicate');
    END IF;
    PERFORM confhaven.billing_prune_events();

    IF org_hint ~ '^[0-9]{1,18}$' THEN
        SELECT id INTO v_org FROM confhaven.organizers
         WHERE id = org_hint::bigint;
    END IF;
    IF v_org IS NULL AND v_sub IS NOT NULL THEN
        SELECT id INTO v_org FROM confhaven.organizers
         WHERE stripe_subscription_id = v_sub;
    END IF;
    IF v_org IS NULL AND v_customer IS NOT NULL THEN
        SELECT id INTO v_org FROM confhaven.organizers
         WHERE stripe_customer_id = v_customer ORDER BY id LIMIT 1;
    END IF;

    IF v_org IS NULL THEN
        v_outcome := 'ignored: no organizer for this event';
    ELSE
        SELECT * INTO o FROM confhaven.organizers WHERE id = v_org FOR UPDATE;

        IF o.stripe_customer_id IS NULL AND v_customer IS NOT NULL THEN
            UPDATE confhaven.organizers SET stripe_customer_id = v_customer
             WHERE id = v_org;
        END IF;

        IF sub IS NULL OR v_sub IS NULL THEN
            v_outcome := 'linked the customer';

        ELSIF o.stripe_subscription_id IS NOT NULL
              AND o.stripe_subscription_id <> v_sub
              AND o.billing_status IN ('active', 'trialing', 'past_due')
              AND v_status NOT IN ('active', 'trialing', 'past_due')
        THEN
            v_outcome := format('ignored: subscription %s (%s) is not the '
                                'organizer''s current one (%s)', v_sub,
                                v_status, o.stripe_subscription_id);

        ELSIF o.billing_updated_at IS NOT NULL
              AND o.billing_updated_at > v_at
        THEN
            v_outcome := format('stale: a newer state (%s) is applied',
                                o.billing_updated_at);

        ELSE
            v_end := coalesce(sub #>> '{items,data,0,current_period_end}',
                              sub ->> 'current_period_end');

            UPDATE confhaven.organizers SET stripe_subscription_id = NULL
             WHERE stripe_subscription_id = v_sub AND id <> v_org;

            UPDATE confhaven.organizers SET
                stripe_customer_id = coalesce(v_customer, stripe_customer_id),
                stripe_subscription_id = v_sub,
                billing_status = v_status,
                subscription_tier = CASE
                    WHEN v_status IN ('active', 'trialing')
                         AND billing_apply.tier IS NOT NULL
                        THEN billing_apply.tier
                    WHEN v_status IN ('canceled', 'unpaid',
                                      'incomplete_expired', 'paused')
                        THEN 'free'
                    ELSE subscription_tier
                END,
                current_period_end = CASE WHEN v_end ~ '^[0-9]{1,12}$'
                                          THEN to_timestamp(v_end::bigint)
                                     END,
                cancel_at_period_end =
                    coalesce((sub ->> 'cancel_at_period_end')::boolean, false),
                grace_until = CASE
                    WHEN v_status = 'past_due'
                        THEN coalesce(grace_until,
                                      now() + grace_s * interval '1 second')
                END,
                billing_updated_at = v_at
             WHERE id = v_org;

            v_outcome := format('applied: %s %s%s', v_status,
                                coalesce(billing_apply.tier, 'an unknown price'),
                                CASE WHEN billing_apply.tier IS NULL
                                     THEN ' (tier unchanged)' ELSE '' END);
        END IF;
    END IF;

    UPDATE confhaven.stripe_events
       SET organizer_id = v_org, outcome = left(v_outcome, 500)
     WHERE id = left(event_id, 255);

    RETURN json_build_object('outcome', v_outcome,
                             'organizer_id', v_org,
                             'tier', CASE WHEN v_org IS NOT NULL
                                          THEN confhaven._organizer_tier(v_org)
                                     END);
END
$$;
