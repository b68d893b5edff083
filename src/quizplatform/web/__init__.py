"""The web interface: server-rendered pages (Jinja2 + htmx) on the same services as the API.

See ``docs/web.md`` for the conventions (layout blocks, page handlers, forms and CSRF,
htmx patterns, CSS, browser tests).
"""
