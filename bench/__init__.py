"""The benchmarks (``make bench``), kept out of the product packages:
``python -m bench.assistant`` (Rasa: NLU quality, the traffic set, the
frustration detector, reply latency), ``python -m bench.bridge`` (the
handoff bridge: overhead, relay, memory, login flood; ``--reports-only``
runs ``bench.reports``, the reports API). Each rewrites its own section of
docs/benchmarks.md.
"""
