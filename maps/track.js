/* Wangge tracking page (/app/track#<code>.<token>): the reporter's own view of its report.
   The code and the reporter token come from the URL fragment, which the browser never sends;
   the page moves them into this tab's sessionStorage (so that a reload still works), clears
   the fragment from the address bar (history.replaceState), and sends the token only as the
   X-Reporter-Token header of GET /incidents/{code} and in the body of the confirm / reopen
   transition — never in a URL. No cookies are sent (credentials: "omit"): the page is the
   reporter's, whoever is signed in on this browser. Configuration in window.WANGGE
   (maps/track.py). */
(function () {
  "use strict";
  var C = window.WANGGE || {};
  if (C.kind !== "track") return;
  var WG = (window.WG = window.WG || {});
  var KEY = "wangge.track";
  var T = (WG.track = { code: null, incident: null, loaded: 0, busy: false });
  var token = null;
  var BY = { reporter: "上报人 (you)", worker: "网格员 (grid worker)", dispatcher: "调度员 (dispatcher)", admin: "管理员 (admin)", system: "系统 (system)" };

  var U = window.WGU, say = U.say;  // maps/app_util.js
  function $(id) { return document.getElementById(id); }
  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }
  function statusName(s) { return (C.statuses || {})[s] || s; }

  // the code and token: from the fragment (then cleared), else from this tab's storage
  function credentials() {
    var h = location.hash.replace(/^#/, "");
    if (h) {
      try { history.replaceState(null, "", location.pathname + location.search); } catch (e) { /* ignore */ }
      var dot = h.indexOf(".");
      if (dot > 0 && dot < h.length - 1) {
        var pair = { code: decodeURIComponent(h.slice(0, dot)), token: decodeURIComponent(h.slice(dot + 1)) };
        try { sessionStorage.setItem(KEY, JSON.stringify(pair)); } catch (e) { /* storage off */ }
        return pair;
      }
      return null;
    }
    try {
      var kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (kept && kept.code && kept.token) return kept;
    } catch (e) { /* ignore */ }
    return null;
  }

  function api(method, path, body) {  // no cookie, no cache, no referrer; the token in a header
    return U.call(method, path, {
      body: body, api: C.api, credentials: "omit",
      headers: { "X-Reporter-Token": method === "GET" ? token : null },
      fetch: { cache: "no-store", referrerPolicy: "no-referrer" },
    });
  }

  function refused(res) {
    var b = res.body || {};
    if (res.status === 403 || res.status === 404) {
      say("此跟踪链接无效或已失效，无法查看该事件。请使用上报后收到的链接。\n" +
        "(This tracking link is not valid: the incident cannot be shown. Use the link you got when you reported.)", true);
      $("wg-report").hidden = true;
      return;
    }
    say((b.message || "HTTP " + res.status), true);
  }

  function render(inc) {
    T.incident = inc;
    $("wg-report").hidden = false;
    $("wg-code").textContent = inc.code;
    $("wg-category").textContent = inc.category_name || inc.category;
    $("wg-status").textContent = inc.status_name || statusName(inc.status);
    $("wg-status").setAttribute("data-status", inc.status);
    var out = $("wg-outcome");
    out.setAttribute("data-outcome", inc.outcome || "");
    out.textContent = inc.outcome ? (inc.outcome_name || inc.outcome) + (inc.referred_to ? "：" + inc.referred_to : "")
      : "尚无 (none yet)";
    $("wg-due").textContent = inc.due ? when(inc.due) + (inc.overdue ? " 已超时 (overdue)" : "") : "—";
    var ol = $("wg-history");
    ol.textContent = "";
    (inc.history || []).forEach(function (e) {
      var li = document.createElement("li");
      li.setAttribute("data-testid", "track-event");
      li.setAttribute("data-status", e.to_status);
      var t = document.createElement("time");
      t.dateTime = e.at;
      t.textContent = when(e.at);
      li.appendChild(t);
      // an event that keeps the status is a reassignment to another grid (改派)
      var what = e.from_status && e.from_status === e.to_status ? "改派到其他网格 (moved to another grid)" : statusName(e.to_status);
      li.appendChild(document.createTextNode(what + (e.by ? " · " + (BY[e.by] || e.by) : "") +
        (e.note ? " · " + e.note : "")));
      ol.appendChild(li);
    });
    var allowed = inc.allowed || [];
    $("wg-confirm").hidden = allowed.indexOf("closed") < 0;
    $("wg-reopen").hidden = allowed.indexOf("reopened") < 0;
    $("wg-act").hidden = allowed.length === 0;
  }

  function load() {
    return api("GET", "/incidents/" + encodeURIComponent(T.code)).then(function (res) {
      T.loaded += 1;
      if (!res.ok) return refused(res);
      render(res.body);
      if (!T.busy) say("");
    });
  }

  function move(to) {
    if (T.busy) return;
    T.busy = true;
    var note = $("wg-note").value.trim();
    var body = { to: to, reporter_token: token };
    if (note) body.note = note;
    api("POST", "/incidents/" + encodeURIComponent(T.code) + "/transitions", body).then(function (res) {
      T.busy = false;
      if (!res.ok) return refused(res);
      $("wg-note").value = "";
      render(res.body);
      say(to === "closed" ? "已确认解决，谢谢！(Confirmed solved — thank you.)" :
        "已重新打开，网格员会再次处理。(Reopened: the grid will take it up again.)");
    });
  }

  function start() {
    var pair = credentials();
    if (!pair) {
      say("没有跟踪凭证：请打开上报后收到的跟踪链接。\n(No tracking token: open the tracking link you got when you reported.)", true);
      WG.ready = true;
      return;
    }
    T.code = pair.code;
    token = pair.token;
    $("wg-confirm").addEventListener("click", function () { move("closed"); });
    $("wg-reopen").addEventListener("click", function () { move("reopened"); });
    $("wg-refresh").addEventListener("click", function () { load(); });
    load().then(function () { WG.ready = true; });
  }

  start();
})();
