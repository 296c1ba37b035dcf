"""Import and export of layers (GeoJSON, GeoPackage, Shapefile, CSV) through pyogrio.

Import is all-or-nothing. :func:`import_file` reads the file, checks every row — attributes
(required, typed, known vocabulary), keys (unique in the file and not yet stored), geometry
(present, of the right type, valid, plausible coordinates for the CRS given, inside its parent
area, not overlapping its neighbours) — and only when no row has a problem writes the rows in
the caller's transaction. Otherwise it raises :class:`~geo.errors.ImportValidationError` naming
every bad row, and nothing is written. :func:`validate_file` runs the checks alone (every
problem carries a ``reason`` key, :data:`REASONS`); :mod:`geo.io.checks` reports them in full
(``wangge import --check``) and writes the rows at fault to a problems file.

The CRS of the input is never guessed: the file's own CRS, or ``crs=`` (which may also say that
WGS84-labelled coordinates are really GCJ-02 or BD-09). A file with neither is refused. GeoJSON
without a ``crs`` member is WGS84 by RFC 7946.

Rules for the edge cases (documented in the README):

* A building astride two compounds is refused at import, naming both compounds and the share of
  its footprint in each; the data owner decides which compound it belongs to.
* A child may stick out of its parent by at most ``parent_tolerance_m`` metres.
* A household's position must lie within ``household_tolerance_m`` of its building; a household
  without a position gets a point inside its building's footprint.

The modules: :mod:`.read` (reading a file and its CRS), :mod:`.checks` (the checks and the
check report), :mod:`.kinds` (each kind's own checks and write), :mod:`.write` (COPY),
:mod:`.importer` (the import of one file), :mod:`.export`, :mod:`.formats` (suffix → driver),
:mod:`.csvcells` (CSV cells safe from spreadsheets), :mod:`.fixture` (the bundled fixture).
"""

from __future__ import annotations

from geo.io.checks import REASONS, CheckedFile, validate_file
from geo.io.export import export_layer, is_private_export
from geo.io.importer import ImportReport, import_file
from geo.io.read import RawLayer, read_layer

__all__ = [
    "REASONS",
    "CheckedFile",
    "ImportReport",
    "RawLayer",
    "export_layer",
    "import_file",
    "is_private_export",
    "read_layer",
    "validate_file",
]
