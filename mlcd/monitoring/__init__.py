"""Monitoring: the prediction logs a server writes, and `mlcd drift`, which compares them with the training data.

``log_writer`` (no heavy imports: the server loads it) writes the logs; ``log_reader`` reads a window of
them; ``drift`` holds the statistics and the alarm decision; ``report`` renders the result as JSON and
Markdown; ``run`` is `mlcd drift`'s use case, from the request to the result. The format and the
statistics are described in docs/monitoring.md.
"""
