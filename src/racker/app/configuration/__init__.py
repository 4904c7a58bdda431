"""The configuration folder as a use case: `create` writes a new one (bootstrap), `loaded` reads
an existing one back and renders it again (apply, node operations, resume).
"""
