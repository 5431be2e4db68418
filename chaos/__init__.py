"""The fault suite: the real service under faults, and a table of what was lost.

Run by hand like the benchmarks (`make chaos`), never as a test: each scenario starts
its own Redis, PostgreSQL cluster, SMTP server and partner endpoints on loopback, so it
can kill, freeze and restart them without touching anything else on the machine.
"""
