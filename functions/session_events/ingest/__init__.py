"""Write edge: the ingest routes, the service, validation, rate limit and settings.
May import core/, contract.rules and the store port; never read/, rollups/ or viewer/.
"""
