-- Grain: one row per account version (account_id, updated_at), with the days on which it was
-- the version the warehouse knew: from the day it was delivered (known_from) to the day the
-- next version was delivered (known_until, exclusive; null for the current one). A model that
-- asks what an account looked like at the end of day t joins the version known on t: the
-- int_accounts_current that a build of day t read. So a full refresh, daily builds and a first
-- load in slices agree, and history does not learn of later changes (a savings account closed
-- and reopened later under the same number stays closed in between).
select
    account_id,
    customer_id,
    account_type,
    opened_on,
    closed_on,
    updated_at,
    delivered_on as known_from,
    lead(delivered_on) over (partition by account_id order by updated_at) as known_until
from {{ ref('stg_core_banking__accounts') }}
