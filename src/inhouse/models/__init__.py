"""Model backends: embedders now; chat models (llama.cpp, OpenAI-compatible) join them here."""
