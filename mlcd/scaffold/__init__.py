"""``mlcd init`` and ``mlcd upgrade``: mlcd's workflow callers and a first ``mlcd.yaml`` in a repository."""
