"""The store port (base.py), its read models, and one subpackage per store.
Adapters import core/ and the port only; the port imports nothing of ingest/, read/ or rollups/.
"""

from __future__ import annotations

from session_events.stores.base import EventRecord, EventStore, Outcome, document_id

__all__ = ["EventRecord", "EventStore", "Outcome", "document_id"]
