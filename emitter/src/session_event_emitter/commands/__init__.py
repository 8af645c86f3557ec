"""The user's subcommands, one module each with ``run(args) -> int`` (status, ..., ref, forget).

They may import the top level and ``send/``; ``ref`` runs after every tool call, so it imports
only what the hook path does (the other commands load ``send/``, and ``flush`` requests).
"""
