"""The domain and its storage: articles, tags, the outbox of events, stored feeds."""
