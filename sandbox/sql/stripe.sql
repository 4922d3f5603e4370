-- Storage of the local Stripe sandbox (PostgreSQL, database "sandbox", schema "stripe").
-- Objects are kept relational and rendered to Stripe's JSON shape on request, so the
-- generator can bulk-load them with COPY. Lists page by (created, id), hence those indexes.
-- Timestamps are integer epoch seconds, as in Stripe's API.

create schema stripe;

create table stripe.customers (
    id          text primary key,            -- cus_...
    created     bigint not null,
    email       text not null,
    name        text not null,
    country     char(2) not null,
    shop_customer_id bigint not null,        -- metadata.shop_customer_id
    updated     bigint not null               -- last change, drives customer.updated events
);

create table stripe.charges (
    id                  text primary key,    -- ch_...
    created             bigint not null,
    amount              bigint not null,
    amount_captured     bigint not null,
    amount_refunded     bigint not null,
    currency            text not null,       -- lower case, as Stripe sends it
    customer            text references stripe.customers (id),
    status              text not null check (status in ('succeeded', 'failed')),
    failure_code        text,
    failure_message     text,
    balance_transaction text,                -- txn_... (null for failed charges)
    payment_intent      text not null,       -- pi_...
    disputed            boolean not null default false,
    shop_order_id       bigint not null,     -- metadata.order_id
    card_brand          text not null,
    card_last4          text not null,
    card_country        char(2) not null,
    updated             bigint not null
);

create table stripe.refunds (
    id                  text primary key,    -- re_...
    created             bigint not null,
    charge              text not null references stripe.charges (id),
    amount              bigint not null,
    currency            text not null,
    reason              text,                -- requested_by_customer | duplicate | fraudulent
    status              text not null,
    balance_transaction text not null,
    updated             bigint not null
);

create table stripe.disputes (
    id                  text primary key,    -- dp_...
    created             bigint not null,
    charge              text not null references stripe.charges (id),
    amount              bigint not null,
    currency            text not null,
    reason              text not null,       -- fraudulent | product_not_received | ...
    status              text not null,       -- needs_response | under_review | won | lost
    evidence_due_by     bigint not null,
    balance_transaction text,                -- the withdrawal (txn_...); reinstatement when won
    updated             bigint not null
);

create table stripe.balance_transactions (
    id                  text primary key,    -- txn_...
    created             bigint not null,
    amount              bigint not null,
    fee                 bigint not null,
    net                 bigint not null,
    currency            text not null,
    type                text not null,       -- charge | refund | adjustment
    reporting_category  text not null,       -- charge | refund | dispute | dispute_reversal
    source              text not null,       -- ch_ / re_ / dp_ id
    available_on        bigint not null,
    status              text not null
);

-- Changes to mutable objects (charges, disputes, customers), newest first on /v1/events.
-- data.object is rendered from the object's current state.
create table stripe.events (
    id           text primary key,           -- evt_...
    created      bigint not null,
    type         text not null,              -- charge.succeeded, charge.refunded, charge.dispute.created, ...
    object_type  text not null,              -- charge | dispute | customer | refund
    object_id    text not null
);

create index on stripe.customers (created desc, id desc);
create index on stripe.charges (created desc, id desc);
create index on stripe.refunds (created desc, id desc);
create index on stripe.refunds (charge);
create index on stripe.disputes (created desc, id desc);
create index on stripe.disputes (charge);
create index on stripe.balance_transactions (created desc, id desc);
create index on stripe.events (created desc, id desc);
create index on stripe.events (type, created desc);
