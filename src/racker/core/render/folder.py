"""The whole configuration folder for a plan, of the kind it provisions (pure)."""

from __future__ import annotations

from racker.core.render import RenderedFile
from racker.core.render.flatcar import render_flatcar
from racker.core.render.lokomotive import render_lokomotive
from racker.model import ClusterPlan, Provision
from racker.paths import Paths


def render_config(plan: ClusterPlan, paths: Paths) -> tuple[RenderedFile, ...]:
    """Every file of the configuration folder for the plan's provision type."""
    if plan.options.provision is Provision.LOKOMOTIVE:
        return render_lokomotive(plan, paths)
    return render_flatcar(plan, paths)
