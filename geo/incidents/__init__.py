"""Incidents through the closed loop: the grid calls, the street handles, the department
reports in (网格呼叫、街镇处置、部门报到).

The lifecycle is a state machine (:data:`~geo.incidents.rules.TRANSITIONS`); every
transition is written to the event history with who, when and a note, in the same
transaction as the change. Each tier has a deadline by category (setting
``incident_deadlines``); an incident past its tier's deadline is overdue and
:func:`escalate_overdue` moves it to the next tier.

Who may do what (:data:`~geo.incidents.rules.WHO`, :mod:`geo.incidents.access`):

* the public reports (``POST /incidents``) and, with the token given back at reporting,
  confirms (closes) or reopens its own resolved incident;
* a grid worker acts on incidents of its own grids and of those it co-owns (accept, reject,
  mark duplicate, resolve at the grid, pass to the street, confirm closed);
* a dispatcher acts on every incident of its street (all of the above, the street and
  department tiers, and escalation of its street's overdue incidents);
* an admin may do everything.

Who sees what — one view per audience (:mod:`geo.incidents.views`):

* ``public`` (:func:`public_view`): category, status, grid chain, the reporting time and
  history of statuses, and the position snapped to a 50 m grid in the metric CRS
  (``incident.public_position``). Never the description, address, floor, the exact point, a
  name or a note. Found by code only: a numeric id is "no such incident" to the public, so
  that the sequential ids cannot be walked.
* ``reporter`` (:func:`reporter_view`), for the holder of the reporter token: its own
  description, address, floor and exact point, the status, deadlines and history — who acted
  by role only, and no notes but its own.
* ``staff`` (:func:`staff_view`), for a grid worker, dispatcher or admin in scope: the whole
  record; the reporter's name and phone only in the answer to ``GET /incidents/{code}``, and
  each such read is written to the audit log (``read_personal``).

The package: :mod:`~geo.incidents.rules` (the state machine, deadlines, the clock),
:mod:`~geo.incidents.report` (a new report), :mod:`~geo.incidents.ratelimit` (the limits on
public reports), :mod:`~geo.incidents.access` (scopes, roles, the reporter token),
:mod:`~geo.incidents.records` and :mod:`~geo.incidents.history` (the stored incident and its
events), :mod:`~geo.incidents.views` (one view per audience), :mod:`~geo.incidents.reading`
(reading and listing), :mod:`~geo.incidents.lifecycle` (transitions, escalation),
:mod:`~geo.incidents.outcomes` (how a closed incident ended), :mod:`~geo.incidents.categories`
(categories as people type them), :mod:`~geo.incidents.photos` (photos without metadata),
:mod:`~geo.incidents.detail` (what staff need to act: allowed transitions, co-owners, grid
chain, workers) and :mod:`~geo.incidents.reassign` (moving one to another micro-grid).
"""

from geo.incidents.access import own_grid_codes
from geo.incidents.categories import category_key, category_list
from geo.incidents.lifecycle import escalate_overdue, transition
from geo.incidents.photos import add_photo, check_upload, read_photo
from geo.incidents.ratelimit import count_public_report
from geo.incidents.reading import get_incident, list_incidents, read_incident
from geo.incidents.reassign import reassign
from geo.incidents.report import create_incident, reissue_reporter_token
from geo.incidents.rules import AUDIENCES, TRANSITIONS, deadlines
from geo.incidents.views import public_view, reporter_view, staff_view

__all__ = [
    "AUDIENCES",
    "TRANSITIONS",
    "add_photo",
    "category_key",
    "category_list",
    "check_upload",
    "count_public_report",
    "create_incident",
    "deadlines",
    "escalate_overdue",
    "get_incident",
    "list_incidents",
    "own_grid_codes",
    "public_view",
    "read_incident",
    "read_photo",
    "reassign",
    "reissue_reporter_token",
    "reporter_view",
    "staff_view",
    "transition",
]
