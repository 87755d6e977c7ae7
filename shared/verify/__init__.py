"""Verification gates: checks run in an environment after a deployment applied, before it ends.

* :mod:`.model` - a check's result and the data-quality results a notebook returns;
* :mod:`.checks` - running one check of each kind (Databricks job, notebook one-time run, ADF
  pipeline run, HTTP) to a terminal state, cancelling its runs when it times out;
* :mod:`.runner` - running an environment's checks for a component (in parallel, traced);
* :mod:`.gate` - the ``verify`` step of a deployment (audit, data-quality issues, failure);
* :mod:`.service` - ``dataops verify`` and ``POST /api/environments/{env}/verify``.

See docs/verify.md.
"""
