"""LLM-wave models (text encoders, semantic ids, generative retrieval, HSTU, LLM rankers)."""
