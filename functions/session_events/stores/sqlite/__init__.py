"""The SQLite store (the embedded default): its writes, reads and errors.
May import core/ and the store port; imported only when SQLite is the configured store.
"""
