"""The wire contract: every body the API takes and gives, declared once.

The API validates requests and renders answers with these models, and the client
parses answers into the same models, so the two sides cannot drift apart. Shapes only:
what a body *means* (an alias entry, a device, an extra spec) is parsed by the core,
which names the entry, key and value at fault.
"""
