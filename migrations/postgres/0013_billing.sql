-- Billing, first part: the Stripe customer of each organisation, its subscriptions as Stripe
-- last showed them, the usage ledger (one row per ended call), the Stripe events applied, and
-- the state of each Stripe invoice. Stripe Billing is the ledger of charges; these rows are
-- what we need to decide entitlements, report usage once, and answer the API.

-- One Stripe customer per organisation, created once.
CREATE TABLE billing_customers (
    org_id              TEXT PRIMARY KEY REFERENCES organisations (id),
    stripe_customer_id  TEXT NOT NULL UNIQUE,
    created_at          TIMESTAMPTZ NOT NULL
);

-- Each subscription as last observed. `state_version` orders observations (microseconds since
-- the epoch of when Stripe's state was read back, or of the event that carried it): a write
-- with an older version than the row's changes nothing, so events that arrive late or twice
-- never take a subscription back to an older state.
CREATE TABLE billing_subscriptions (
    stripe_subscription_id  TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES organisations (id),
    stripe_customer_id      TEXT NOT NULL,
    -- Our plan's name, found from the subscription's prices; NULL when no configured plan has them.
    plan                    TEXT,
    status                  TEXT NOT NULL,
    current_period_start    TIMESTAMPTZ NOT NULL,
    current_period_end      TIMESTAMPTZ NOT NULL,
    trial_end               TIMESTAMPTZ,
    cancel_at_period_end    BOOLEAN NOT NULL,
    -- When the subscription stopped being live (canceled, unpaid, expired), as first observed.
    ended_at                TIMESTAMPTZ,
    state_version           BIGINT NOT NULL,
    first_seen_at           TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX billing_subscriptions_by_org ON billing_subscriptions (org_id, first_seen_at);

-- The usage ledger: one row per ended call, written with the call's end, reported to the
-- billing meter once (the meter event's identifier is the call id).
CREATE TABLE billing_usage (
    call_id           TEXT PRIMARY KEY REFERENCES calls (id),
    org_id            TEXT NOT NULL REFERENCES organisations (id),
    assistant_id      TEXT,
    ended_at          TIMESTAMPTZ NOT NULL,
    duration_secs     BIGINT NOT NULL CHECK (duration_secs >= 0),
    billable_minutes  BIGINT NOT NULL CHECK (billable_minutes >= 0),
    created_at        TIMESTAMPTZ NOT NULL,
    reported_at       TIMESTAMPTZ
);
CREATE INDEX billing_usage_by_org_period ON billing_usage (org_id, ended_at);
CREATE INDEX billing_usage_unreported ON billing_usage (created_at) WHERE reported_at IS NULL;

-- Stripe events applied by the billing job: an event id is applied once.
CREATE TABLE stripe_events_applied (
    stripe_event_id  TEXT PRIMARY KEY,
    event_type       TEXT NOT NULL,
    org_id           TEXT,
    outcome          TEXT NOT NULL,
    applied_at       TIMESTAMPTZ NOT NULL
);

-- Each Stripe invoice's state as last observed (same `state_version` rule as subscriptions).
CREATE TABLE stripe_invoices (
    stripe_invoice_id       TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES organisations (id),
    stripe_customer_id      TEXT NOT NULL,
    stripe_subscription_id  TEXT,
    number                  TEXT,
    status                  TEXT NOT NULL,
    currency                TEXT NOT NULL,
    subtotal                BIGINT NOT NULL,
    tax                     BIGINT NOT NULL,
    total                   BIGINT NOT NULL,
    finalized_at            TIMESTAMPTZ,
    paid_at                 TIMESTAMPTZ,
    -- The latest failed payment attempt reported by `invoice.payment_failed`.
    payment_failed_at       TIMESTAMPTZ,
    hosted_url              TEXT,
    state_version           BIGINT NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX stripe_invoices_by_org ON stripe_invoices (org_id, stripe_invoice_id);
