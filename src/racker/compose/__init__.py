"""The composition root: the one place that builds racker's real adapters from the rack's
settings and hands them to the use cases.

Front ends (the `racker`, `ipmi` and `racker-sim` commands; later the HTTP management side) ask
this package for a ready use case or adapter; use cases receive what they need as arguments.
Nothing else constructs a BMC driver, a BMC locator, the event store or a service, so a second
BMC protocol, another store or a test double changes this package and nothing above it.
"""
