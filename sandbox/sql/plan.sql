-- The generator's plan (PostgreSQL, database "sandbox", schema "plan"): the shop's clock and
-- the future of orders whose lifecycle is not over yet. `generate` decides an order's whole
-- lifecycle when the order is placed and applies what has happened by the clock; `simulate`
-- applies the planned events that fall between the clock and its target. Never extracted.
-- Planned times are integer epoch seconds; NULL means "does not happen".

create schema plan;

create table plan.clock (
    singleton               boolean primary key default true check (singleton),
    seed                    bigint not null,
    history_start           timestamptz not null,
    clock                   timestamptz not null,     -- everything up to here has happened
    orders_per_demand_hour  double precision not null, -- order rate where the demand curve is 1
    next_order_id           bigint not null,           -- the shop's serial ids continue here
    next_customer_id        bigint not null,
    next_order_item_id      bigint not null,
    next_order_status_id    bigint not null,
    next_payment_id         bigint not null
);

create table plan.orders (
    order_id           bigint primary key,
    customer_id        bigint not null,
    country_code       char(2) not null,
    total_cents        bigint not null,
    placed_at          bigint not null,
    attempt1_at        bigint,
    attempt2_at        bigint,
    attempt3_at        bigint,
    paid_at            bigint,
    cancelled_at       bigint,
    shipped_at         bigint,
    delivered_at       bigint,
    returned_at        bigint,
    refund_at          bigint,
    refund_cents       bigint not null,
    dispute_at         bigint,
    dispute_review_at  bigint,
    dispute_closed_at  bigint,
    dispute_won        boolean not null,
    purge_at           bigint,
    last_event_at      bigint not null   -- the row leaves the plan once the clock passes this
);

create index on plan.orders (last_event_at);
