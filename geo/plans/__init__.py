"""Planner workflow: versioned plans (drafts) of one community's grids, edits, validation,
diffs by household, publishing.

A plan is a draft copy (a ``grid_version`` with status ``draft``) of the community's current
version, with an author and its base version. Every edit runs in one transaction, keeps the
invariants (nesting, coverage with no gaps or overlaps, contiguity, every household in exactly
one micro-grid) or is refused with the reason, and is written to the plan's edit log (with the
micro-grids it replaced, for undo) and to the audit log. Band violations are warnings: a
planner may pass through them between edits. Validation adds the workers' findings.
Publishing makes the draft the current version atomically, refuses a draft whose base is no
longer current, and re-assigns only the households and incidents of the area that changed.

Geometry edits happen in the storage CRS so that untouched vertices stay bit-identical;
checks run in the metric CRS.

The modules: ``state`` (the draft in memory), ``storage`` (reading and writing it),
``checks`` (its invariants), ``engine`` (running an edit), ``history`` (the draft's revision,
undo, redo), ``drawn`` (drawn geometry input), ``geometry`` (what the edits share), ``edits``
(move, split, merge, lock), ``redrawing``, ``repartitioning``, ``review`` (validation),
``lifecycle`` (create … publish), ``diff``, ``reading`` (what the browser editor reads: grids,
buildings, the publish preview).
"""

from geo.plans.diff import Diff, diff_versions, export_diff
from geo.plans.drawn import parse_drawn
from geo.plans.edits import lock, merge_grids, move, split
from geo.plans.geometry import _siblings
from geo.plans.history import (
    StaleRevision,
    check_revision,
    redo,
    revision,
    undo,
    validate,
    validate_revised,
)
from geo.plans.lifecycle import (
    attach_plan,
    create_plan,
    discard,
    get_plan,
    list_plans,
    publish,
    versions,
)
from geo.plans.reading import plan_buildings, plan_grids, plan_preview
from geo.plans.redrawing import redraw
from geo.plans.repartitioning import repartition
from geo.plans.review import plan_report, stored_records, validate_plan
from geo.plans.state import EditRefused, _clean, _Context, _plan
from geo.plans.storage import _load

__all__ = [
    "Diff",
    "EditRefused",
    "StaleRevision",
    # the draft's internals the tests look into
    "_Context",
    "_clean",
    "_load",
    "_plan",
    "_siblings",
    "attach_plan",
    "check_revision",
    "create_plan",
    "diff_versions",
    "discard",
    "export_diff",
    "get_plan",
    "list_plans",
    "lock",
    "merge_grids",
    "move",
    "parse_drawn",
    "plan_buildings",
    "plan_grids",
    "plan_preview",
    "plan_report",
    "publish",
    "redo",
    "redraw",
    "repartition",
    "revision",
    "split",
    "stored_records",
    "undo",
    "validate",
    "validate_plan",
    "validate_revised",
    "versions",
]
