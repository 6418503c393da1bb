"""Tests of the OpenAI-compatible proxy (proxy/openai_proxy)."""
