"""Commerce pack: a shop's order database, the tools an inquiry agent calls over it, and the agent.

Modules: `orders` (the SQLite order database, τ-bench retail's rules, audit), `tau` (τ-bench retail data and
tasks), `desk` (the agent's tools: identity first, one customer, confirmation before every write), `agent` (the
ticket agent: schema-constrained forms filled by the local model, every write checked against the ticket).
"""
