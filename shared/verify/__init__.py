"""Verification gates: checks run in an environment after a deployment applied, before it ends.

* :mod:`.model` - a check's result and the data-quality results a notebook returns;
* :mod:`.checks` - running one check of each kind (Databricks job, notebook one-time run, ADF
  pipeline run, HTTP) to a terminal state, cancelling its runs when it times out;
* :mod:`.runner` - running an environment's checks for a component (in parallel, traced);
* :mod:`.gate` - the ``verify`` step of a deployment (audit, data-quality issues, failure);
* :mod:`.service` - ``dataops verify`` (the checks run here);
* :mod:`.queued` - ``POST /api/environments/{env}/verify``: accepted (202), run by the queue worker,
  followed with ``GET .../verify/{id}``; :mod:`.remote` - ``dataops verify --api`` following it.

See docs/verify.md.
"""
