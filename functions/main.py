"""Cloud Functions (gen2) entry point of session-events: `session_events(request)`.

Nothing here touches the network or looks up credentials at import: the settings, the
store and its client are built on the first request and reused while the instance is warm.
"""

import functions_framework
from flask import Request, Response

from session_events.ingest.http import handle


@functions_framework.http
def session_events(request: Request) -> Response:
    """Ingest one session event (or a batch) and answer as README.md's API table says."""
    return handle(request)
