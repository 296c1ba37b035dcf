/* Wangge incident console (/app/dispatcher): the caller's incidents from GET /incidents (its
   scope, as the server decides), sorted by deadline and polled every few seconds, on the map
   and in a list with filters; one incident's detail (GET /incidents/{code}) with its history,
   grid chain, workers and reporter contact (as the role allows), the allowed next states as
   buttons with a note (closing records an outcome), reassignment to a co-owner grid; a locate
   box (an address, "lon,lat", or a click on the map). Configuration in window.WANGGE
   (maps/dispatch_app.py); runs after maps/wangge.js. */
(function () {
  "use strict";
  var U = window.WGU, esc = U.esc, byTest = U.byTest;  // maps/app_util.js
  var C = window.WANGGE;
  if (C.kind !== "console") return;
  var WG = window.WG;
  var E = (WG.console = { incidents: {}, markers: {}, selected: null, csrf: null, seen: null, polls: 0, full: 0, busy: 0, latest: null, total: 0 });

  function when(iso) { return iso ? String(iso).replace("T", " ").slice(0, 16) : "—"; }
  var say = U.say, reason = U.reason;
  function api(method, path, body) { return U.call(method, path, { body: body, csrf: E.csrf, api: C.api }); }
  function failed(res) {
    say(reason(res) + (res.status === 401 ? "\n请重新登录 (sign in again)" : ""), true);
    if (res.status === 401) U.signInAgain(C.api);
  }
  function statusName(s) { return C.statuses[s] || s; }
  function options(map, all) {
    return '<option value="">' + all + "</option>" + Object.keys(map).map(function (k) {
      return '<option value="' + esc(k) + '">' + esc(map[k]) + " (" + esc(k) + ")</option>";
    }).join("");
  }

  // --- the panel ----------------------------------------------------------------------------
  function panel() {
    var d = document.createElement("div");
    d.id = "wg-console";
    d.className = "wg-panel";
    d.innerHTML =
      "<h3>事件调度台 <small>incident console</small></h3>" +
      '<div class="row">' + esc(C.user.name) + " (" + esc(C.user.role) + ') <button data-testid="logout">退出 (sign out)</button></div>' +
      '<div class="wg-message" data-testid="message" role="status" aria-live="polite"></div>' +
      "<h4>定位 (locate)</h4>" +
      '<div class="row"><input id="wg-locate-input" data-testid="locate-input" placeholder="地址，或 经度,纬度；或点击地图 (an address, lon,lat, or click the map)">' +
      '<button data-testid="locate-submit">定位 (locate)</button></div>' +
      '<div id="wg-locate" data-testid="locate-result"></div>' +
      "<h4>筛选 (filter)</h4>" +
      '<div class="row"><select data-testid="filter-status" aria-label="状态 (status)">' + options(C.statuses, "全部状态 (all statuses)") + "</select>" +
      '<select data-testid="filter-category" aria-label="类别 (category)">' + options(C.categories, "全部类别 (all categories)") + "</select></div>" +
      '<div class="row"><label><input type="checkbox" data-testid="filter-overdue"> 只看超时 (overdue only)</label>' +
      '<input data-testid="filter-grid" placeholder="网格编码 (grid code)" size="18"></div>' +
      '<h4>事件 (incidents) <span data-testid="incident-count"></span></h4>' +
      '<ul id="wg-incident-list" data-testid="incident-list"></ul>' +
      '<div id="wg-detail" data-testid="incident-detail"></div>';
    document.body.appendChild(d);
    L.DomEvent.disableScrollPropagation(d);
    ["filter-status", "filter-category", "filter-overdue"].forEach(function (id) { byTest(id).addEventListener("change", function () { load(true); }); });
    byTest("filter-grid").addEventListener("change", function () { load(true); });
    byTest("locate-submit").addEventListener("click", locateTyped);
    byTest("locate-input").addEventListener("keydown", function (ev) { if (ev.key === "Enter") locateTyped(); });
    byTest("logout").addEventListener("click", function () { api("POST", "/logout").then(function () { location.href = (C.api || "") + "/login"; }); });
    byTest("incident-list").addEventListener("click", function (ev) {
      var li = ev.target.closest("li[data-code]");
      if (li) open(li.dataset.code, true);
    });
  }

  // --- the queue ----------------------------------------------------------------------------
  // A whole reload at the start, on a filter change and every FULL_EVERY polls (scope changes,
  // overdue flags that turn with the clock, the 500 limit); in between only what changed since
  // the newest change seen (GET /incidents?since=, the whole scope: a change that takes an
  // incident out of the filter must be seen too), merged into the list. The since time goes
  // back OVERLAP_MS, so a change committed late with an earlier time is not missed.
  var FULL_EVERY = 20, OVERLAP_MS = 30000;
  function filters() {
    return { status: byTest("filter-status").value, category: byTest("filter-category").value,
      grid: byTest("filter-grid").value.trim(), overdue: byTest("filter-overdue").checked };
  }
  function query(since) {
    var q = new URLSearchParams({ sort: "deadline", limit: "500" }), f = filters();
    if (since) { q.set("since", since); return "/incidents?" + q.toString(); }
    if (f.status) q.set("status", f.status);
    if (f.category) q.set("category", f.category);
    if (f.grid) q.set("grid", f.grid);
    if (f.overdue) q.set("overdue", "true");
    return "/incidents?" + q.toString();
  }
  function matches(i, f) {
    return (!f.status || i.status === f.status) && (!f.category || i.category === f.category) &&
      (!f.grid || i.micro_grid === f.grid || i.compound_grid === f.grid) && (!f.overdue || i.overdue);
  }
  function newest(list, upto) {
    list.forEach(function (i) {
      [i.reported_at, i.updated_at].forEach(function (t) { if (t && (!upto || Date.parse(t) > Date.parse(upto))) upto = t; });
    });
    return upto;
  }
  function sinceParam(t) { return t ? new Date(Date.parse(t) - OVERLAP_MS).toISOString() : null; }
  function dueOf(i) { return i.due || "9999"; }
  function load(reset) {
    var full = reset || !E.latest || E.polls % FULL_EVERY === 0;
    E.busy += 1;
    return api("GET", query(full ? null : sinceParam(E.latest))).then(function (res) {
      E.busy -= 1;
      if (!res.ok) return failed(res);
      var got = res.body.incidents, f = filters(), list;
      if (full) {
        list = got.slice();
        E.total = res.body.numberMatched;
      } else {
        var byCode = {};
        Object.keys(E.incidents).forEach(function (code) { byCode[code] = E.incidents[code]; });
        // the total is kept up to date only while the list holds every match (past the 500
        // shown, a change may concern one not in it: the next whole reload counts again)
        var complete = E.total <= Object.keys(byCode).length;
        got.forEach(function (i) {
          if (matches(i, f)) { if (!byCode[i.code] && complete) E.total += 1; byCode[i.code] = i; }
          else if (byCode[i.code]) { delete byCode[i.code]; if (complete) E.total -= 1; }
        });
        list = Object.keys(byCode).map(function (code) { return byCode[code]; });
      }
      E.latest = newest(got, full ? null : E.latest) || E.latest;
      list.sort(function (a, b) {  // the deadline first, overdue first (as sort=deadline does)
        return (b.overdue - a.overdue) || (dueOf(a) < dueOf(b) ? -1 : dueOf(a) > dueOf(b) ? 1 : 0) || (a.reported_at < b.reported_at ? 1 : -1);
      });
      var fresh = {};
      if (E.seen && !reset) list.forEach(function (i) { if (!E.seen[i.code]) fresh[i.code] = 1; });
      E.seen = E.seen || {};
      list.forEach(function (i) { E.seen[i.code] = 1; });
      draw(list, fresh);
      E.polls += 1;
      E.full += full ? 1 : 0;
      if (E.selected && fresh[E.selected] === undefined && E.incidents[E.selected] && !E.detailBusy) {
        var now = E.incidents[E.selected];
        if (E.shownUpdated && now.updated_at !== E.shownUpdated) open(E.selected, false);
      }
    });
  }
  function draw(list, fresh) {
    E.incidents = {};
    var ul = byTest("incident-list");
    ul.innerHTML = list.map(function (i) {
      E.incidents[i.code] = i;
      return '<li data-testid="incident-item" data-id="' + i.id + '" data-code="' + esc(i.code) + '" data-status="' + esc(i.status) + '"' +
        ' class="' + (i.code === E.selected ? "sel " : "") + (fresh[i.code] ? "new" : "") + '">' +
        '<i class="wg-dot" style="background:' + (C.status_colour[i.status] || "#999") + '"></i>' +
        "<b>" + esc(i.code) + "</b> " + esc(i.category_name) + " · " + esc(i.status_name) +
        '<br><span class="' + (i.overdue ? "overdue" : "") + '">' + (i.overdue ? "已超时 (overdue) " : "期限 (due) ") + esc(when(i.due)) + "</span> · " +
        esc(i.compound_name || i.micro_grid || "") + "</li>";
    }).join("");
    byTest("incident-count").textContent = "(" + list.length + (E.total > list.length ? " / " + E.total : "") + ")";
    for (var code in E.markers) if (!E.incidents[code]) { E.layer.removeLayer(E.markers[code]); delete E.markers[code]; }
    list.forEach(function (i) {
      var style = { radius: i.code === E.selected ? 10 : 7, color: i.overdue ? "#c0392b" : "#fff", weight: i.overdue ? 3 : 2,
        fillColor: C.status_colour[i.status] || "#999", fillOpacity: 0.9 };
      var m = E.markers[i.code];
      if (m) { m.setLatLng([i.lat, i.lon]); m.setStyle(style); return; }
      m = L.circleMarker([i.lat, i.lon], style).addTo(E.layer);
      m.bindTooltip(esc(i.code) + " · " + esc(i.category_name) + " · " + esc(i.status_name));
      m.on("click", function (ev) { L.DomEvent.stopPropagation(ev); open(i.code, false); });
      E.markers[i.code] = m;
    });
  }

  // --- one incident -------------------------------------------------------------------------
  function open(code, pan) {
    E.selected = code;
    E.detailBusy = true;
    Array.prototype.forEach.call(document.querySelectorAll("#wg-incident-list li"), function (li) { li.classList.toggle("sel", li.dataset.code === code); });
    return api("GET", "/incidents/" + encodeURIComponent(code)).then(function (res) {
      E.detailBusy = false;
      if (!res.ok) return failed(res);
      detail(res.body);
      if (pan) WG.map.panTo([res.body.lat, res.body.lon]);
    });
  }
  function chainOf(i) {
    if (i.grid_chain && i.grid_chain.length) {
      return i.grid_chain.map(function (g) { return esc(g.name ? g.name + " (" + g.code + ")" : g.code || g); }).join(" → ");
    }
    return [i.micro_grid, i.compound_name || i.compound_grid, i.community_name || i.community, i.street_name || i.street]
      .filter(function (x) { return x; }).map(esc).join(" → ");
  }
  function workersOf(ws) {
    return (ws || []).map(function (w) {
      return "<li>" + esc(w.name) + " · " + esc(w.role_name || w.role) + (w.phone ? " · ☎ " + esc(w.phone) : "") + "</li>";
    }).join("") || "<li>—</li>";
  }
  function detail(i) {
    E.shownUpdated = i.updated_at;
    var allowed = (i.allowed || []).map(function (a) { return typeof a === "string" ? { to: a, name: statusName(a) } : a; });
    var box = byTest("incident-detail");
    var coOwners = (i.co_owners && i.co_owners.length ? i.co_owners.map(function (c) { return c.grid; }) : i.co_owner_grids || []);
    box.innerHTML =
      "<h4>事件 (incident) " + esc(i.code) + "</h4><dl>" +
      "<dt>类别 · 状态 (category · status)</dt><dd>" + esc(i.category_name) + ' · <span data-testid="detail-status" data-status="' + esc(i.status) + '">' + esc(i.status_name) + "</span>" +
      (i.outcome ? ' · <span data-testid="detail-outcome">' + esc((C.outcomes[i.outcome] || i.outcome) + (i.referred_to ? " → " + i.referred_to : "")) + "</span>" : "") +
      (i.overdue ? ' · <b style="color:#a51d2d">已超时 (overdue)</b>' : "") + "</dd>" +
      "<dt>描述 (description)</dt><dd>" + esc(i.description) + "</dd>" +
      "<dt>地点 (where)</dt><dd>" + esc(i.address || "") + (i.floor != null ? " " + esc(i.floor) + "层" : "") + " (" + Number(i.lon).toFixed(6) + ", " + Number(i.lat).toFixed(6) + ")</dd>" +
      "<dt>网格链 (grid chain)</dt><dd data-testid=\"detail-chain\">" + chainOf(i) + "</dd>" +
      "<dt>时限 (deadlines)</dt><dd>上报 (reported) " + esc(when(i.reported_at)) + " · 受理 (accept) " + esc(when(i.accept_due)) + " · 处置 (handle) " + esc(when(i.handle_due)) + " · 办结 (resolve) " + esc(when(i.resolve_due)) + "</dd>" +
      "<dt>责任人 (responsible workers)</dt><dd><ul data-testid=\"detail-workers\">" + (i.workers ? workersOf(i.workers) : "<li>…</li>") + "</ul></dd>" +
      (i.reporter ? "<dt>报告人 (reporter; this read is audited)</dt><dd data-testid=\"detail-reporter\">" + esc(i.reporter.name || "匿名 (anonymous)") + (i.reporter.phone ? " · ☎ " + esc(i.reporter.phone) : "") + "</dd>" : "") +
      (i.duplicate_of ? '<dt>可能重复 (may duplicate)</dt><dd><a href="#" data-open="' + esc(i.duplicate_of) + '">' + esc(i.duplicate_of) + "</a></dd>" : "") +
      (coOwners.length ? "<dt>共管网格 (co-owner grids)</dt><dd>" + coOwners.map(function (g) {
        return esc(g) + ' <button data-testid="reassign-grid" data-grid="' + esc(g) + '">改派到此网格 (reassign here)</button>';
      }).join("<br>") + "</dd>" : "") +
      (i.photos && i.photos.length ? "<dt>照片 (photos)</dt><dd>" + i.photos.map(function (n) {
        return '<img data-testid="detail-photo" alt="照片 ' + n + '" src="' + (C.api || "") + "/incidents/" + encodeURIComponent(i.code) + "/photos/" + n + '">';
      }).join("") + "</dd>" : "") +
      "<dt>经过 (history)</dt><dd><ol data-testid=\"detail-history\">" + (i.history || []).map(function (h) {
        return "<li>" + esc(when(h.at)) + " " + esc(statusName(h.to_status)) + (h.actor ? " · " + esc(h.actor) : "") + (h.note ? " · " + esc(h.note) : "") + "</li>";
      }).join("") + "</ol></dd></dl>" +
      (allowed.length ? "<h4>流转 (next step)</h4>" +
        '<textarea data-testid="transition-note" rows="2" placeholder="说明 (note)"></textarea>' +
        (allowed.some(function (a) { return a.to === "closed"; }) ?
          '<div class="row">结果 (outcome) <select data-testid="transition-outcome">' + Object.keys(C.outcomes).map(function (k) {
            return '<option value="' + k + '">' + esc(C.outcomes[k]) + "</option>"; }).join("") + "</select>" +
          '<input data-testid="transition-referred-to" placeholder="转交给 (referred to)"></div>' : "") +
        '<div class="row">' + allowed.map(function (a) {
          return '<button data-testid="transition-' + esc(a.to) + '" data-to="' + esc(a.to) + '">' + esc(a.name || statusName(a.to)) + "</button>";
        }).join("") + "</div>" : "<div>没有可做的流转 (no transition open to you)</div>");
    Array.prototype.forEach.call(box.querySelectorAll("button[data-to]"), function (b) {
      b.addEventListener("click", function () { move(i.code, b.dataset.to); });
    });
    Array.prototype.forEach.call(box.querySelectorAll("button[data-grid]"), function (b) {
      b.addEventListener("click", function () { reassign(i.code, b.dataset.grid); });
    });
    Array.prototype.forEach.call(box.querySelectorAll("a[data-open]"), function (a) {
      a.addEventListener("click", function (ev) { ev.preventDefault(); open(a.dataset.open, true); });
    });
    if (!i.workers) {  // the responsible workers of where it is (phones as the role allows)
      api("GET", "/locate?lon=" + i.lon + "&lat=" + i.lat).then(function (res) {
        var ul = byTest("detail-workers");
        if (ul && res.ok && E.selected === i.code) ul.innerHTML = workersOf(res.body.workers);
      });
    }
  }
  function move(code, to) {
    var body = { to: to, note: byTest("transition-note").value.trim() || null };
    if (to === "closed") {
      body.outcome = byTest("transition-outcome").value;
      var ref = byTest("transition-referred-to").value.trim();
      if (ref && body.outcome === "referred") body.referred_to = ref;
    }
    return api("POST", "/incidents/" + encodeURIComponent(code) + "/transitions", body).then(function (res) {
      if (!res.ok) return failed(res);
      say("已流转 (moved): " + code + " → " + statusName(to));
      return Promise.all([open(code, false), load(false)]);  // the detail whole (photos, chain, workers)
    });
  }
  function reassign(code, grid) {
    var note = byTest("transition-note") ? byTest("transition-note").value.trim() : "";
    return api("POST", "/incidents/" + encodeURIComponent(code) + "/reassign", { grid: grid, note: note || null }).then(function (res) {
      if (!res.ok) return failed(res);
      say("已改派 (reassigned): " + code + " → " + grid);
      return Promise.all([open(code, false), load(false)]);
    });
  }

  // --- locate -------------------------------------------------------------------------------
  function locateTyped() {
    var q = byTest("locate-input").value.trim();
    if (!q) return;
    var m = q.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)\s*$/);
    locate(m ? "lon=" + m[1] + "&lat=" + m[2] : "address=" + encodeURIComponent(q));
  }
  function locate(q) {
    return api("GET", "/locate?" + q).then(function (res) {
      var box = byTest("locate-result");
      if (!res.ok) { box.innerHTML = ""; return failed(res); }
      var r = res.body, c = r.chain;
      var chain = [c.micro_grid && c.micro_grid.code, c.compound_grid && (c.compound_grid.name || c.compound_grid.code),
        c.community && c.community.name, c.street && c.street.name].filter(function (x) { return x; }).map(esc).join(" → ");
      box.innerHTML = '<div data-testid="locate-chain" data-grid="' + esc(c.micro_grid.code) + '">' + chain + "</div>" +
        (r.building ? "<div>楼栋 (building) " + esc(r.building.name || r.building.code) + (r.building.unit_no ? " " + r.building.unit_no + "单元" : "") + "</div>" : "") +
        (r.how === "nearest" ? "<div>最近的网格 (nearest grid, " + Math.round(r.distance_m) + " m)</div>" : "") +
        '<ul data-testid="locate-workers">' + workersOf(r.workers) + "</ul>";
      if (E.pin) E.pin.remove();
      E.pin = L.circleMarker([r.lat, r.lon], { radius: 9, color: "#1a5fb4", weight: 3, fillColor: "#fff", fillOpacity: 0.8, interactive: false }).addTo(WG.map);  // no icon image to fetch
      say("定位 (located): " + c.micro_grid.code);
    });
  }

  // --- start --------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    var map = WG.map;
    E.layer = L.featureGroup().addTo(map);
    panel();
    map.invalidateSize();
    if (C.bounds) map.fitBounds(C.bounds, { padding: [10, 10], maxZoom: 18, animate: false });
    map.on("click", function (ev) { locate("lon=" + ev.latlng.lng.toFixed(7) + "&lat=" + ev.latlng.lat.toFixed(7)); });
    api("GET", "/session").then(function (res) {
      if (!res.ok) { failed(res); WG.ready = true; return; }
      E.csrf = res.body.csrf;
      return load(true).then(function () {
        WG.ready = true;
        setInterval(function () { if (!E.busy && !document.hidden) load(false); }, C.poll_ms);
      });
    }).then(null, function (err) { say(String(err), true); WG.ready = true; });
  });
})();
