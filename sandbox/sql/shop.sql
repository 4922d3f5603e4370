-- The shop's OLTP schema (PostgreSQL, database "shop", schema "public").
-- This is the production system the platform extracts from; the sandbox only fills it.
-- Money is stored in minor units (cents) as bigint, timestamps as timestamptz.

create table countries (
    country_code  char(2) primary key,
    name          text not null,
    region        text not null,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

create table categories (
    category_id   integer primary key,
    name          text not null unique,
    department    text not null,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

create table products (
    product_id       integer primary key,
    sku              text not null unique,
    name             text not null,
    category_id      integer not null references categories (category_id),
    price_cents      bigint not null check (price_cents > 0),
    unit_cost_cents  bigint not null check (unit_cost_cents > 0),
    currency         char(3) not null default 'USD',
    is_active        boolean not null default true,
    created_at       timestamptz not null,
    updated_at       timestamptz not null
);

create table customers (
    customer_id         bigint primary key,
    email               text not null unique,
    first_name          text not null,
    last_name           text not null,
    country_code        char(2) not null references countries (country_code),
    city                text not null,
    postal_code         text not null,
    acquisition_channel text not null,
    marketing_opt_in    boolean not null,
    stripe_customer_id  text unique,
    created_at          timestamptz not null,
    updated_at          timestamptz not null
);

create table orders (
    order_id              bigint primary key,
    customer_id           bigint not null references customers (customer_id),
    status                text not null check (status in
                            ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'returned')),
    currency              char(3) not null default 'USD',
    subtotal_cents        bigint not null,
    discount_cents        bigint not null,
    shipping_cents        bigint not null,
    tax_cents             bigint not null,
    total_cents           bigint not null,
    shipping_country_code char(2) not null references countries (country_code),
    utm_source            text,   -- marketing channel of the session that placed the order
    utm_campaign          text,   -- campaign id from the marketing exports, when paid traffic
    placed_at             timestamptz not null,
    created_at            timestamptz not null,
    updated_at            timestamptz not null
);

create table order_items (
    order_item_id     bigint primary key,
    order_id          bigint not null references orders (order_id) on delete cascade,
    product_id        integer not null references products (product_id),
    quantity          integer not null check (quantity > 0),
    unit_price_cents  bigint not null,
    discount_cents    bigint not null,
    created_at        timestamptz not null,
    updated_at        timestamptz not null
);

-- Every status an order went through, appended by the shop.
create table order_status_history (
    order_status_id  bigint primary key,
    order_id         bigint not null references orders (order_id) on delete cascade,
    status           text not null,
    changed_at       timestamptz not null,
    created_at       timestamptz not null,
    updated_at       timestamptz not null
);

-- Payment attempts; provider_charge_id links an order to its Stripe charge.
create table payments (
    payment_id          bigint primary key,
    order_id            bigint not null references orders (order_id) on delete cascade,
    provider            text not null default 'stripe',
    provider_charge_id  text not null unique,
    status              text not null check (status in ('succeeded', 'failed')),
    amount_cents        bigint not null,
    currency            char(3) not null default 'USD',
    created_at          timestamptz not null,
    updated_at          timestamptz not null
);

create index on products (updated_at);
create index on customers (updated_at);
create index on orders (updated_at);
create index on orders (customer_id);
create index on orders (placed_at);
create index on order_items (updated_at);
create index on order_items (order_id);
create index on order_status_history (updated_at);
create index on order_status_history (order_id);
create index on payments (updated_at);
create index on payments (order_id);
create index on countries (updated_at);
create index on categories (updated_at);
