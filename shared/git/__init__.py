"""Git sources: the files of a commit, fetched by the worker itself (the webhook is only a hint)."""
