"""The Firestore store: its writes, its reads and the client errors it translates.
May import core/ and the store port; the only package that imports google.cloud.
"""
