"""Read edge: routes, tokens, query parameters, the operator's API, the public statistics.
May import core/, the store port and read models, rollups/ and viewer/; never an adapter.
"""
