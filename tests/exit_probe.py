"""A snippet for probes run in a child interpreter: call a report when the process ends.

The bare hook ends with ``os._exit`` (no teardown, so no ``atexit``): the snippet defines
``at_exit(report)``, which runs `report` however the process ends, exactly once.
"""

AT_EXIT = """
import atexit as _atexit, os as _os, sys as _sys
def at_exit(report):
    done = []
    def once():
        if not done:
            done.append(True)
            report()
            _sys.stderr.flush()
    _atexit.register(once)
    real_exit = _os._exit
    def exit_now(code):
        once()
        real_exit(code)
    _os._exit = exit_now
"""
