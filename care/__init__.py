"""Customer care: device health summaries against cohorts, timelines and repair triage.

Pure decisions (`figures`, `triage`) are kept apart from SQL (`store`), so the rules are
unit-tested without a database and the queries are tested against the real one.
"""
