"""The InHouse server: OpenAI-compatible API, native API, API keys, audit log and web UI.

`inhouse.server.app.create_app()` builds the FastAPI app; `inhouse serve` runs it with uvicorn. The app
is not imported here, so `inhouse keys` and `inhouse audit` start without loading FastAPI.
"""
