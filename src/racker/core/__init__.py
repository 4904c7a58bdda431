"""The pure core: no I/O at all. The inventory parser, addresses, the plan and layout, every
renderer (`render/`), the bootstrap options, flags and wizard graph (`bootstrap/`), events and
timelines, the boot server's node catalog, release selection, the ipmi helper's arguments and
argv, parsers of what the outside world prints. Everything here is tested without a rack.
"""
