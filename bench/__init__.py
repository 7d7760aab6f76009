"""Benchmarks and the local OpenAI-protocol server they (and the tests) use."""
