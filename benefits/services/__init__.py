"""Domain services: plain functions on a session, used by the API, the CLI and the tests.

Each use case takes the session, the acting ``Actor`` and ``now`` as arguments and
leaves committing to its caller: one transaction per use case, audit rows included.
"""
