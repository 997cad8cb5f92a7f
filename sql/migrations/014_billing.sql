-- 014_billing.sql — what an organizer pays for (issue 11).
--
-- organizers.subscription_tier (001) is the tier the organizer has bought
-- or was given by an admin; billing_status is the Stripe subscription's
-- status as last fetched (or 'none': no Stripe subscription, the admin's
-- tier stands).  The tier in force is confhaven._organizer_tier(id)
-- (sql/functions/85_organizers.sql): every organizer operation asks it,
-- never the column.  stripe_events de-duplicates webhook deliveries by the
-- event's id.

ALTER TABLE confhaven.organizers
    ADD COLUMN IF NOT EXISTS billing_status text NOT NULL DEFAULT 'none'
        CHECK (billing_status IN ('none', 'incomplete', 'incomplete_expired',
                                  'trialing', 'active', 'past_due',
                                  'canceled', 'unpaid', 'paused')),
    ADD COLUMN IF NOT EXISTS stripe_subscription_id text UNIQUE,
    ADD COLUMN IF NOT EXISTS current_period_end timestamptz,
    ADD COLUMN IF NOT EXISTS cancel_at_period_end boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS grace_until timestamptz,
    ADD COLUMN IF NOT EXISTS billing_updated_at timestamptz;

CREATE TABLE IF NOT EXISTS confhaven.stripe_events (
    id            text PRIMARY KEY CHECK (length(id) <= 255),
    type          text NOT NULL CHECK (length(type) <= 100),
    created       timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    organizer_id  bigint REFERENCES confhaven.organizers (id) ON DELETE SET NULL,
    outcome       text CHECK (length(outcome) <= 500)
);
CREATE INDEX IF NOT EXISTS stripe_events_received_idx
    ON confhaven.stripe_events (received_at);
