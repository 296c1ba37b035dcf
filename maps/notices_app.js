/* Wangge emergency notices (/app/notices), for dispatchers: send a notice to grids of the
   street (or the whole street) with POST /notices, then watch it live (GET /notices/{id} every
   3 s): the share of households reached, the 5-minute target and the 3-hour mobilisation, and
   the grids that have not acknowledged (red on the map). Configuration in window.WANGGE
   (maps/worker_app.py); runs after maps/wangge.js, which made window.WG. */
(function () {
  "use strict";
  var U = window.WGU, esc = U.esc, byTest = U.byTest;  // maps/app_util.js
  var C = window.WANGGE;
  if (C.kind !== "notices") return;
  var WG = window.WG;
  var N = (WG.notices = { watching: null, view: null, refreshes: 0, csrf: null, layer: null });

  var say = U.say, reason = U.reason;
  function api(method, path, body) { return U.call(method, path, { body: body, csrf: N.csrf, api: C.api }); }
  function hm(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : ""; }

  function panel() {
    var d = document.createElement("div");
    d.id = "wg-app";
    var grids = C.grids.features.map(function (f) {
      var p = f.properties;
      return '<option value="' + esc(p.code) + '">' + esc(p.code) + " · " + p.households + " 户</option>";
    }).join("");
    d.innerHTML =
      "<h3>应急通知 <span class=\"muted\">emergency notices · " + esc(C.user.name) + "</span></h3>" +
      '<div id="wg-message" data-testid="message"></div>' +
      "<h4>发送 (send)</h4>" +
      '<label for="wg-n-title">标题 (title)</label><input id="wg-n-title" maxlength="200" data-testid="notice-title">' +
      '<label for="wg-n-body">内容 (body)</label><textarea id="wg-n-body" rows="3" maxlength="4000" data-testid="notice-body"></textarea>' +
      '<label for="wg-n-street">范围 (scope)</label><select id="wg-n-street" data-testid="notice-street">' +
      '<option value="">所选网格 (the grids chosen below)</option>' +
      (C.street ? '<option value="' + esc(C.street) + '">整个街道 (the whole street) ' + esc(C.street) + "</option>" : "") + "</select>" +
      '<label for="wg-n-grids">网格 (grids; Ctrl/⌘ or tap to choose several)</label>' +
      '<select id="wg-n-grids" multiple size="8" data-testid="notice-grids">' + grids + "</select>" +
      '<button type="button" data-testid="notice-send">发送通知 (send)</button>' +
      "<h4>进度 (progress) <span class=\"muted\" id=\"wg-n-which\"></span></h4>" +
      '<div>已通知住户 (households reached): <span class="share" data-testid="notice-share">—</span></div>' +
      '<div class="muted" id="wg-n-times"></div>' +
      "<h4>未确认网格 (grids not acknowledged)</h4><ul data-testid=\"notice-missing\"></ul>" +
      "<h4>近期通知 (recent notices)</h4><ul id=\"wg-n-recent\"></ul>";
    document.body.appendChild(d);
    byTest("notice-send").addEventListener("click", send);
  }

  function drawGrids() {
    N.layer = L.geoJSON(C.grids, {
      style: function () { return { color: "#1a5fb4", weight: 1.5, fillOpacity: 0.05 }; },
      onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.code) + " · " + f.properties.households + " 户", { sticky: true }); },
    }).addTo(WG.map);
    if (C.grids.features.length) WG.map.fitBounds(N.layer.getBounds(), { padding: [8, 8], maxZoom: 18 });
  }

  function send() {
    var street = byTest("notice-street").value;
    var grids = Array.prototype.filter.call(byTest("notice-grids").options, function (o) { return o.selected; })
      .map(function (o) { return o.value; });
    var body = { title: byTest("notice-title").value, body: byTest("notice-body").value };
    if (street) body.street = street; else body.grids = grids;
    if (!street && !grids.length) { say("请选择网格或整个街道 (choose grids or the whole street)", true); return; }
    var button = byTest("notice-send");
    if (button.disabled) return;  // a double click sends one notice
    button.disabled = true;
    return api("POST", "/notices", body).then(function (res) {
      button.disabled = false;
      if (!res.ok) { say(reason(res), true); return; }
      var s = res.body;
      say("已发送通知 " + s.id + " (sent): " + s.targets + " 个网格 (grids), " + s.households + " 户 (households), " +
        s.sent + " 条消息 (messages)" + (s.without_worker.length ? "\n无网格员电话 (no worker phone): " + s.without_worker.join(", ") : ""));
      N.watching = s.id;
      return Promise.all([refresh(), recent()]);
    });
  }

  function show(v) {
    N.view = v;
    var pct = v.share == null ? "—" : (v.share * 100).toFixed(1) + "%";
    var share = byTest("notice-share");
    share.textContent = pct;
    share.dataset.reached = v.reached;
    share.dataset.households = v.households;
    document.getElementById("wg-n-which").textContent = "#" + v.id + " " + v.title;
    document.getElementById("wg-n-times").textContent =
      "发送 (sent) " + hm(v.sent_at) + " · 5 分钟目标 (target) " + hm(v.target_due) +
      (v.within_target ? " ✓ 按时 (on time)" : v.target_passed ? " ✗ 未按时 (missed)" : "") +
      " · 全员动员 (full mobilisation) " + hm(v.full_mobilisation_due) + " · " + v.reached + " / " + v.households + " 户";
    byTest("notice-missing").innerHTML = v.not_acknowledged.map(function (g) {
      return '<li data-code="' + esc(g) + '">' + esc(g) + "</li>";
    }).join("") || '<li class="muted">全部已确认 (every grid acknowledged)</li>';
    var missing = {};
    v.not_acknowledged.forEach(function (g) { missing[g] = 1; });
    var targeted = {};
    v.grids.forEach(function (g) { targeted[g.grid] = 1; });
    N.layer.setStyle(function (f) {
      var c = f.properties.code;
      if (!targeted[c]) return { color: "#1a5fb4", weight: 1.5, fillOpacity: 0.05 };
      return missing[c] ? { color: "#c01c28", weight: 3, fillOpacity: 0.25 } : { color: "#2ec27e", weight: 3, fillOpacity: 0.25 };
    });
  }
  function refresh() {
    if (N.watching == null || N.polling) return Promise.resolve();  // one poll at a time
    N.polling = true;
    return api("GET", "/notices/" + N.watching).then(function (res) {
      N.polling = false;
      N.refreshes += 1;
      if (!res.ok) { say(reason(res), true); return; }
      show(res.body);
    });
  }
  function recent() {
    return api("GET", "/notices?limit=10").then(function (res) {
      if (!res.ok) { say(reason(res), true); return; }
      var ul = document.getElementById("wg-n-recent");
      ul.innerHTML = res.body.notices.map(function (n) {
        return '<li data-id="' + n.id + '">#' + n.id + " " + esc(n.title) + ' <span class="muted">' + hm(n.sent_at) + " · " +
          (n.share == null ? "—" : (n.share * 100).toFixed(1) + "%") + "</span></li>";
      }).join("") || '<li class="muted">没有通知 (no notice)</li>';
      ul.querySelectorAll("li[data-id]").forEach(function (li) {
        li.addEventListener("click", function () { N.watching = Number(li.dataset.id); refresh(); });
      });
      if (N.watching == null && res.body.notices.length) N.watching = res.body.notices[0].id;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    panel();
    drawGrids();
    api("GET", "/session").then(function (res) {
      if (res.ok) N.csrf = res.body.csrf;
      return recent();
    }).then(refresh).then(function () {
      WG.ready = true;
      setInterval(refresh, 3000);
    });
  });
})();
