"""The server's routes, one `APIRouter` per concern; `create_app` includes them in this order.

- `ui`: /healthz, /metrics (public), the web page, the leaderboard page and its static files
- `openai`: the OpenAI-compatible /v1 routes (models, embeddings, chat completions and their stream)
- `me`: /api/me, who a key is
- `search`: /api/search and /api/chunks, the hits and passages a key may read
- `answers`: /api/answers, stored answers
- `documents`: /api/documents: list, upload (an ingest job), job status, delete
- `commerce`: /api/commerce: catalog search, copy, review summaries, the inquiry agent's tickets
- `analytics`: /api/analytics: the tenant's tables and questions over them
- `consortium`: /api/consortium: contributions, reports and withdrawals (partners see their own)
"""
