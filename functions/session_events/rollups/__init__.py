"""The rollup job: exact rollups for the operator and the privacy of what is published.
May import core/, the store port and read models, and settings; never an HTTP edge.
"""
