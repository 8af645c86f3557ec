"""The operator's pages: view data computed in Python, drawn by the Jinja2 templates in templates/.
May import core/ and jinja2 only; the routes in read/ hand it plain data, never a store.
"""
