"""Web pages for people: the owner's self-care page and the support console.

Server-rendered (Jinja2) over the care API's store and route logic; see docs/pages.md.
"""
