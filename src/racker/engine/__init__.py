"""The provisioning engine: one asyncio task per node through the stages of DESIGN.md."""
