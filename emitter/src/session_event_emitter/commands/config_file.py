"""Records the user's choices (consent, endpoint) in the emitter's config file."""

from __future__ import annotations

import json

from session_event_emitter.fsutil import ensure_private_dir, read_json_object, write_atomic
from session_event_emitter.settings import Settings


def record(settings: Settings, **values: object) -> None:
    """Set `values` in the config file, keeping its other keys; written privately, atomically."""
    config = read_json_object(settings.config_path, 64 * 1024)
    config.update(values)
    ensure_private_dir(settings.home)
    write_atomic(settings.config_path, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
