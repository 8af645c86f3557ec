"""The Firestore client's errors as the store reads them: worth repeating, or "not now"."""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

# Errors after which the same write may succeed if sent again; the write may have landed.
TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
    gexc.Aborted,
    gexc.InternalServerError,
    TimeoutError,
    ConnectionError,
)

# Errors that mean "the store did not answer now", to be retried by the client later.
UNAVAILABLE = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
    gexc.Aborted,
    gexc.InternalServerError,
    gexc.RetryError,
    gexc.Unauthenticated,
    gexc.PermissionDenied,
    gexc.NotFound,  # the database itself does not exist (yet)
    auth_exc.GoogleAuthError,
    TimeoutError,
    ConnectionError,
)
