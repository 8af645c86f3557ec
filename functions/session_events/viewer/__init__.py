"""The operator's pages: view data computed in Python and drawn as HTML and SVG.
May import core/ only; the routes in read/ hand it plain data, never a store.
"""
