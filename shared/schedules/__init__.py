"""Environment schedules: stop and start whole environments on NCRONTAB timers or by hand.

* :mod:`.due` works out which (environment, action, scheduled time) are due (pure);
* :mod:`.resources` is the registry of resource types (ADF triggers, clusters,
  warehouses, jobs) and the exclusion rules;
* :mod:`.plan` turns observed resources into the changes a stop or start makes (pure);
* :mod:`.control` applies them under the environment locks and records them in the ledger;
* :mod:`.timer` is what the timer function runs every minute.
"""
