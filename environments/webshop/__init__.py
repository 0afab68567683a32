"""WebShop as a pure-Python text environment: the original's pages and reward, BM25 search
without Java, the real data files or a generated catalog in their schema, and an oracle
expert. See ``env.py`` for the agent's view and ``catalog.py`` for the shop behind it."""
