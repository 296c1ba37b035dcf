/* Wangge plan editor (/app/planner): the draft's grids and buildings from the plans API, and
   every edit sent to it — paint buildings into a grid (click, or shift-drag a box), redraw,
   split, merge, lock, re-partition, undo/redo (buttons, Ctrl+Z / Ctrl+Y), validate, diff,
   publish, discard. Each answer is redrawn: the changed grids are fetched again by code. The
   page follows the draft's revision (ETag): an edit is sent with If-Match, and a 409 for an
   old revision reloads the draft. Configuration in window.WANGGE (maps/editor.py); runs
   after maps/wangge.js, which made window.WG and the base layer. */
(function () {
  "use strict";
  var U = window.WGU, esc = U.esc, byTest = U.byTest;  // maps/app_util.js
  var C = window.WANGGE;
  if (C.kind !== "editor") return;
  var WG = window.WG;
  var E = (WG.editor = {
    plan: null, revision: null, band: [30, 50], grids: {}, buildings: {}, selected: [],
    mode: "select", findings: {}, timings: [], pending: 0, csrf: null,
  });
  var EDITABLE = { draft: 1, validated: 1 };
  var STATUS = { draft: "草稿 draft", validated: "已校验 validated", published: "已发布 published", discarded: "已放弃 discarded" };
  var chain = Promise.resolve();

  // --- small helpers ------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function short(code) { var p = String(code).split("-"); return p.length >= 3 ? p.slice(-2).join("-") : code; }
  function bandOf(h) { return h < E.band[0] ? "under" : h > E.band[1] ? "over" : "in"; }
  var say = U.say, reason = U.reason;
  function api(method, path, body, ifMatch) {  // with the CSRF token, and If-Match for edits
    var rev = ifMatch && E.revision != null ? '"' + E.revision + '"' : null;
    return U.call(method, path, { body: body, csrf: E.csrf, api: C.api, headers: { "If-Match": rev } });
  }
  function failed(res) {
    if (res.status === 401) {
      say(reason(res) + "\n请重新登录 (sign in again).", true);
      signInAgain();
    } else {
      say(reason(res), true);
    }
  }
  function signInAgain() { U.signInAgain(C.api); }

  // --- the side panel -----------------------------------------------------------------------
  function panel() {
    var comms = C.communities.map(function (c) {
      return '<option value="' + esc(c.code) + '"' + (c.code === C.community ? " selected" : "") + ">" +
        esc(c.name) + " (" + esc(c.code) + ")</option>";
    }).join("");
    var d = document.createElement("div");
    d.id = "wg-editor";
    d.className = "wg-panel";
    d.innerHTML =
      '<h3>网格规划编辑器 <small>plan editor</small></h3>' +
      '<div class="row">' + esc(C.user.name) + " (" + esc(C.user.role) + ') <button data-testid="logout">退出 (sign out)</button></div>' +
      "<h4>社区与草稿 (community and draft)</h4>" +
      '<select data-testid="community-select" aria-label="社区 (community)">' + comms + "</select>" +
      '<div class="row"><select data-testid="plan-select" aria-label="草稿 (draft)"></select>' +
      '<button data-testid="plan-new">新建草稿 (new draft)</button></div>' +
      '<div id="wg-plan-info" data-testid="plan-info"></div>' +
      '<div id="wg-stale" data-testid="stale" hidden></div>' +
      '<div id="wg-message" class="wg-message" data-testid="message" role="status" aria-live="polite"></div>' +
      "<h4>编辑 (edit)</h4>" +
      '<div class="row"><button data-testid="tool-select" class="on">选择 (select)</button>' +
      '<button data-testid="tool-paint">涂色 (paint)</button> → ' +
      '<select data-testid="paint-target" aria-label="目标微网格 (target micro-grid)"></select></div>' +
      '<div class="row"><button data-testid="tool-redraw">画边界 (redraw)</button>' +
      '<button data-testid="tool-split">画线切分 (split)</button>' +
      '<button data-testid="merge">合并 (merge 2)</button></div>' +
      '<div class="row"><button data-testid="lock">锁定 (lock)</button>' +
      '<button data-testid="unlock">解锁 (unlock)</button>' +
      '<button data-testid="repartition">重新划分小区 (re-partition compound)</button></div>' +
      '<div class="row"><button data-testid="undo" title="Ctrl+Z">↶ 撤销 (undo)</button>' +
      '<button data-testid="redo" title="Ctrl+Y">↷ 重做 (redo)</button></div>' +
      '<div id="wg-selection" data-testid="selection"></div>' +
      '<div id="wg-hint"></div>' +
      "<h4>校验与发布 (check and publish)</h4>" +
      '<div class="row"><button data-testid="validate">校验 (validate)</button>' +
      '<button data-testid="diff">差异 (diff)</button>' +
      '<button data-testid="publish">发布… (publish…)</button>' +
      '<button data-testid="discard">放弃 (discard)</button></div>' +
      '<div id="wg-publish" data-testid="publish-preview" hidden></div>' +
      '<ul id="wg-findings" data-testid="findings"></ul>' +
      '<div id="wg-diff" data-testid="diff-result"></div>' +
      '<h4>微网格 (micro-grids) <span id="wg-grid-count"></span></h4>' +
      '<ul id="wg-grid-list" data-testid="grid-list"></ul>';
    document.body.appendChild(d);
    L.DomEvent.disableScrollPropagation(d);
    var on = function (id, fn) { byTest(id).addEventListener("click", fn); };
    byTest("community-select").addEventListener("change", function () {
      location.href = location.pathname + "?community=" + encodeURIComponent(this.value);
    });
    byTest("plan-select").addEventListener("change", function () { if (this.value) openPlan(+this.value); });
    on("plan-new", newPlan);
    on("logout", logout);
    on("tool-select", function () { setMode("select"); });
    on("tool-paint", function () { setMode("paint"); });
    on("tool-redraw", function () { setMode("redraw"); });
    on("tool-split", function () { setMode("split"); });
    on("merge", function () {
      if (E.selected.length !== 2) return say("先选两个相邻微网格 (select two adjacent micro-grids: shift+click)", true);
      queue("merge", { grids: E.selected.slice() });
    });
    on("lock", function () { if (need1()) queue("lock", { grids: E.selected.slice() }); });
    on("unlock", function () { if (need1()) queue("unlock", { grids: E.selected.slice() }); });
    on("repartition", function () {
      if (!need1()) return;
      queue("repartition", { compound: E.grids[E.selected[0]].f.properties.parent_code });
    });
    on("undo", function () { queue("undo"); });
    on("redo", function () { queue("redo"); });
    on("validate", validate);
    on("diff", showDiff);
    on("publish", previewPublish);
    on("discard", discard);
    byTest("paint-target").addEventListener("change", function () { paintHint(); restyle(); });
    byTest("grid-list").addEventListener("click", function (ev) {
      var li = ev.target.closest("li[data-code]");
      if (!li) return;
      var code = li.dataset.code, add = ev.shiftKey || ev.ctrlKey || ev.metaKey;
      if (E.mode === "paint") { byTest("paint-target").value = code; paintHint(); restyle(); return; }
      select(code, add);
      if (!add && !WG.map.getBounds().contains(E.grids[code].layer.getBounds())) {
        WG.map.fitBounds(E.grids[code].layer.getBounds(), { maxZoom: 18, padding: [30, 30] });
      }
    });
    document.addEventListener("keydown", keys);
    window.addEventListener("focus", checkRevision);
  }
  function need1() {
    if (E.selected.length) return true;
    say("先选择微网格 (select a micro-grid first: click it on the map or in the list)", true);
    return false;
  }
  function keys(ev) {
    var t = ev.target && ev.target.tagName;
    if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT") return;
    if (!(ev.ctrlKey || ev.metaKey)) {
      if (ev.key === "Escape") setMode("select");
      return;
    }
    var k = ev.key.toLowerCase();
    if (k === "z" && !ev.shiftKey) { ev.preventDefault(); queue("undo"); }
    else if (k === "y" || (k === "z" && ev.shiftKey)) { ev.preventDefault(); queue("redo"); }
  }
  function buttons() {
    var p = E.plan, editable = !!p && !!EDITABLE[p.status];
    ["tool-paint", "tool-redraw", "tool-split", "merge", "lock", "unlock", "repartition", "validate", "publish", "discard"].forEach(function (id) {
      byTest(id).disabled = !editable;
    });
    byTest("undo").disabled = !editable || !p.undo;
    byTest("redo").disabled = !editable || !p.redo;
    byTest("diff").disabled = !p;
    var info = byTest("plan-info");
    if (!p) { info.textContent = "没有打开的草稿：新建一个 (no draft open: create one)"; return; }
    info.textContent = "方案 (plan) #" + p.id + " · " + (STATUS[p.status] || p.status) + " · 基于版本 (base) v" +
      p.base_version + " · 修订 (revision) " + p.revision + " · 可撤销 (undo) " + p.undo + " · 可重做 (redo) " + p.redo;
    var st = $("wg-stale");
    st.hidden = !p.stale;
    if (p.stale) {
      st.innerHTML = "此草稿已过期：基础版本 v" + esc(p.base_version) + " 已不是现行版本 v" + esc(p.current_version) +
        "（已有人发布）。可以查看，不能发布。(Someone published version " + esc(p.current_version) +
        ": this draft's base is stale.) " + '<button data-testid="stale-new-draft">基于现行版本新建草稿 (new draft from the current version)</button>';
      byTest("stale-new-draft").addEventListener("click", newPlan);
    }
  }

  // --- plans --------------------------------------------------------------------------------
  function listPlans(select) {
    if (!C.community) return Promise.resolve();
    return api("GET", "/plans?community=" + encodeURIComponent(C.community)).then(function (res) {
      if (!res.ok) return failed(res);
      var s = byTest("plan-select");
      var plans = res.body.plans.filter(function (p) { return EDITABLE[p.status] || p.id === select; });
      s.innerHTML = '<option value="">— 选择草稿 (choose a draft) —</option>' + plans.map(function (p) {
        return '<option value="' + p.id + '">#' + p.id + " " + esc(p.name) + " · " + esc(p.author) + " · " + esc(STATUS[p.status] || p.status) + "</option>";
      }).join("");
      if (select) s.value = String(select);
      return plans;
    });
  }
  function newPlan() {
    if (!C.community) return say("没有社区 (no community)", true);
    return api("POST", "/plans", { community: C.community }).then(function (res) {
      if (!res.ok) return failed(res);
      say("已新建草稿 #" + res.body.id + "（基于现行版本 v" + res.body.base_version + "）(new draft #" + res.body.id + ")");
      return listPlans(res.body.id).then(function () { return openPlan(res.body.id); });
    });
  }
  function openPlan(id) {
    history.replaceState(null, "", location.pathname + "?community=" + encodeURIComponent(C.community) + "&plan=" + id);
    return Promise.all([
      api("GET", "/plans/" + id),
      api("GET", "/plans/" + id + "/grids?level=micro"),
      api("GET", "/plans/" + id + "/grids?level=compound"),
    ]).then(function (r) {
      var bad = r.filter(function (x) { return !x.ok; })[0];
      if (bad) return failed(bad);
      E.plan = r[0].body;
      // the revision the grids shown were read at (the grids answer reads it first): an edit
      // sent with it is refused if the draft changed after them
      E.revision = Math.min(r[1].body.revision, r[2].body.revision);
      E.plan.revision = E.revision;
      E.band = r[1].body.band || E.band;
      E.findings = {};
      byTest("findings").innerHTML = "";
      byTest("diff-result").innerHTML = "";
      $("wg-publish").hidden = true;
      E.gridLayer.clearLayers();
      E.grids = {};
      E.labels.clearLayers();
      r[1].body.features.forEach(putGrid);
      E.compounds.clearLayers();
      E.compounds.addData(r[2].body);
      E.selected = E.selected.filter(function (c) { return E.grids[c]; });
      byTest("plan-select").value = String(id);
      gridsChanged();
      buttons();
      return loadBuildings();
    });
  }
  function checkRevision() {
    if (!E.plan || E.pending) return;
    api("GET", "/plans/" + E.plan.id).then(function (res) {
      if (res.ok && (res.body.revision !== E.revision || res.body.stale !== E.plan.stale)) {
        say("草稿已在别处修改，已重新载入 (the draft changed elsewhere: reloaded)");
        openPlan(E.plan.id);
      }
    });
  }

  // --- grids --------------------------------------------------------------------------------
  function gridStyle(f) {
    var p = f.properties, code = p.code, sel = E.selected.indexOf(code) >= 0;
    var target = E.mode === "paint" && byTest("paint-target").value === code;
    var flagged = !!E.findings[code];
    return {
      fillColor: C.band_colour[bandOf(p.households)], fillOpacity: target ? 0.6 : 0.35,
      color: sel || target ? "#1a5fb4" : flagged ? "#c0392b" : p.locked ? "#000" : "#444",
      weight: sel || target ? 4 : flagged ? 3 : p.locked ? 2.5 : 1,
      dashArray: flagged || p.locked ? "6 4" : null,
    };
  }
  function putGrid(f) {
    var code = f.properties.code;
    var old = E.grids[code];
    if (old) { E.gridLayer.removeLayer(old.layer); E.labels.removeLayer(old.label); }
    var layer = L.geoJSON(f, { pane: "wgGrids", style: gridStyle }).getLayers()[0];
    layer.on("click", function (ev) { gridClicked(code, ev.originalEvent); });
    E.gridLayer.addLayer(layer);
    var p = f.properties;
    var label = L.marker(layer.getBounds().getCenter(), {
      pane: "wgEditLabels", interactive: false, keyboard: false,
      icon: L.divIcon({ className: "wg-grid-label", iconSize: [70, 26], iconAnchor: [35, 13],
        html: '<span data-grid="' + esc(code) + '">' + esc(short(code)) + "<br>" + p.households + "户" + (p.locked ? " 🔒" : "") + "</span>" }),
    });
    E.labels.addLayer(label);
    E.grids[code] = { f: f, layer: layer, label: label };
  }
  function dropGrid(code) {
    var g = E.grids[code];
    if (!g) return;
    E.gridLayer.removeLayer(g.layer);
    E.labels.removeLayer(g.label);
    delete E.grids[code];
  }
  function restyle() {
    for (var c in E.grids) E.grids[c].layer.setStyle(gridStyle(E.grids[c].f));
    Array.prototype.forEach.call(document.querySelectorAll("#wg-grid-list li"), function (li) {
      li.classList.toggle("sel", E.selected.indexOf(li.dataset.code) >= 0);
    });
    selectionText();
  }
  function selectionText() {
    var sel = E.selected.map(function (c) {
      var p = E.grids[c].f.properties;
      return esc(short(c)) + "（" + p.households + " 户" + (p.locked ? "，已锁定 locked" : "") + "）";
    });
    byTest("selection").innerHTML = sel.length ? "已选 (selected): " + sel.join("、") : "未选择网格 (no grid selected)";
  }
  function gridItem(c) {
    var p = E.grids[c].f.properties;
    return '<li data-testid="grid-item" data-code="' + esc(c) + '" data-households="' + p.households +
      '" data-buildings="' + (p.buildings == null ? "" : p.buildings) + '" data-workers="' + (p.workers == null ? "" : p.workers) +
      '" class="' + (E.selected.indexOf(c) >= 0 ? "sel" : "") + '"><i style="background:' + C.band_colour[bandOf(p.households)] + '"></i>' +
      esc(short(c)) + " · " + p.households + " 户 · " + (p.buildings == null ? "?" : p.buildings) + " 栋 · 网格员 " +
      (p.workers == null ? "?" : p.workers) + (p.locked ? " · 🔒" : "") + (E.findings[c] ? " · ⚠" : "") + "</li>";
  }
  function targetOption(c) {
    return '<option value="' + esc(c) + '">' + esc(short(c)) + " (" + E.grids[c].f.properties.households + " 户)</option>";
  }
  function gridsChanged() {  // the whole list and target select again (a draft opened, grids added or gone)
    var codes = Object.keys(E.grids).sort();
    $("wg-grid-count").textContent = "(" + codes.length + ")";
    byTest("grid-list").innerHTML = codes.map(gridItem).join("");
    var target = byTest("paint-target"), was = target.value;
    target.innerHTML = codes.map(targetOption).join("");
    if (was && E.grids[was]) target.value = was;
    restyle();
  }
  function gridsUpdated(codes) {  // only these grids' items, options and styles (an edit that kept the set of grids)
    var list = byTest("grid-list"), target = byTest("paint-target");
    codes.forEach(function (c) {
      var li = list.querySelector('li[data-code="' + CSS.escape(c) + '"]');
      if (li) li.outerHTML = gridItem(c);
      var o = target.querySelector('option[value="' + CSS.escape(c) + '"]');
      if (o) o.textContent = short(c) + " (" + E.grids[c].f.properties.households + " 户)";
    });
    selectionText();
  }
  function gridClicked(code, ev) {
    if (E.boxEnded && Date.now() - E.boxEnded < 300) return;
    if (E.mode === "paint") { byTest("paint-target").value = code; paintHint(); restyle(); return; }
    if (E.mode !== "select") return;
    select(code, ev && (ev.shiftKey || ev.ctrlKey || ev.metaKey));
  }
  function select(code, add) {
    if (add) {
      var i = E.selected.indexOf(code);
      if (i >= 0) E.selected.splice(i, 1);
      else E.selected = E.selected.concat([code]).slice(-2);
    } else {
      E.selected = [code];
    }
    restyle();
  }
  function goTo(code) {
    var g = E.grids[code];
    if (!g) return;
    WG.map.fitBounds(g.layer.getBounds(), { maxZoom: 19, padding: [30, 30] });
    select(code, false);
  }

  // --- buildings ----------------------------------------------------------------------------
  function bStyle(f) {
    var t = E.mode === "paint" && f.properties.grid === byTest("paint-target").value;
    return { color: "#555", weight: 0.8, fillColor: t ? "#1a5fb4" : "#fff", fillOpacity: t ? 0.55 : 0.5 };
  }
  function putBuilding(f) {
    var code = f.properties.code;
    if (E.buildings[code]) E.bLayer.removeLayer(E.buildings[code].layer);
    var layer = L.geoJSON(f, { pane: "wgBuildings", style: bStyle }).getLayers()[0];
    layer.on("click", function (ev) {
      L.DomEvent.stop(ev);
      if (E.boxEnded && Date.now() - E.boxEnded < 300) return;
      if (E.mode === "paint") return paint([code]);
      buildingPopup(code, ev.latlng);
    });
    E.bLayer.addLayer(layer);
    E.buildings[code] = { f: f, layer: layer };
  }
  function loadBuildings(codes) {
    if (!E.plan) return Promise.resolve();
    var q;
    if (codes) q = "codes=" + codes.map(encodeURIComponent).join(",");
    else {
      var b = WG.map.getBounds().pad(0.3);
      q = "bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",") + "&limit=5000";
    }
    return api("GET", "/plans/" + E.plan.id + "/buildings?" + q).then(function (res) {
      if (!res.ok) return failed(res);
      if (!codes) { E.bLayer.clearLayers(); E.buildings = {}; }
      res.body.features.forEach(putBuilding);
      $("wg-hint").textContent = !codes && res.body.numberReturned >= 5000 ? "楼栋较多，放大以显示全部 (many buildings: zoom in to see them all)" : "";
    });
  }
  function buildingPopup(code, at) {
    var p = E.buildings[code].f.properties, target = byTest("paint-target").value;
    var d = document.createElement("div");
    d.className = "wg-popup";
    d.setAttribute("data-testid", "building-popup");
    d.innerHTML = "<b>" + esc(p.name || p.code) + "</b><br>" + esc(p.code) + " · " + p.households + " 户 · 网格 (grid) " +
      esc(short(p.grid || "—")) + "<br>单元 (units):<ul>" + (p.units || []).map(function (u) {
        return "<li>" + esc(short(u.code)) + " · " + u.households + " 户 · " + esc(short(u.grid || "—")) +
          ' <button data-unit="' + esc(u.code) + '" data-testid="unit-move">移到 (move to) ' + esc(short(target)) + "</button></li>";
      }).join("") + "</ul>" + '<button data-building="' + esc(code) + '" data-testid="building-move">整栋移到 (whole building to) ' + esc(short(target)) + "</button>";
    Array.prototype.forEach.call(d.querySelectorAll("button"), function (btn) {
      btn.addEventListener("click", function () {
        WG.map.closePopup();
        paint([btn.dataset.unit || btn.dataset.building]);
      });
    });
    L.popup({ maxWidth: 320 }).setLatLng(at).setContent(d).openOn(WG.map);
  }
  function paint(refs) {
    var to = byTest("paint-target").value;
    if (!to) return say("先选择目标微网格 (choose the target micro-grid first)", true);
    var keep = refs.filter(function (r) {
      var b = E.buildings[r.replace(/-U\d+$/, "")];
      return !(b && b.f.properties.grid === to && (b.f.properties.grids || []).length <= 1 && r === b.f.properties.code);
    });
    if (!keep.length) return say("已在目标网格中 (already in the target grid): " + refs.join(", "));
    queue("move", { buildings: keep.slice(0, 500), to: to });
  }
  function paintHint() {
    if (E.mode === "paint") {
      $("wg-hint").textContent = "点击楼栋移入 " + short(byTest("paint-target").value) + "；按住 Shift 拖框可一次移入多栋 (click a building to move it; shift-drag a box for several)";
    }
    for (var c in E.buildings) E.buildings[c].layer.setStyle(bStyle(E.buildings[c].f));
  }
  function boxSelect() {
    var map = WG.map, start = null, rect = null;
    map.on("mousedown", function (ev) {
      if (E.mode !== "paint" || !ev.originalEvent.shiftKey) return;
      start = ev.latlng;
      map.dragging.disable();
      rect = L.rectangle([start, start], { className: "wg-box-select", interactive: false, weight: 2 }).addTo(map);
    });
    map.on("mousemove", function (ev) { if (rect) rect.setBounds([start, ev.latlng]); });
    map.on("mouseup", function (ev) {
      if (!rect) return;
      var box = L.latLngBounds(start, ev.latlng);
      rect.remove(); rect = null;
      map.dragging.enable();
      E.boxEnded = Date.now();
      var codes = Object.keys(E.buildings).filter(function (c) {
        return box.contains(E.buildings[c].layer.getBounds().getCenter());
      });
      if (codes.length) paint(codes);
      else say("框内没有楼栋 (no building in the box)");
    });
  }

  // --- edits --------------------------------------------------------------------------------
  function queue(op, body) {
    if (!E.plan) return say("先打开或新建草稿 (open or create a draft first)", true);
    E.pending += 1;
    chain = chain.then(function () { return run(op, body); }).then(done, function (err) { done(); say(String(err), true); });
    return chain;
  }
  function done() { E.pending -= 1; }
  function run(op, body) {
    var t0 = performance.now();
    return api("POST", "/plans/" + E.plan.id + "/" + op, body, true).then(function (res) {
      if (!res.ok) return refused(op, res);
      var r = res.body;
      E.revision = r.revision;
      E.plan.revision = r.revision;
      if (r.undo != null) { E.plan.undo = r.undo; E.plan.redo = r.redo; }
      if (E.plan.status === "validated") E.plan.status = "draft";
      say(describe(op, r, body));
      var flagged = Object.keys(E.findings).length > 0;
      E.findings = {};
      byTest("findings").innerHTML = "";
      byTest("diff-result").innerHTML = "";
      $("wg-publish").hidden = true;
      return refreshGrids(touched(r)).then(function () {
        if (flagged) gridsChanged();  // the findings' marks are gone with them
        buttons();
        return new Promise(function (ok) { requestAnimationFrame(function () { ok(); }); });  // painted
      }).then(function () {
        E.timings.push({ op: op, ms: performance.now() - t0 });
        var moved = op === "move" ? body.buildings.map(function (b) { return b.replace(/-U\d+$/, ""); }) : null;
        loadBuildings(moved);  // the buildings' grids, in the background
      });
    });
  }
  function refused(op, res) {
    var b = res.body || {};
    if (res.status === 409 && b.code === "stale_revision") {
      say("草稿已被其他标签页或客户端修改，已重新载入；请重做这一步 (the draft changed elsewhere: reloaded, please repeat the edit)\n" + reason(res), true);
      return openPlan(E.plan.id);
    }
    failed(res);  // the map stays as it was: nothing was changed locally
  }
  function touched(r) {
    var s = {};
    ["changed", "removed", "new", "kept", "grid", "to", "from", "kept_locked", "locked"].forEach(function (k) {
      var v = r[k];
      (Array.isArray(v) ? v : [v]).forEach(function (x) { if (typeof x === "string") s[x] = 1; });
    });
    ["households", "moved_buildings"].forEach(function (k) {
      if (r[k] && typeof r[k] === "object") Object.keys(r[k]).forEach(function (x) { s[x] = 1; });
    });
    return Object.keys(s);
  }
  function refreshGrids(codes) {
    if (!codes.length) return Promise.resolve();
    return api("GET", "/plans/" + E.plan.id + "/grids?level=micro&codes=" + codes.map(encodeURIComponent).join(",")).then(function (res) {
      if (!res.ok) return failed(res);
      var got = {}, same = true;
      res.body.features.forEach(function (f) {
        got[f.properties.code] = 1;
        if (!E.grids[f.properties.code]) same = false;
        putGrid(f);
      });
      codes.forEach(function (c) { if (!got[c] && E.grids[c]) { same = false; dropGrid(c); } });
      E.selected = E.selected.filter(function (c) { return E.grids[c]; });
      if (same) gridsUpdated(Object.keys(got)); else gridsChanged();
    });
  }
  function describe(op, r, body) {
    switch (op) {
      case "move": return "已移动 " + r.moved_households + " 户到 " + short(r.to) + " (moved " + r.moved_households + " households to " + short(r.to) + ")" + (r.removed.length ? "；删除了空网格 (emptied grids removed): " + r.removed.join(", ") : "") + warn(r);
      case "redraw": return "已重画 " + short(r.grid) + "（" + Math.round(r.area_m2) + " m²）(redrawn)" + warn(r);
      case "split": return "已切分 " + short(r.grid) + " → " + short(r.new) + " (split)" + warn(r);
      case "merge": return "已合并到 " + short(r.kept) + "（" + r.households + " 户）(merged)" + warn(r);
      case "lock": return "已锁定 (locked): " + r.locked.map(short).join(", ");
      case "unlock": return "已解锁 (unlocked): " + (r.unlocked || r.locked || body.grids).map(short).join(", ");
      case "repartition": return "已重新划分 " + short(r.compound) + "：新网格 " + r.new.length + " 个，保留锁定 " + r.kept_locked.length + " 个 (re-partitioned: " + r.status + ")" + warn(r);
      case "undo": return "已撤销 (undone): " + r.undone + " #" + r.seq;
      case "redo": return "已重做 (redone): " + r.redone + " #" + r.seq;
      default: return op + " ✓";
    }
  }
  function warn(r) { return r.warnings ? "；户数提示 " + r.warnings + " 条 (band warnings: " + r.warnings + ")" : ""; }

  // --- drawing: redraw (polygon) and split (line) ---------------------------------------------
  function setMode(mode) {
    if ((mode === "redraw" || mode === "split") && !need1()) return;
    if (E.drawer) { E.drawer.disable(); E.drawer = null; }
    E.mode = mode;
    if (mode === "paint" && E.selected.length) byTest("paint-target").value = E.selected[0];
    ["select", "paint", "redraw", "split"].forEach(function (m) { byTest("tool-" + m).classList.toggle("on", m === mode); });
    $("wg-hint").textContent = "";
    if (mode === "redraw") {
      E.drawer = new L.Draw.Polygon(WG.map, { allowIntersection: false, showArea: false });
      $("wg-hint").textContent = "画出 " + short(E.selected[0]) + " 的新边界，点击起点结束 (draw the new boundary; click the first point to finish; Esc cancels)";
    } else if (mode === "split") {
      E.drawer = new L.Draw.Polyline(WG.map, {});
      $("wg-hint").textContent = "画一条穿过 " + short(E.selected[0]) + " 的线，双击结束 (draw a line across the grid; double-click to finish)";
    }
    if (E.drawer) E.drawer.enable();
    paintHint();
    restyle();
  }
  function drawn(ev) {
    var geometry = ev.layer.toGeoJSON().geometry, grid = E.selected[0];
    var mode = E.mode;
    setMode("select");
    if (!grid) return;
    if (mode === "redraw") queue("redraw", { grid: grid, geometry: geometry });
    else if (mode === "split") queue("split", { grid: grid, line: geometry });
  }

  // --- validate, diff, publish, discard -----------------------------------------------------
  function validate() {
    if (!E.plan) return;
    E.pending += 1;
    chain = chain.then(function () {
      return api("POST", "/plans/" + E.plan.id + "/validate", undefined, true).then(function (res) {
        if (!res.ok) return refused("validate", res);
        var r = res.body;
        if (r.revision != null) { E.revision = r.revision; E.plan.revision = r.revision; }
        E.plan.status = r.ok ? "validated" : "draft";
        E.findings = {};
        r.findings.forEach(function (f) { if (f.grid) (E.findings[f.grid] = E.findings[f.grid] || []).push(f); });
        var ul = byTest("findings");
        ul.innerHTML = r.findings.length ? r.findings.map(function (f) {
          return '<li data-testid="finding-item" class="' + esc(f.severity) + '" data-grid="' + esc(f.grid || "") + '">[' +
            (f.severity === "error" ? "错误 error" : "提示 warning") + "] " + (f.grid ? esc(short(f.grid)) + ": " : "") + esc(f.message) + "</li>";
        }).join("") : '<li data-testid="finding-none">没有问题 (no findings)</li>';
        Array.prototype.forEach.call(ul.querySelectorAll("li[data-grid]"), function (li) {
          li.addEventListener("click", function () { if (li.dataset.grid) goTo(li.dataset.grid); });
        });
        say("校验 (validate): " + r.errors + " 个错误 (errors)，" + r.warnings + " 个提示 (warnings)" + (r.ok ? "，可以发布 (can be published)" : ""), !r.ok);
        gridsChanged();
        buttons();
      });
    }).then(done, done);
  }
  function showDiff() {
    if (!E.plan) return;
    var id = E.plan.id;
    return api("GET", "/plans/" + id + "/diff").then(function (res) {
      if (!res.ok) return failed(res);
      var s = res.body.summary, box = byTest("diff-result");
      var rows = res.body.grids.filter(function (g) { return g.change !== "unchanged"; });
      box.innerHTML = "<div>与基础版本 v" + s.from + " 相比 (against base v" + s.from + "): 移动 " + s.households_moved +
        " 户、" + s.buildings_moved + " 栋；网格 新增 " + s.grids_added + "、删除 " + s.grids_removed + "、改动 " + s.grids_changed +
        ' <span data-testid="diff-households" data-value="' + s.households_moved + '"></span></div><ul>' +
        rows.map(function (g) {
          return '<li data-testid="diff-grid" data-grid="' + esc(g.code) + '">' + esc(short(g.code)) + " · " +
            ({ added: "新增 added", removed: "删除 removed", changed: "改动 changed" }[g.change] || g.change) + " · " +
            (g.households_old == null ? "—" : g.households_old) + " → " + (g.households_new == null ? "—" : g.households_new) + " 户</li>";
        }).join("") + "</ul>" +
        '<a data-testid="diff-csv" download href="' + (C.api || "") + "/plans/" + id + '/diff?format=csv">下载 CSV</a> · ' +
        '<a data-testid="diff-gpkg" download href="' + (C.api || "") + "/plans/" + id + '/diff?format=gpkg">下载 GeoPackage</a>';
      Array.prototype.forEach.call(box.querySelectorAll("li[data-grid]"), function (li) {
        li.addEventListener("click", function () { goTo(li.dataset.grid); });
      });
      say("差异 (diff): " + s.households_moved + " 户改变了微网格 (households changed micro-grid)");
    });
  }
  function previewPublish() {
    if (!E.plan) return;
    return api("GET", "/plans/" + E.plan.id + "/preview").then(function (res) {
      if (!res.ok) return failed(res);
      var r = res.body, box = $("wg-publish");
      var blocked = r.stale ? "此草稿已过期，不能发布 (stale: cannot be published)" : r.errors ? "有 " + r.errors + " 个校验错误，不能发布 (validation errors block publishing)" : "";
      box.innerHTML = "<div>发布将重新分配 <b data-testid=\"preview-households\">" + r.households + "</b> 户、<b data-testid=\"preview-incidents\">" +
        r.incidents + "</b> 个事件；网格 新增 " + r.grids.added + "、删除 " + r.grids.removed + "、改动 " + r.grids.changed +
        " (publishing re-assigns " + r.households + " households and " + r.incidents + " incidents)</div>" +
        (blocked ? '<div class="error">' + blocked + "</div>" : "") +
        '<button data-testid="publish-confirm"' + (blocked ? " disabled" : "") + ">确认发布 (publish now)</button> " +
        '<button data-testid="publish-cancel">取消 (cancel)</button>';
      box.hidden = false;
      byTest("publish-cancel").addEventListener("click", function () { box.hidden = true; });
      byTest("publish-confirm").addEventListener("click", publish);
    });
  }
  function publish() {
    $("wg-publish").hidden = true;
    E.pending += 1;
    chain = chain.then(function () {
      return api("POST", "/plans/" + E.plan.id + "/publish", undefined, true).then(function (res) {
        if (!res.ok) return refused("publish", res);
        var r = res.body;
        var n = r.reassigned || {};
        say("已发布为现行版本 v" + r.version + "（原 v" + r.previous + "），重新分配 " + (n.households_changed_grid || 0) + " 户、" +
          (n.incidents_changed_grid || 0) + " 个事件 (published as version " + r.version + ")");
        return listPlans(E.plan.id).then(function () { return openPlan(E.plan.id); });
      });
    }).then(done, done);
  }
  function discard() {
    var b = byTest("discard");
    if (!E.discardArmed) {
      E.discardArmed = true;
      b.textContent = "再点一次确认放弃 (click again to discard)";
      setTimeout(function () { E.discardArmed = false; b.textContent = "放弃 (discard)"; }, 5000);
      return;
    }
    E.discardArmed = false;
    b.textContent = "放弃 (discard)";
    E.pending += 1;
    chain = chain.then(function () {
      return api("POST", "/plans/" + E.plan.id + "/discard", undefined, true).then(function (res) {
        if (!res.ok) return refused("discard", res);
        say("已放弃草稿 #" + E.plan.id + " (draft discarded)");
        return listPlans(E.plan.id).then(function () { return openPlan(E.plan.id); });
      });
    }).then(done, done);
  }
  function logout() {
    api("POST", "/logout").then(function () { location.href = (C.api || "") + "/login"; });
  }

  // --- start --------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    var map = WG.map;
    map.createPane("wgGrids").style.zIndex = 400;
    map.createPane("wgBuildings").style.zIndex = 420;
    var lp = map.createPane("wgEditLabels");
    lp.style.zIndex = 440;
    lp.style.pointerEvents = "none";
    E.gridLayer = L.featureGroup().addTo(map);
    E.bLayer = L.featureGroup().addTo(map);
    E.labels = L.layerGroup();
    E.compounds = L.geoJSON(null, { pane: "wgEditLabels", interactive: false, style: function () { return { color: "#1f3a93", weight: 2.5, fill: false }; } }).addTo(map);
    if (WG.layerControl) {
      WG.layerControl.addOverlay(E.gridLayer, "微网格 (micro-grids)");
      WG.layerControl.addOverlay(E.bLayer, "楼栋 (buildings)");
    }
    panel();
    map.invalidateSize();
    if (C.bounds) map.fitBounds(C.bounds, { padding: [10, 10], maxZoom: 18, animate: false });
    var labelsAt = function () {  // codes and counts from zoom 17 on (below they pile up)
      if (map.getZoom() >= 17) map.addLayer(E.labels); else map.removeLayer(E.labels);
    };
    map.on("zoomend", labelsAt);
    labelsAt();
    boxSelect();
    map.on(L.Draw.Event.CREATED, drawn);
    var reload = null;
    map.on("moveend", function () {
      clearTimeout(reload);
      reload = setTimeout(function () { if (E.plan && !E.pending) loadBuildings(); }, 250);
    });
    buttons();
    restyle();
    api("GET", "/session").then(function (res) {
      if (!res.ok) { failed(res); WG.ready = true; return; }
      E.csrf = res.body.csrf;
      return listPlans(C.plan).then(function (plans) {
        var pick = C.plan || (plans && plans.length ? plans[plans.length - 1].id : null);
        if (pick) return openPlan(pick);
        say("该社区还没有草稿：点“新建草稿” (no draft of this community yet: press “new draft”)");
      });
    }).then(function () { WG.ready = true; }, function (err) { say(String(err), true); WG.ready = true; });
  });
})();
