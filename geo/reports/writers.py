"""A report as a file: CSV (UTF-8 with a BOM, so Excel and WPS read the Chinese; cells safe
from formula injection, :mod:`geo.io.csvcells`), XLSX (openpyxl: Chinese headers in a frozen
first row, widths to fit, the sheet named in Chinese) or PDF (reportlab, in its built-in CID
font STSong-Light: Chinese without a font file; the table paginated, its header on each page).
The same rows in each."""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any

from geo.errors import InputError
from geo.io.csvcells import csv_cell
from geo.reports.kinds import Report

__all__ = ["FORMATS", "check_format", "filename", "render"]

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
PDF_FONT = "STSong-Light"
PDF_MAX_ROWS = 5000  # about 130 pages; a city's micro-grids go to XLSX or CSV


def filename(report: Report, fmt: str) -> str:
    """``report-households-community-510107013001-2026-11-02_2026-12-01.xlsx`` (ASCII)."""
    s, p = report.scope, report.period
    where = s.code or "all"
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in where)
    return f"report-{report.kind}-{s.level}-{safe}-{p.first}_{p.last}.{fmt}"


def _csv(report: Report) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(report.headers())
    for row in report.rows:
        w.writerow(["" if v is None else csv_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _width(value: Any) -> int:
    """Columns a value takes: a CJK character counts two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(value))


def _xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = report.title[0]
    wb.properties.title = f"{report.title[0]} ({report.title[1]})"
    wb.properties.subject = report.subtitle()
    ws.append(report.headers())
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in report.rows:
        # characters a spreadsheet cannot hold (C0 controls) would fail the whole report
        ws.append(
            [ILLEGAL_CHARACTERS_RE.sub("\ufffd", v) if isinstance(v, str) else v for v in row]
        )
        for cell in ws[ws.max_row]:
            if cell.data_type == "f":  # text starting with "=" is text, never a formula
                cell.data_type = "s"
    ws.freeze_panes = "A2"
    for i, head in enumerate(report.headers(), 1):
        longest = max(
            [_width(head), *(_width(r[i - 1]) for r in report.rows if r[i - 1] is not None)]
        )
        ws.column_dimensions[get_column_letter(i)].width = min(60, longest + 2)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _col_widths(report: Report, total: float) -> list[float]:
    """Column widths (points) summing to ``total``, shared by each column's longest text
    (headers wrap at their space: the longer of the Chinese and the English counts)."""
    need = [
        max(
            [*(_width(part) for part in f"{zh} {en}".split(" ", 1)), 4]
            + [_width(r[i]) for r in report.rows[:500] if r[i] is not None]
        )
        for i, (zh, en) in enumerate(report.columns)
    ]
    capped = [min(n, 40) for n in need]
    return [total * n / sum(capped) for n in capped]


def _pdf(report: Report) -> bytes:
    if len(report.rows) > PDF_MAX_ROWS:
        raise InputError(
            f"PDF 最多 {PDF_MAX_ROWS} 行 (a PDF holds at most {PDF_MAX_ROWS} rows; this report has "
            f"{len(report.rows)}): 请用 xlsx 或 csv，或缩小范围 (use xlsx or csv, or a smaller scope)"
        )
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    cell = ParagraphStyle("cell", fontName=PDF_FONT, fontSize=7, leading=9)
    head = ParagraphStyle("head", parent=cell, textColor=colors.white)
    title = ParagraphStyle("title", fontName=PDF_FONT, fontSize=14, leading=18)
    sub = ParagraphStyle("sub", fontName=PDF_FONT, fontSize=9, leading=12)

    def para(value: Any, style: ParagraphStyle) -> Paragraph:
        t = "" if value is None else str(value)
        return Paragraph(t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), style)

    data = [[para(h, head) for h in report.headers()]]
    data += [[para(v, cell) for v in row] for row in report.rows]
    if not report.rows:
        data.append([para("无数据 (no rows)", cell)] + [para("", cell)] * (len(report.columns) - 1))
    table = LongTable(data, colWidths=_col_widths(report, landscape(A4)[0] - 56), repeatRows=1)
    table.setStyle(
        [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#2c3e50")),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f1ea")]),
        ]
    )
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        title=f"{report.title[0]} ({report.title[1]})",
        author="网格 Wangge",
        leftMargin=28,
        rightMargin=28,
        topMargin=28,
        bottomMargin=28,
    )
    story = [
        Paragraph(f"{report.title[0]} ({report.title[1]})", title),
        Paragraph(para(report.subtitle(), sub).text, sub),
        Spacer(1, 8),
        table,
    ]
    doc.build(story)
    return out.getvalue()


WRITERS = {"csv": _csv, "xlsx": _xlsx, "pdf": _pdf}


def check_format(fmt: str) -> None:
    """An InputError naming ``fmt`` unless it is csv, xlsx or pdf."""
    if fmt not in WRITERS:
        raise InputError(f"未知格式 (unknown format) {fmt!r}; 可用 (use): {', '.join(WRITERS)}")


def render(report: Report, fmt: str) -> bytes:
    """The report as a ``fmt`` file's bytes (csv, xlsx, pdf; another is an InputError)."""
    check_format(fmt)
    return WRITERS[fmt](report)
