"""Pure renderers: plan → configuration files, scripts and Ignition."""
