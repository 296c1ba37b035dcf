"""PostGIS's answer to "which micro-grid holds this point": the same edge and floor rules as
the in-process locator (:meth:`geo.locate.index.Locator.resolve`), by ``ST_Covers`` through
the GiST index. It proves the in-process engine (tests) and is measured beside it
(``bench/assign.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.settings import get_settings

__all__ = ["sql_covering"]


def sql_covering(
    session: Session,
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    floors: Sequence[int | None] | None = None,
    tolerance_m: float | None = None,
) -> list[tuple[int | None, str, list[int]]]:
    """PostGIS's answer under the same rules: (micro-grid id or None, inside|nearest|outside,
    co-owner ids) for each storage-CRS point — the floor rule first (a point in the cell of a
    unit split by floors: the group holding its floor, else the lowest floors with the other
    groups as co-owners), then the edge rule. Used to prove the in-process engine
    (:meth:`geo.locate.index.Locator.resolve`), and in the benchmark."""
    tol = get_settings().locate_tolerance_m if tolerance_m is None else tolerance_m
    s = get_settings()
    fl = list(floors) if floors is not None else [None] * len(xs)
    rows = session.execute(
        text(f"""
        WITH p AS (
          SELECT i, f, ST_SetSRID(ST_MakePoint(x, y), {s.storage_srid}) AS geom
          FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[]), CAST(:fs AS int[]))
            WITH ORDINALITY AS t(x, y, f, i)
        ), micro AS (
          SELECT g.id, g.code, g.boundary FROM grid g
          JOIN grid_version v ON v.id = g.version_id AND v.status = 'published'
          WHERE g.level = 'micro'
        ), floors AS (
          SELECT m.unit_id, m.grid_id, m.floor_min, m.floor_max, m.cell FROM grid_member m
          JOIN micro ON micro.id = m.grid_id WHERE m.cell IS NOT NULL
        ), hit AS (
          SELECT p.i, p.f, p.geom,
            (SELECT fl.unit_id FROM floors fl WHERE ST_Covers(fl.cell, p.geom)
              ORDER BY fl.unit_id LIMIT 1) AS unit
          FROM p
        )
        SELECT h.i,
          (SELECT fl.grid_id FROM floors fl WHERE fl.unit_id = h.unit
            ORDER BY (h.f BETWEEN fl.floor_min AND fl.floor_max) IS TRUE DESC, fl.floor_min
            LIMIT 1) AS by_floor,
          (SELECT coalesce(array_agg(o.grid_id ORDER BY o.first), '{{}}') FROM (
              SELECT fl.grid_id, min(fl.floor_min) AS first FROM floors fl
              WHERE fl.unit_id = h.unit AND NOT EXISTS (SELECT 1 FROM floors held
                WHERE held.unit_id = h.unit AND h.f BETWEEN held.floor_min AND held.floor_max)
              AND fl.grid_id <> (SELECT x.grid_id FROM floors x WHERE x.unit_id = h.unit
                ORDER BY x.floor_min LIMIT 1)
              GROUP BY fl.grid_id) o) AS co_owners,
          (SELECT m.id FROM micro m WHERE ST_Covers(m.boundary, h.geom)
            ORDER BY m.code COLLATE "C" LIMIT 1) AS inside,
          (SELECT m.id FROM micro m
            WHERE ST_DWithin(ST_Transform(m.boundary, {s.metric_srid}),
                             ST_Transform(h.geom, {s.metric_srid}), :tol)
            ORDER BY ST_Distance(ST_Transform(m.boundary, {s.metric_srid}),
                                 ST_Transform(h.geom, {s.metric_srid})), m.code COLLATE "C"
            LIMIT 1) AS nearest
        FROM hit h ORDER BY h.i"""),
        {"xs": list(map(float, xs)), "ys": list(map(float, ys)), "fs": fl, "tol": tol},
    ).all()
    out: list[tuple[int | None, str, list[int]]] = []
    for _, by_floor, co, inside, nearest in rows:
        if by_floor is not None:
            out.append((int(by_floor), "inside", [int(g) for g in co]))
        elif inside is not None:
            out.append((int(inside), "inside", []))
        elif nearest is not None and tol > 0:
            out.append((int(nearest), "nearest", []))
        else:
            out.append((None, "outside", []))
    return out
