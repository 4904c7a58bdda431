"""The boot server: `boot` (matchbox-compatible: what PXE-booting nodes fetch), `api` (racker's
`/racker/v1`: node reports and list), composed with the error-to-status table in `bootserver`;
`serve` runs it under uvicorn with sendfile.
"""
