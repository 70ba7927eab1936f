"""Commerce pack (issue 31): a shop's order database and the tools an inquiry agent calls over it.

Modules: `orders` (the SQLite order database, τ-bench retail's rules, audit), `tau` (τ-bench retail data and
tasks), `desk` (the agent's tools: identity first, one customer, confirmation before every write).
"""
