"""A small ANALYTICS warehouse with the dbt marts' tables and columns, for the report tests.

Deterministic (seeded) and relative to `now`, so the site's "today" and "month to date" always
have data. test_marts_fixture_matches_dbt checks that every column here is one the dbt models
document, so the fixture cannot drift from the real marts unnoticed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from pipeline.run_log import RUNS_DDL

DAYS = 130
ORDERS_PER_DAY = 40
# Daily runs whose snapshots make the history (the last one is `now`).
REPORT_DAYS = 60
CHANNELS = ("organic_search", "paid_search", "paid_social", "email", "direct", "affiliate")
PAID_CHANNELS = ("paid_search", "paid_social", "email", "affiliate")


def build(
    path: Path,
    now: datetime | None = None,
    days: int = DAYS,
    orders_per_day: int = ORDERS_PER_DAY,
) -> Path:
    """Write the marts into a new DuckDB file at `path` (schema marts, like dbt's duckdb target)."""
    now = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute("select setseed(0.42)")
        _orders(con, start, now, days * orders_per_day)
        _derived(con)
        _report_times(con, now)
        _revenue(con, now)
        _customer_segments_history(con)
        _price_changes(con, now)
        _pipeline_runs(con)
    finally:
        con.close()
    return path


def _orders(con: duckdb.DuckDBPyConnection, start: datetime, now: datetime, orders: int) -> None:
    seconds = int((now - start).total_seconds())
    channels = "[" + ", ".join(f"'{c}'" for c in CHANNELS) + "]"
    con.execute(
        f"""
        create table marts.dim_products as
        select
            'v' || i as product_version_id,
            i as product_id,
            'SKU-' || i as sku,
            'Product ' || i as product_name,
            i % 6 as category_id,
            ['Bags', 'Shoes', 'Tops', 'Audio', 'Kitchen', 'Fitness'][i % 6 + 1] as category_name,
            ['Accessories', 'Apparel', 'Apparel', 'Electronics', 'Home', 'Sports'][i % 6 + 1]
                as department,
            'USD' as currency,
            cast(10 + (i * 7) % 90 as decimal(18, 2)) as price,
            cast((10 + (i * 7) % 90) * 0.55 as decimal(18, 2)) as unit_cost,
            cast((10 + (i * 7) % 90) * 0.45 as decimal(18, 2)) as unit_margin,
            true as is_active,
            timestamp '{start}' as created_at,
            timestamp '{start}' as valid_from,
            cast(null as timestamp) as valid_to,
            true as is_current
        from range(1, 61) t(i);

        create table marts.fct_orders as
        with raw as (
            select
                i as order_id,
                1 + cast(floor(random() * {orders // 3}) as integer) as customer_id,
                timestamp '{start}'
                    + to_seconds(cast(floor(random() * {seconds}) as bigint)) as placed_at,
                {channels}[1 + cast(floor(random() * {len(CHANNELS)}) as integer)] as channel,
                random() as r_status,
                cast(20 + floor(random() * 18000) / 100 as decimal(18, 2)) as subtotal
            from range(1, {orders + 1}) t(i)
        )
        select
            order_id,
            customer_id,
            case
                when r_status < 0.04 then 'pending'
                when r_status < 0.08 then 'cancelled'
                when r_status < 0.11 then 'returned'
                else 'delivered'
            end as order_status,
            channel,
            case when channel in ('paid_search', 'paid_social', 'email', 'affiliate')
                then channel || '_c' || (order_id % 2) else null end as campaign_id,
            'US' as shipping_country_code,
            'USD' as currency,
            subtotal,
            cast(case when order_id % 5 = 0 then round(subtotal * 0.1, 2) else 0 end
                as decimal(18, 2)) as discount_amount,
            cast(4.99 as decimal(18, 2)) as shipping_amount,
            cast(round(subtotal * 0.08, 2) as decimal(18, 2)) as tax_amount,
            placed_at,
            cast(placed_at as date) as placed_on,
            r_status >= 0.08 as is_paid,
            r_status >= 0.08 and r_status < 0.11 as is_refunded
        from raw;

        alter table marts.fct_orders add column order_total decimal(18, 2);
        update marts.fct_orders
            set order_total = subtotal - discount_amount + shipping_amount + tax_amount;
        """
    )


def _report_times(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """The times the daily runs took their snapshots: one a day, the newest `now`."""
    con.execute(
        f"""
        create temp table report_times as
        select timestamp '{now}' - to_days(cast(n as integer)) as reported_at, n
        from range(0, {REPORT_DAYS}) t(n)
        """
    )


def _pipeline_runs(con: duckdb.DuckDBPyConnection) -> None:
    """The daily runs in the orchestration's run log (pipeline/run_log.py's tables), each around
    its snapshot; one of them failed."""
    con.execute(RUNS_DDL)
    con.execute(
        """
        insert into ops.pipeline_runs
        select
            'run-' || n, 'daily_refresh', 'dev',
            reported_at - to_seconds(60), reported_at + to_seconds(115),
            case when n = 3 then 'failed' else 'completed' end,
            175, 60000, 13, 90, 0, null
        from report_times;

        insert into ops.pipeline_stages
        select 'run-' || n, stage.name, stage.seconds, stage.rows_moved, '{}'
        from report_times
        cross join (
            values ('extract-load', 84.0, 60000), ('dbt build', 21.0, null),
                ('report build', 70.0, null)
        ) stage(name, seconds, rows_moved)
        """
    )


def _derived(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create or replace table marts.fct_orders as
        with numbered as (
            select
                *,
                case when is_paid then row_number() over (
                    partition by customer_id, is_paid order by placed_at, order_id) end
                    as customer_order_number
            from marts.fct_orders
        )
        select
            order_id, customer_id, order_status, channel, campaign_id, shipping_country_code,
            currency, subtotal, discount_amount, shipping_amount, tax_amount, order_total,
            case when is_paid then order_total else 0 end as amount_paid,
            case when is_refunded then order_total else 0 end as refunded_amount,
            cast(0 as decimal(18, 2)) as dispute_lost_amount,
            order_total - case when is_refunded then order_total else 0 end as net_order_total,
            1 + order_id % 3 as line_count,
            1 + order_id % 3 as unit_count,
            1 as payment_attempts,
            0 as failed_payment_attempts,
            customer_order_number,
            coalesce(customer_order_number = 1, false) as is_first_order,
            is_paid,
            is_paid as has_paid_status,
            is_refunded,
            false as is_disputed,
            placed_at,
            placed_on,
            case when is_paid then placed_at + interval 1 minute end as paid_at,
            placed_at + interval 2 minute as last_changed_at
        from numbered;

        create table marts.fct_order_items as
        select
            orders.order_id * 10 + line.n as order_item_id,
            orders.order_id,
            orders.customer_id,
            1 + (orders.order_id * 7 + line.n * 13) % 60 as product_id,
            orders.order_status,
            1 as quantity,
            cast(orders.subtotal / orders.line_count as decimal(18, 2)) as unit_price,
            cast(orders.subtotal / orders.line_count as decimal(18, 2)) as line_subtotal,
            cast(orders.discount_amount / orders.line_count as decimal(18, 2)) as discount_amount,
            cast((orders.subtotal - orders.discount_amount) / orders.line_count as decimal(18, 2))
                as line_total,
            orders.is_paid as is_paid_order,
            orders.placed_at,
            orders.placed_on,
            orders.last_changed_at
        from marts.fct_orders as orders
        cross join range(1, 4) line(n)
        where line.n <= orders.line_count;

        create table marts.customer_lifetime_value as
        select
            customer_id,
            'US' as country_code,
            'North America' as region,
            arg_min(channel, placed_at) as acquisition_channel,
            min(placed_at) - interval 1 day as signed_up_at,
            min(placed_at) as first_order_at,
            max(placed_at) as most_recent_order_at,
            cast(date_trunc('month', min(placed_at)) as date) as cohort_month,
            arg_min(channel, placed_at) as first_order_channel,
            count(*) as lifetime_orders,
            sum(order_total) as lifetime_sales,
            sum(refunded_amount) as lifetime_refunds,
            sum(order_total) - sum(refunded_amount) as lifetime_value,
            cast(sum(order_total) / count(*) as decimal(18, 2)) as average_order_value,
            count(*) > 1 as is_repeat_customer
        from marts.fct_orders
        where is_paid
        group by customer_id;

        create table marts.customer_cohorts as
        with orders as (
            select
                clv.cohort_month,
                date_diff('month', clv.cohort_month, o.placed_on) as months_since_first_order,
                o.customer_id,
                o.net_order_total
            from marts.fct_orders as o
            inner join marts.customer_lifetime_value as clv
                on o.customer_id = clv.customer_id
            where o.is_paid
        ),
        sizes as (
            select cohort_month, count(*) as cohort_size
            from marts.customer_lifetime_value
            group by 1
        ),
        per_month as (
            select
                cohort_month,
                months_since_first_order,
                count(distinct customer_id) as active_customers,
                count(*) as orders,
                sum(net_order_total) as net_revenue
            from orders
            group by 1, 2
        )
        select
            per_month.cohort_month,
            per_month.months_since_first_order,
            sizes.cohort_size,
            per_month.active_customers,
            per_month.orders,
            per_month.net_revenue,
            cast(per_month.active_customers / sizes.cohort_size as decimal(9, 4)) as retention_rate,
            sum(per_month.net_revenue) over (
                partition by per_month.cohort_month order by per_month.months_since_first_order
            ) as cumulative_net_revenue,
            cast(sum(per_month.net_revenue) over (
                partition by per_month.cohort_month order by per_month.months_since_first_order
            ) / sizes.cohort_size as decimal(18, 2)) as cumulative_value_per_customer
        from per_month
        inner join sizes
            on per_month.cohort_month = sizes.cohort_month;

        create table marts.fct_marketing_performance as
        with days as (
            select distinct placed_on as performance_date from marts.fct_orders
        ),
        campaigns as (
            select distinct channel, coalesce(campaign_id, 'none') as campaign_id
            from marts.fct_orders
        ),
        attributed as (
            select
                placed_on,
                channel,
                coalesce(campaign_id, 'none') as campaign_id,
                count(*) as attributed_orders,
                sum(case when is_first_order then 1 else 0 end) as new_customers,
                sum(order_total) as attributed_revenue,
                sum(case when is_first_order then order_total else 0 end) as new_customer_revenue
            from marts.fct_orders
            where is_paid
            group by 1, 2, 3
        )
        select
            strftime(days.performance_date, '%Y-%m-%d') || '|' || campaigns.channel || '|'
                || campaigns.campaign_id as marketing_performance_id,
            days.performance_date,
            campaigns.channel,
            campaigns.campaign_id,
            case when campaigns.campaign_id <> 'none' then 'Campaign ' || campaigns.campaign_id end
                as campaign_name,
            cast(case when campaigns.campaign_id <> 'none' then 40 + length(campaigns.channel) * 5
                else 0 end as decimal(18, 2)) as spend,
            1000 as impressions,
            30 as clicks,
            3 as platform_conversions,
            cast(300 as decimal(18, 2)) as platform_conversion_value,
            coalesce(attributed.attributed_orders, 0) as attributed_orders,
            coalesce(attributed.new_customers, 0) as new_customers,
            coalesce(attributed.attributed_revenue, 0) as attributed_revenue,
            coalesce(attributed.new_customer_revenue, 0) as new_customer_revenue
        from days
        cross join campaigns
        left join attributed
            on days.performance_date = attributed.placed_on
            and campaigns.channel = attributed.channel
            and campaigns.campaign_id = attributed.campaign_id;

        create table marts.fct_payments as
        select
            'ch_' || order_id as charge_id,
            order_id as payment_id,
            order_id,
            customer_id,
            'cus_' || customer_id as stripe_customer_id,
            'USD' as currency,
            case when is_paid then 'succeeded' else 'failed' end as payment_status,
            case when is_paid then 'succeeded' else 'failed' end as charge_status,
            case when order_id % 997 = 0 then 'amount_mismatch' else 'matched' end as match_status,
            ['visa', 'mastercard', 'amex'][1 + order_id % 3] as card_brand,
            case when is_paid then null else 'card_declined' end as failure_code,
            order_total as shop_amount,
            case when is_paid then order_total else 0 end as captured_amount,
            refunded_amount,
            case when is_refunded then 1 else 0 end as refund_count,
            cast(round(order_total * 0.029 + 0.30, 2) as decimal(18, 2)) as processing_fee,
            case when order_id % 499 = 0 then 'dp_' || order_id end as dispute_id,
            case when order_id % 499 = 0 then 'under_review' end as dispute_status,
            case when order_id % 499 = 0 then 'fraudulent' end as dispute_reason,
            case when order_id % 499 = 0 then order_total else 0 end as disputed_amount,
            cast(0 as decimal(18, 2)) as dispute_lost_amount,
            case when is_paid then order_total else 0 end - refunded_amount
                - cast(round(order_total * 0.029 + 0.30, 2) as decimal(18, 2))
                as net_settled_amount,
            is_paid as is_shop_succeeded,
            is_paid as is_stripe_succeeded,
            placed_at as attempted_at,
            placed_on as attempted_on,
            cast(null as timestamp) as last_refunded_at,
            last_changed_at
        from marts.fct_orders
        where order_status <> 'pending';

        create table marts.fct_payment_reconciliation as
        select
            o.order_id,
            o.customer_id,
            o.order_status,
            o.placed_on,
            o.is_paid,
            o.has_paid_status,
            case when o.is_paid then o.order_total else 0 end as order_revenue,
            coalesce(p.captured_amount, 0) as shop_amount_paid,
            coalesce(p.captured_amount, 0) as stripe_amount_captured,
            coalesce(p.refunded_amount, 0) as stripe_amount_refunded,
            coalesce(p.dispute_lost_amount, 0) as dispute_lost_amount,
            coalesce(p.processing_fee, 0) as processing_fees,
            coalesce(p.net_settled_amount, 0) as net_settled_amount,
            case when o.is_paid then o.order_total else 0 end - coalesce(p.captured_amount, 0)
                as uncollected_amount,
            case when p.match_status <> 'matched' then 1 else 0 end as unmatched_payments,
            case
                when p.match_status <> 'matched' then 'payment_mismatch'
                when o.is_paid then 'matched'
                else 'not_paid'
            end as reconciliation_status
        from marts.fct_orders as o
        left join marts.fct_payments as p
            on o.order_id = p.order_id;
        """
    )


def _versions(known: str, keys: str, figures: str) -> str:
    """A history mart from a table of figures per report time (`reported_at`): the rows where
    the figures differ from the run before, valid until the next such row, as a check-strategy
    snapshot keeps them."""
    return f"""
        with changes as (
            select
                {keys}, {figures}, reported_at,
                lag(row({figures})) over (partition by {keys} order by reported_at) as previous
            from {known}
        )
        select
            {keys}, {figures},
            reported_at as valid_from,
            lead(reported_at) over (partition by {keys} order by reported_at) as valid_to,
            valid_to is null as is_current
        from changes
        where previous is distinct from row({figures})
    """


def _revenue(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """fct_daily_revenue as the newest run computes it, and fct_daily_revenue_history: the
    figures every run computed, one version per change. A refunded order is refunded 2 to 20
    days after it was placed, so each run restates the net revenue of the orders before it."""
    con.execute(
        f"""
        create temp table refunds as
        select
            order_id,
            placed_on,
            refunded_amount as amount,
            least(placed_at + to_days(cast(2 + order_id % 19 as integer)), timestamp '{now}')
                as refunded_at
        from marts.fct_orders
        where is_refunded;

        create temp table revenue_known as
        with sales as (
            select
                report_times.reported_at,
                orders.placed_on as revenue_date,
                count(*) as orders,
                sum(subtotal + shipping_amount + tax_amount) as gross_revenue,
                sum(discount_amount) as discounts,
                sum(shipping_amount) as shipping,
                sum(tax_amount) as tax,
                count(distinct case when is_first_order then customer_id end) as new_customers,
                count(distinct case when not is_first_order then customer_id end)
                    as returning_customers,
                sum(case when is_first_order then order_total else 0 end) as new_customer_sales,
                sum(case when not is_first_order then order_total else 0 end)
                    as returning_customer_sales
            from report_times
            inner join marts.fct_orders as orders
                on orders.placed_at <= report_times.reported_at
            where orders.is_paid
            group by 1, 2
        ),
        refunds_known as (
            select report_times.reported_at, refunds.*
            from report_times
            inner join refunds
                on refunds.refunded_at <= report_times.reported_at
        ),
        refunds_issued as (
            select
                reported_at,
                cast(refunded_at as date) as revenue_date,
                count(*) as refund_count,
                sum(amount) as refunds
            from refunds_known
            group by 1, 2
        ),
        refunds_of_orders as (
            select reported_at, placed_on as revenue_date, sum(amount) as refunds_of_orders
            from refunds_known
            group by 1, 2
        )
        select
            sales.reported_at,
            sales.revenue_date,
            sales.orders,
            sales.gross_revenue,
            sales.discounts,
            coalesce(refunds_issued.refunds, 0) as refunds,
            sales.gross_revenue - sales.discounts - coalesce(refunds_issued.refunds, 0)
                as net_revenue,
            cast((sales.gross_revenue - sales.discounts) / sales.orders as decimal(18, 2))
                as average_order_value,
            sales.shipping,
            sales.tax,
            coalesce(refunds_issued.refund_count, 0) as refund_count,
            sales.new_customers,
            sales.returning_customers,
            sales.new_customer_sales,
            sales.returning_customer_sales,
            coalesce(refunds_of_orders.refunds_of_orders, 0) as refunds_of_orders,
            cast(0 as decimal(18, 2)) as dispute_losses_of_orders,
            sales.gross_revenue - sales.discounts
                - coalesce(refunds_of_orders.refunds_of_orders, 0) as net_revenue_of_orders
        from sales
        left join refunds_issued
            on sales.reported_at = refunds_issued.reported_at
            and sales.revenue_date = refunds_issued.revenue_date
        left join refunds_of_orders
            on sales.reported_at = refunds_of_orders.reported_at
            and sales.revenue_date = refunds_of_orders.revenue_date;

        create table marts.fct_daily_revenue as
        select * exclude (reported_at) from revenue_known
        where reported_at = timestamp '{now}';
        """
    )
    con.execute(
        "create table marts.fct_daily_revenue_history as"
        + _versions(
            "revenue_known",
            keys="revenue_date",
            figures="orders, gross_revenue, discounts, refunds, net_revenue, refund_count, "
            "new_customers, returning_customers, refunds_of_orders, dispute_losses_of_orders, "
            "net_revenue_of_orders",
        )
    )


def _customer_segments_history(con: duckdb.DuckDBPyConnection) -> None:
    """customer_segments_history: customers per segment and channel as each run counted them."""
    con.execute(
        "create temp table segments_known as "
        """
        with customers as (
            select
                report_times.reported_at,
                orders.customer_id,
                count(*) as lifetime_orders,
                max(orders.placed_at) as last_order_at,
                sum(orders.net_order_total) as lifetime_value
            from report_times
            inner join marts.fct_orders as orders
                on orders.placed_at <= report_times.reported_at
            where orders.is_paid
            group by 1, 2
        )
        select
            customers.reported_at,
            case
                when customers.last_order_at < customers.reported_at - interval 90 days
                    then 'lapsed'
                when customers.lifetime_orders = 1 then 'one_time'
                else 'repeat'
            end as segment,
            clv.acquisition_channel,
            count(*) as customers,
            sum(customers.lifetime_value) as lifetime_value
        from customers
        inner join marts.customer_lifetime_value as clv
            on customers.customer_id = clv.customer_id
        group by 1, 2, 3
        """
    )
    con.execute(
        "create table marts.customer_segments_history as"
        + _versions(
            "segments_known",
            keys="segment, acquisition_channel",
            figures="customers, lifetime_value",
        )
    )


def _price_changes(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """Every fifth product was repriced once during the history (dim_products gets a version)."""
    con.execute(
        f"""
        create temp table repriced as
        select
            *,
            timestamp '{now}' - to_days(cast(product_id % 23 as integer)) - interval 3 hours
                as repriced_at
        from marts.dim_products
        where product_id % 5 = 0;

        update marts.dim_products
        set valid_to = repriced.repriced_at, is_current = false
        from repriced
        where dim_products.product_id = repriced.product_id;

        insert into marts.dim_products
        select
            'v' || product_id || '-2',
            product_id, sku, product_name, category_id, category_name, department, currency,
            cast(price * (1 + (product_id % 7 - 3) / 20) as decimal(18, 2)),
            unit_cost,
            cast(price * (1 + (product_id % 7 - 3) / 20) - unit_cost as decimal(18, 2)),
            is_active, created_at, repriced_at, null, true
        from repriced
        """
    )
