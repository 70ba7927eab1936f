"""Commerce pack: a shop's order database, the tools an inquiry agent calls over it, and the agent; review
summaries, the catalog and its search, product copy.

Modules: `orders` (the SQLite order database, τ-bench retail's rules, audit, proposals, the shop's names in other
languages), `tau` (τ-bench retail data and tasks), `desk` (the agent's tools: identity first, one customer,
confirmation before every write, now or as stored proposals), `agent` (the ticket agent: schema-constrained forms
filled by the local model, every write checked against the ticket, replies citing the shop's policy),
`reviews`, `catalog`, `search`, `copy`, `shopdb`.
"""

AGENT_CONTEXT = 6144  # tokens the agent's model needs: the ticket, the customer's records and one form
