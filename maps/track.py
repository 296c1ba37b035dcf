"""The reporter's tracking page (``/app/track``): a plain page (no map) and its own script
``maps/track.js``, which reads the incident's code and the reporter token from the URL
fragment (``/app/track#<code>.<token>``), asks ``GET /incidents/{code}`` with the header
``X-Reporter-Token``, clears the fragment from the address bar, and shows the number, category,
status, outcome and the public history, with buttons to confirm (close) or reopen when the
state machine lets the reporter.

The token lives only in the fragment, which a browser never sends: it is in no request
path or query, so in no access log and no ``Referer`` (the page also sends no referrer). The
page's one script and one style run by the answer's nonce (``maps/policy.py``)."""

from __future__ import annotations

import json

from maps.assets import own_js
from maps.page import text as esc
from maps.policy import new_nonce

__all__ = ["TRACK_CSS", "track_page"]

TRACK_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;margin:0;background:#f4f6f8;
  color:#1d1d1f;font-size:16px;line-height:1.5}
main{max-width:40rem;margin:0 auto;padding:1rem;background:#fff;min-height:100vh}
h1{font-size:1.25rem;margin:.2rem 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem .8rem;margin:0 0 1rem}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
#wg-status{font-weight:600;color:#1a5fb4}
ol{list-style:none;padding:0;margin:0 0 1rem;border-left:3px solid #d0d7de}
ol li{padding:.3rem .6rem;overflow-wrap:anywhere}
ol time{color:#555;font-size:.9rem;display:block}
textarea{width:100%;font-size:1rem;padding:.5rem;min-height:3.5rem}
.actions{display:flex;flex-wrap:wrap;gap:.6rem;margin:.6rem 0}
button{min-height:44px;min-width:44px;padding:.5rem 1rem;font-size:1rem;border-radius:6px;
  border:1px solid #1a5fb4;background:#1a5fb4;color:#fff;flex:1 1 10rem}
button.second{background:#fff;color:#1a5fb4}
button[hidden],section[hidden]{display:none}
#wg-message{padding:.6rem;border-radius:6px;background:#eef4fb;white-space:pre-wrap;
  overflow-wrap:anywhere;margin:0 0 1rem}
#wg-message:empty{display:none}
#wg-message.error{background:#fdecea;color:#a51d2d}
.who{font-size:.9rem;color:#555}
"""

BODY = """<main>
<h1>事件跟踪 <small>(track your report)</small></h1>
<p id="wg-message" data-testid="message" role="status" aria-live="polite"></p>
<section id="wg-report" hidden>
<dl>
<dt>编号 (number)</dt><dd id="wg-code" data-testid="track-code"></dd>
<dt>类别 (category)</dt><dd id="wg-category" data-testid="track-category"></dd>
<dt>状态 (status)</dt><dd id="wg-status" data-testid="track-status"></dd>
<dt>结果 (outcome)</dt><dd id="wg-outcome" data-testid="track-outcome"></dd>
<dt>期限 (due)</dt><dd id="wg-due" data-testid="track-due"></dd>
</dl>
<h2>处理经过 (history)</h2>
<ol id="wg-history" data-testid="track-history"></ol>
<div id="wg-act" hidden>
<label for="wg-note">留言 (a note, optional)</label>
<textarea id="wg-note" data-testid="track-note" maxlength="2000"></textarea>
<div class="actions">
<button id="wg-confirm" data-testid="track-confirm" type="button" hidden>确认已解决 (confirm solved)</button>
<button id="wg-reopen" data-testid="track-reopen" class="second" type="button" hidden>重新打开 (reopen)</button>
</div>
</div>
<div class="actions"><button id="wg-refresh" data-testid="track-refresh" class="second"
type="button">刷新 (refresh)</button></div>
<p class="who">您看到的是您自己的上报：处理人员只显示角色，不显示姓名和内部备注。
(You see your own report: who acted is shown by role only, never staff names or internal
notes.)</p>
</section>
<p><a href="{home}" data-testid="track-home">返回居民服务页 (back to the residents' page)</a></p>
</main>"""


def track_page(
    *, api: str, statuses: dict[str, str], home: str, nonce: str | None = None
) -> tuple[str, str]:
    """The page and its Content-Security-Policy: ``api`` is the API's path prefix (``""``
    when served at the root), ``statuses`` the Chinese name of each status, ``home`` the
    residents' page."""
    nonce = nonce or new_nonce()
    cfg = json.dumps({"kind": "track", "api": api, "statuses": statuses}, ensure_ascii=False)
    cfg = cfg.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<link rel="icon" href="data:,">'
        "<title>事件跟踪 (track your report) · 网格 Wangge</title>"
        f'<style nonce="{nonce}">{TRACK_CSS}</style></head><body>'
        + BODY.replace("{home}", esc(home))
        + f'<script nonce="{nonce}">window.WANGGE = {cfg};</script>'
        + f'<script nonce="{nonce}">{own_js("app_util.js")}</script>'
        + f'<script nonce="{nonce}">{own_js("track.js")}</script>'
        + "</body></html>"
    )
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return page, csp
