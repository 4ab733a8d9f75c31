"""A local stand-in for 1min.ai's API (an offline rehearsal, not AI): ASGI app, server, faults."""
