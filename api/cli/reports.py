"""The tables printed for a partition and for a validation report (by ``partition``,
``validate``, ``demo`` and ``plan validate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from api.cli.console import out

if TYPE_CHECKING:
    from geo.core.validate import ValidationReport
    from geo.partition import PartitionResult

__all__ = ["print_partition", "print_validation"]


def print_partition(
    res: PartitionResult, rep: ValidationReport, version: int | None, dry_run: bool
) -> None:
    """A community's compound grids (households, micro-grids, sizes, status), its summary,
    the validation, and whether it was written."""
    s = res.summary()
    table = Table(
        title=f"{res.community} 网格划分 (partition), {res.params['min']}–{res.params['max']} 户"
    )
    for col in (
        "小区网格 (compound grid)",
        "户 (households)",
        "微网格 (micro)",
        "户数 (sizes)",
        "拆分楼栋 (split)",
        "状态 (status)",
    ):
        table.add_column(col)
    for c in res.compound_grids:
        sizes = sorted(m.households for m in c.micro)
        span = f"{sizes[0]}–{sizes[-1]}" if sizes else "-"
        status = c.status if c.status == "ok" else f"[yellow]{c.status}[/]: {c.reason}"
        if not c.proven:  # the search reached a limit: the best grouping found, not proven
            status = f"[red]未证明 (not proven)[/] {status}"
        if c.note:
            status = f"{status}; [cyan]{c.note}[/]"
        table.add_row(
            f"{c.code} {c.name}",
            str(c.households),
            str(len(c.micro)),
            span,
            str(c.split_buildings),
            status,
        )
    out.print(table)
    out.print(
        f"微网格 (micro-grids) {s['micro_grids']}, 在区间内 (in band) {s['in_band']} "
        f"({s['in_band_share']:.0%}), 连通 (contiguous) {s['contiguous_share']:.0%}, "
        f"拆分楼栋 (split buildings) {s['split_buildings']}, Polsby–Popper 中位数 (median) "
        f"{s['polsby_popper_median']:.2f}, 最大直线跨度 (largest straight-line spread) "
        f"{s['spread_m_max']:.0f} m"
    )
    print_validation(rep)
    if rep.ok and not dry_run:
        out.print(f"[green]已写入新版本 (written as version id {version})[/]")
        if res.assignment:
            out.print(
                "重新分配 (re-assigned): "
                + ", ".join(f"{k}={v}" for k, v in res.assignment.items())
            )
    elif not rep.ok:
        out.print("[red]校验失败，未写入 (validation failed; nothing written)[/]")


def print_validation(rep: ValidationReport) -> None:
    """The findings as a table, then the count of errors and warnings."""
    if rep.findings:
        t = Table("级别 (severity)", "检查 (check)", "网格 (grid)", "说明 (finding)")
        for row in rep.rows():
            t.add_row(*row)
        out.print(t)
    out.print(
        f"校验 (validation): {len(rep.errors)} 错误 (errors), {len(rep.warnings)} 警告 (warnings)"
    )
