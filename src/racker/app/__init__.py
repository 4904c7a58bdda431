"""Use cases: bootstrap (configuration, resume, provision, Lokomotive bring-up), apply, node
operations, status, factory, pxe-boot, the ipmi helper, lifecycle and install, BMC credential
rotation. Each takes the adapters it needs as arguments, from the composition root
(`racker.compose`); none constructs a BMC driver, a locator, the store or a service.
"""
