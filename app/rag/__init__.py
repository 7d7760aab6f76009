"""Retrieval-augmented generation: parsing files to text, cleaning, splitting into segments (Dify's rules),
keyword extraction, full-text search over the segments table and the fusion of search methods.

Pure text functions live in `parsing`, `cleaning`, `splitting` and `keywords`; `fulltext` is the only module
here that runs SQL (over the segments table only); `retrieval` combines a vector store and full text. Nothing
here imports services, api or worker.
"""
