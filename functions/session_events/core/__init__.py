"""Shared core: errors, logs, time, deadlines, display ids, settings from the environment
and the one request wrapper.
Imports nothing else of the package; every other package may import it.
"""
