"""The no-op baseline: an HTTP Cloud Function that answers the ingest's 202 and does nothing."""

import functions_framework
from flask import Request, Response

_BODY = '{"ok":true,"status":"accepted"}'


@functions_framework.http
def noop(request: Request) -> Response:
    """Answer like an accepted event without reading, validating or storing anything."""
    return Response(_BODY, status=202, mimetype="application/json")
