{#- The normal range of orders and paid revenue in a window of 15 or 60 minutes, per hour of the
    week, learned from the shop's own last var anomaly.history_weeks weeks and scaled to its
    level of the last anomaly.level_days days: what the real-time run compares its last window with
    (pipeline/anomaly.py). Medians and median absolute deviations, so one Black Friday or one
    outage in the history barely moves the band; a floor of counting noise, so quiet night hours,
    whose counts are small and jumpy, never look abnormal. Cheap enough for every real-time run:
    it reads three columns of the history's orders. -#}
{%- set band = var('anomaly') -%}
{%- set quarter_hours = band.history_weeks * 7 * 24 * 4 -%}
with

orders as (

    select
        placed_at,
        paid_at,
        order_total
    from {{ ref('fct_orders') }}

),

history_end as (

    -- The start of the newest hour with orders (a replay may set var anomaly_as_of instead):
    -- the history is the complete hours before it.
    select
    {%- if var('anomaly_as_of', none) %}
        {{ dbt.date_trunc('hour', "cast('" ~ var('anomaly_as_of') ~ "' as timestamp)") }}
            as history_end,
    {%- else %}
        {{ dbt.date_trunc('hour', 'max(placed_at)') }} as history_end,
    {%- endif %}
        {{ dbt.dateadd('hour', 1, dbt.date_trunc('hour', 'min(placed_at)')) }} as first_full_hour
    from orders

),

-- Every quarter hour of the history, so that windows without a single order count as zero.
quarter_hours as (

    select
        {{ dbt.dateadd('minute', '-15 * series.generated_number', 'history_end.history_end') }}
            as window_start
    from ({{ dbt.generate_series(quarter_hours) }}) as series
    cross join history_end

),

history as (

    select
        min(quarter_hours.window_start) as history_start,
        max(history_end.history_end) as history_end
    from quarter_hours
    cross join history_end
    where quarter_hours.window_start >= history_end.first_full_hour

),

-- The quarter hours each order was placed and paid in, counted back from the end of the history.
orders_in_history as (

    select
        orders.placed_at,
        orders.paid_at,
        orders.order_total,
        history.history_start,
        history.history_end,
        {{ dbt.dateadd(
            'minute',
            '15 * floor(' ~ dbt.datediff('history.history_end', 'orders.placed_at', 'minute') ~ ' / 15)',
            'history.history_end'
        ) }} as placed_window_start,
        {{ dbt.dateadd(
            'minute',
            '15 * floor(' ~ dbt.datediff('history.history_end', 'orders.paid_at', 'minute') ~ ' / 15)',
            'history.history_end'
        ) }} as paid_window_start
    from orders
    cross join history
    where orders.placed_at < history.history_end
        and (orders.placed_at >= history.history_start or orders.paid_at >= history.history_start)

),

orders_per_quarter_hour as (

    select
        placed_window_start as window_start,
        count(*) as orders
    from orders_in_history
    where placed_at >= history_start
    group by placed_window_start

),

payments_per_quarter_hour as (

    select
        paid_window_start as window_start,
        count(*) as paid_orders,
        sum(order_total) as paid_revenue
    from orders_in_history
    where paid_at >= history_start
        and paid_at < history_end
    group by paid_window_start

),

quarter_hour_figures as (

    select
        quarter_hours.window_start,
        coalesce(orders_per_quarter_hour.orders, 0) as orders,
        coalesce(payments_per_quarter_hour.paid_orders, 0) as paid_orders,
        coalesce(payments_per_quarter_hour.paid_revenue, 0) as paid_revenue
    from quarter_hours
    inner join history
        on quarter_hours.window_start >= history.history_start
    left join orders_per_quarter_hour
        on quarter_hours.window_start = orders_per_quarter_hour.window_start
    left join payments_per_quarter_hour
        on quarter_hours.window_start = payments_per_quarter_hour.window_start

),

windows as (

    select
        15 as window_minutes,
        window_start,
        orders,
        paid_revenue
    from quarter_hour_figures

    union all

    select
        60 as window_minutes,
        {{ dbt.date_trunc('hour', 'window_start') }} as window_start,
        sum(orders) as orders,
        sum(paid_revenue) as paid_revenue
    from quarter_hour_figures
    group by {{ dbt.date_trunc('hour', 'window_start') }}

),

samples as (

    select
        window_minutes,
        window_start,
        ({{ day_of_week_iso('window_start') }} - 1) * 24
            + extract(hour from window_start) as hour_of_week,
        orders,
        paid_revenue
    from windows

),

medians as (

    select
        window_minutes,
        hour_of_week,
        count(*) as samples,
        median(orders) as expected_orders,
        median(paid_revenue) as expected_paid_revenue
    from samples
    group by window_minutes, hour_of_week

),

deviations as (

    select
        samples.window_minutes,
        samples.hour_of_week,
        median(abs(samples.orders - medians.expected_orders)) as orders_deviation,
        median(abs(samples.paid_revenue - medians.expected_paid_revenue))
            as paid_revenue_deviation
    from samples
    inner join medians
        on samples.window_minutes = medians.window_minutes
        and samples.hour_of_week = medians.hour_of_week
    group by samples.window_minutes, samples.hour_of_week

),

-- The shop's level now against the weeks behind the medians: over each of the last level_days
-- days, its orders / the orders the weekly pattern expects then; the median of those ratios. The
-- season and growth move it (November sells a quarter more than October); a week of sales
-- around Black Friday, fewer than half of the days, does not.
recent_windows as (

    select
        floor(
            ({{ dbt.datediff('samples.window_start', 'history.history_end', 'minute') }} - 1)
            / 1440
        ) as days_ago,
        samples.orders,
        medians.expected_orders
    from samples
    inner join medians
        on samples.window_minutes = medians.window_minutes
        and samples.hour_of_week = medians.hour_of_week
    cross join history
    where samples.window_minutes = 15
        and samples.window_start >= {{ dbt.dateadd('day', -band.level_days, 'history.history_end') }}

),

recent_days as (

    select
        days_ago,
        sum(orders) / nullif(sum(expected_orders), 0) as orders_against_pattern
    from recent_windows
    group by days_ago

),

recent_level as (

    select coalesce(median(orders_against_pattern), 1) as recent_level
    from recent_days

),

average_order as (

    select sum(paid_revenue) / nullif(sum(paid_orders), 0) as average_order_value
    from quarter_hour_figures

),

spreads as (

    -- One standard deviation, from the median absolute deviation (x 1.4826 for normal noise),
    -- but never below the noise of counting: sqrt(n) orders, and n orders of average value
    -- whose values vary about as much as their mean.
    select
        medians.window_minutes,
        medians.hour_of_week,
        medians.samples,
        recent_level.recent_level,
        medians.expected_orders * recent_level.recent_level as expected_orders,
        medians.expected_paid_revenue * recent_level.recent_level as expected_paid_revenue,
        greatest(
            1.4826 * deviations.orders_deviation * recent_level.recent_level,
            sqrt(greatest(medians.expected_orders * recent_level.recent_level, 1))
        ) as orders_spread,
        greatest(
            1.4826 * deviations.paid_revenue_deviation * recent_level.recent_level,
            average_order.average_order_value
            * sqrt(2 * greatest(medians.expected_orders * recent_level.recent_level, 1))
        ) as paid_revenue_spread
    from medians
    inner join deviations
        on medians.window_minutes = deviations.window_minutes
        and medians.hour_of_week = deviations.hour_of_week
    cross join recent_level
    cross join average_order

),

final as (

    -- Far below: under low_ratio of normal and deviations_below spreads under it; 0 where even
    -- an empty window is ordinary. Far above: over high_ratio and deviations_above spreads over.
    select
        cast(spreads.hour_of_week as integer) as hour_of_week,
        spreads.window_minutes,
        spreads.samples,
        cast(spreads.recent_level as double precision) as recent_level,
        cast(spreads.expected_orders as double precision) as expected_orders,
        cast(greatest(0, least(
            spreads.expected_orders * {{ band.low_ratio }},
            spreads.expected_orders - {{ band.deviations_below }} * spreads.orders_spread
        )) as double precision) as orders_lower,
        cast(greatest(
            spreads.expected_orders * {{ band.high_ratio }},
            spreads.expected_orders + {{ band.deviations_above }} * spreads.orders_spread
        ) as double precision) as orders_upper,
        {{ money('spreads.expected_paid_revenue') }} as expected_paid_revenue,
        {{ money('greatest(0, least(
            spreads.expected_paid_revenue * ' ~ band.low_ratio ~ ',
            spreads.expected_paid_revenue - ' ~ band.deviations_below ~ ' * spreads.paid_revenue_spread
        ))') }} as paid_revenue_lower,
        {{ money('greatest(
            spreads.expected_paid_revenue * ' ~ band.high_ratio ~ ',
            spreads.expected_paid_revenue + ' ~ band.deviations_above ~ ' * spreads.paid_revenue_spread
        )') }} as paid_revenue_upper,
        history.history_start,
        history.history_end
    from spreads
    cross join history

)

select * from final
