"""The detached sender and what delivery needs: delivery, answers, transport, gate, modes, audit.

The only package that may import requests or urllib3; it imports the top level, never
``commands/``. Its ``sender`` module is the process the hook starts.
"""
