-- Payment attempts per UTC day and outcome (the mart payment_attempts_daily).
select * from marts.payment_attempts_daily
