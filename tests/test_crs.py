"""CRS parsing and transforms, checked against known coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from geo.core.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    check_lonlat,
    from_storage,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_crs,
    to_storage,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import CRSError

# Reference values computed with two independent public implementations, prcoords 1.0.2 and
# eviltransform 0.1.1, which agree with each other to 1e-7°: WGS84 → GCJ-02 → BD-09.
KNOWN = [
    # (wgs lon, wgs lat, gcj lon, gcj lat, bd lon, bd lat)
    ("天府广场 Tianfu Square", 104.0657, 30.6595, 104.0682074, 30.6570791, 104.0747017, 30.6631093),
    ("晋阳街道 Jinyang", 104.027, 30.628, 104.0294018, 30.6254822, 104.0358424, 30.6317530),
    ("天安门 Tiananmen", 116.397428, 39.90923, 116.4036717, 39.9106335, 116.4100442, 39.9169729),
]


@pytest.mark.parametrize("name,lon,lat,glon,glat,blon,blat", KNOWN, ids=[k[0] for k in KNOWN])
def test_gcj02_and_bd09_match_reference_values(name, lon, lat, glon, glat, blon, blat):
    gx, gy = wgs84_to_gcj02(lon, lat)
    assert (float(gx), float(gy)) == pytest.approx((glon, glat), abs=2e-7)
    bx, by = wgs84_to_bd09(lon, lat)
    assert (float(bx), float(by)) == pytest.approx((blon, blat), abs=2e-7)
    # inverses recover WGS84 to a centimetre
    assert tuple(map(float, gcj02_to_wgs84(glon, glat))) == pytest.approx((lon, lat), abs=2e-7)
    assert tuple(map(float, bd09_to_wgs84(blon, blat))) == pytest.approx((lon, lat), abs=2e-7)


def test_offsets_are_hundreds_of_metres_in_chengdu():
    # the reason GCJ-02 must be declared: about 300-950 m in Chengdu
    from geo.core.crs import metric_crs, storage_crs, transformer

    t = transformer(storage_crs(), metric_crs())
    x0, y0 = t.transform(104.0657, 30.6595)
    for fn in (wgs84_to_gcj02, wgs84_to_bd09):
        x1, y1 = t.transform(*map(float, fn(104.0657, 30.6595)))
        assert 250 < np.hypot(x1 - x0, y1 - y0) < 1200


def test_round_trips_are_exact_on_many_points():
    rng = np.random.default_rng(1)
    lon = rng.uniform(103.9, 104.2, 10_000)
    lat = rng.uniform(30.5, 30.8, 10_000)
    for fwd, back in ((wgs84_to_gcj02, gcj02_to_wgs84), (gcj02_to_bd09, bd09_to_gcj02)):
        x, y = back(*fwd(lon, lat))
        assert np.max(np.abs(x - lon)) < 1e-9 and np.max(np.abs(y - lat)) < 1e-9


def test_outside_china_gcj_is_identity():
    x, y = wgs84_to_gcj02(2.35, 48.85)
    assert (float(x), float(y)) == (2.35, 48.85)


def test_cgcs2000_gauss_kruger_known_point():
    # On the central meridian (105°E) easting is the false easting and northing the meridian
    # arc length: 3,320,113.398 m at 30°N on the CGCS2000/GRS80 ellipsoid.
    x, y = from_storage([105.0], [30.0], "EPSG:4544")
    assert float(x[0]) == pytest.approx(500_000.0, abs=1e-6)
    assert float(y[0]) == pytest.approx(3_320_113.398, abs=0.01)
    lon, lat = to_storage(x, y, "EPSG:4544")
    assert (float(lon[0]), float(lat[0])) == pytest.approx((105.0, 30.0), abs=1e-9)


def test_chengdu_point_in_epsg4544_is_west_of_the_meridian():
    x, y = from_storage([104.0657], [30.6595], "EPSG:4544")
    # 104.0657°E is about 89.6 km west of 105°E at this latitude
    assert 410_000 < float(x[0]) < 411_000
    assert 3_392_000 < float(y[0]) < 3_394_000


@pytest.mark.parametrize(
    "spelling,epsg,offset",
    [
        ("wgs84", 4326, None),
        ("WGS84", 4326, None),
        ("EPSG:4326", 4326, None),
        ("CRS84", None, None),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", None, None),
        ("cgcs2000", 4490, None),
        ("EPSG:4490", 4490, None),
        ("4490", 4490, None),
        (4490, 4490, None),
        ("http://www.opengis.net/def/crs/EPSG/0/4490", 4490, None),
        ("EPSG:4544", 4544, None),
        ("gcj02", 4326, "gcj02"),
        ("GCJ-02", 4326, "gcj02"),
        ("bd09", 4326, "bd09"),
        ("BD-09", 4326, "bd09"),
    ],
    ids=str,
)
def test_parse_crs_spellings(spelling, epsg, offset):
    spec = parse_crs(spelling)
    assert spec.offset == offset
    if epsg is None:
        assert spec.crs.to_authority() == ("OGC", "CRS84")
    else:
        assert spec.crs.to_epsg() == epsg


@pytest.mark.parametrize("bad", [None, "", "EPSG:999999", "mercator-ish", "gcj03"], ids=repr)
def test_parse_crs_refuses_missing_or_unknown(bad):
    with pytest.raises(CRSError) as exc:
        parse_crs(bad)
    if bad:
        assert repr(bad) in str(exc.value)


def test_storage_transform_from_gcj02_and_bd09():
    lon, lat = to_storage([104.0682074], [30.6570791], "gcj02")
    assert (float(lon[0]), float(lat[0])) == pytest.approx((104.0657, 30.6595), abs=2e-7)
    lon, lat = to_storage([104.0747017], [30.6631093], parse_crs("bd09"))
    assert (float(lon[0]), float(lat[0])) == pytest.approx((104.0657, 30.6595), abs=2e-7)


def test_check_lonlat_names_each_problem():
    x = [104.02, 30.62, 410_000.0, float("nan"), 2.35]
    y = [30.62, 104.02, 3_390_000.0, 30.0, 48.85]
    problems = dict(check_lonlat(x, y, "wgs84"))
    assert 0 not in problems
    assert "swapped" in problems[1] and "(104.02, 30.62)" in problems[1]
    assert "out of range" in problems[2]
    assert "finite" in problems[3]
    assert "served area" in problems[4]


def test_check_lonlat_projected_crs_refuses_degrees():
    problems = dict(check_lonlat([104.02, 410_000.0], [30.62, 3_392_000.0], "EPSG:4544"))
    assert list(problems) == [0]
    assert "look like degrees" in problems[0]
