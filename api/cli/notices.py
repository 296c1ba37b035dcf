"""``wangge notices``: emergency-notice messages left pending delivered (from cron)."""

from __future__ import annotations

import typer

from api.cli.console import friendly, out
from api.cli.db import database

__all__ = ["app"]

app = typer.Typer(help="应急通知 (emergency notices).", no_args_is_help=True)


@app.command("deliver")
@friendly
def notices_deliver() -> None:
    """发送待发消息 (send the outbox messages still pending — e.g. after a stop mid-delivery;
    run it from cron every minute)."""
    from sqlalchemy.orm import sessionmaker

    from geo.notices import deliver

    sent, failed = deliver(sessionmaker(database(), expire_on_commit=False))
    out.print(f"已发送 (sent): {sent}  失败 (failed): {failed}")
