/* Wangge grid worker's page (/app/worker), phone first: the worker's grids (on the map and in
   a list), their incidents (GET /incidents), the households of the selected grid (GET
   /households: names and phones only as the API gives them to this role), a visit form (POST
   /visits; an opinion 问题 files an incident) and the emergency notices sent to its grids, to
   acknowledge with the households reached (POST /notices/{id}/ack). Configuration in
   window.WANGGE (maps/worker_app.py); runs after maps/wangge.js, which made window.WG. */
(function () {
  "use strict";
  var U = window.WGU, esc = U.esc, byTest = U.byTest;  // maps/app_util.js
  var C = window.WANGGE;
  if (C.kind !== "worker") return;
  var WG = window.WG;
  var W = (WG.worker = { grid: null, grids: [], incidents: [], households: [], notices: [], csrf: null, layer: null });

  var say = U.say, reason = U.reason;
  function api(method, path, body) { return U.call(method, path, { body: body, csrf: W.csrf, api: C.api }); }
  function today() { return new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10); }
  function options(map) {
    return Object.keys(map).map(function (k) { return '<option value="' + esc(k) + '">' + esc(map[k]) + " (" + esc(k) + ")</option>"; }).join("");
  }

  function panel() {
    var d = document.createElement("div");
    d.id = "wg-app";
    d.innerHTML =
      "<h3>网格员工作台 <span class=\"muted\">grid worker · " + esc(C.user.name) + "</span></h3>" +
      '<div id="wg-message" data-testid="message"></div>' +
      "<h4>应急通知 (emergency notices)</h4><ul data-testid=\"notice-list\"></ul>" +
      "<h4>我的网格 (my grids)</h4><ul data-testid=\"worker-grids\"></ul>" +
      "<h4>事件 (incidents)</h4><ul data-testid=\"worker-incidents\"></ul>" +
      '<h4>住户 (households) <span class="muted" id="wg-hh-grid"></span></h4><ul data-testid="worker-households"></ul>' +
      "<h4>入户走访 (record a visit)</h4>" +
      '<label for="wg-v-hh">住户 (household)</label><select id="wg-v-hh" data-testid="visit-household"></select>' +
      '<label for="wg-v-date">日期 (date)</label><input id="wg-v-date" type="date" data-testid="visit-date">' +
      '<label for="wg-v-note">情况 (note)</label><textarea id="wg-v-note" rows="3" maxlength="2000" data-testid="visit-note"></textarea>' +
      '<label for="wg-v-op">意见 (opinion)</label><select id="wg-v-op" data-testid="visit-opinion">' + options(C.opinions) + "</select>" +
      '<div id="wg-v-cat-row" hidden><label for="wg-v-cat">问题类别 (problem category)</label>' +
      '<select id="wg-v-cat" data-testid="visit-problem-category">' + options(C.categories) + "</select></div>" +
      '<button type="button" data-testid="visit-submit">登记走访 (record)</button>';
    document.body.appendChild(d);
    var date = byTest("visit-date");
    date.value = today();
    date.max = today();
    byTest("visit-opinion").value = "none";
    byTest("visit-opinion").addEventListener("change", function () {
      document.getElementById("wg-v-cat-row").hidden = this.value !== "problem";
    });
    byTest("visit-submit").addEventListener("click", submitVisit);
  }

  // --- grids -------------------------------------------------------------------------------
  function drawGrids() {
    W.grids = C.grids.features.map(function (f) { return f.properties; });
    W.layer = L.geoJSON(C.grids, {
      style: function () { return { color: "#1a5fb4", weight: 2, fillOpacity: 0.08 }; },
      onEachFeature: function (f, l) {
        l.bindTooltip(esc(f.properties.code) + " · " + f.properties.households + " 户", { sticky: true });
        l.on("click", function () { selectGrid(f.properties.code); });
      },
    }).addTo(WG.map);
    if (C.grids.features.length) WG.map.fitBounds(W.layer.getBounds(), { padding: [8, 8], maxZoom: 18 });
    var ul = byTest("worker-grids");
    ul.innerHTML = W.grids.map(function (g) {
      return '<li data-testid="worker-grid" data-code="' + esc(g.code) + '">' + esc(g.code) +
        ' <span class="muted">' + g.households + " 户 (households)</span></li>";
    }).join("") || '<li class="muted">没有网格 (no grid)</li>';
    ul.querySelectorAll("li[data-code]").forEach(function (li) {
      li.addEventListener("click", function () { selectGrid(li.dataset.code); });
    });
  }
  function selectGrid(code) {
    W.grid = code;
    byTest("worker-grids").querySelectorAll("li[data-code]").forEach(function (li) {
      li.classList.toggle("sel", li.dataset.code === code);
    });
    W.layer.setStyle(function (f) {
      var on = f.properties.code === code;
      return { color: on ? "#e66100" : "#1a5fb4", weight: on ? 3 : 2, fillOpacity: on ? 0.2 : 0.08 };
    });
    document.getElementById("wg-hh-grid").textContent = code;
    return loadHouseholds(code);
  }

  // --- households, incidents, notices --------------------------------------------------------
  function loadHouseholds(code) {
    return api("GET", "/households?grid=" + encodeURIComponent(code) + "&limit=1000").then(function (res) {
      if (!res.ok) { say(reason(res), true); return; }
      W.households = res.body.households;
      byTest("worker-households").innerHTML = W.households.map(function (h) {
        var who = res.body.personal ? " · " + esc(h.head_name || "") + " " + esc(h.phone || "") : "";
        return '<li data-testid="worker-household" data-code="' + esc(h.code) + '">' + esc(h.code) +
          ' <span class="muted">' + esc(h.building) + " " + h.unit_no + "单元 " + esc(h.room || "") + who + "</span></li>";
      }).join("") || '<li class="muted">没有住户 (no household)</li>';
      byTest("visit-household").innerHTML = W.households.map(function (h) {
        return '<option value="' + esc(h.code) + '">' + esc(h.code) + (h.head_name ? " " + esc(h.head_name) : "") + "</option>";
      }).join("");
    });
  }
  function loadIncidents() {
    return api("GET", "/incidents?limit=1000").then(function (res) {
      if (!res.ok) { say(reason(res), true); return; }
      var mine = {};
      W.grids.forEach(function (g) { mine[g.code] = 1; });
      W.incidents = res.body.incidents.filter(function (i) {  // its grids', and those it co-owns
        return mine[i.micro_grid] || (i.co_owner_grids || []).some(function (g) { return mine[g]; });
      });
      byTest("worker-incidents").innerHTML = W.incidents.map(function (i) {
        return '<li data-testid="worker-incident" data-id="' + esc(i.code) + '"><b>' + esc(i.category_name) +
          "</b> " + esc(i.status_name) + (i.overdue ? ' <b style="color:#a51d2d">超时 overdue</b>' : "") +
          '<br><span class="muted">' + esc(i.code) + " · " + esc(i.micro_grid) + "</span><br>" + esc(i.description) + "</li>";
      }).join("") || '<li class="muted">没有事件 (no incident)</li>';
    });
  }
  function loadNotices(background) {
    var typing = byTest("notice-list").contains(document.activeElement);
    if (background === true && (typing || W.polling)) return Promise.resolve();  // not under the worker's thumb
    W.polling = true;
    return api("GET", "/notices").then(function (res) {
      W.polling = false;
      if (!res.ok) { say(reason(res), true); return; }
      W.notices = res.body.notices;
      var items = [];
      W.notices.forEach(function (n) {
        (n.mine || []).forEach(function (t) {
          var done = t.acked_at ? "已确认 acknowledged " + esc(t.acked_at.slice(11, 16)) + " · " + t.households_reached + " / " + t.households + " 户" : "待确认 to acknowledge";
          items.push('<li data-testid="notice-item" data-id="' + n.id + '" data-grid="' + esc(t.grid) + '"><b>' +
            esc(n.title) + "</b> " + '<span class="muted">' + esc(n.sent_at.slice(0, 16).replace("T", " ")) + "</span><br>" +
            esc(n.body) + '<br><span class="muted">' + esc(t.grid) + " · " + done + "</span>" +
            '<div class="row"><input type="number" inputmode="numeric" min="0" max="' + t.households + '" value="' +
            (t.households_reached == null ? t.households : t.households_reached) + '" data-testid="notice-reached" aria-label="已通知户数 households reached">' +
            '<button type="button" data-testid="notice-ack">确认 (acknowledge)</button></div></li>');
        });
      });
      var ul = byTest("notice-list");
      ul.innerHTML = items.join("") || '<li class="muted">没有通知 (no notice)</li>';
      ul.querySelectorAll('[data-testid="notice-ack"]').forEach(function (b) {
        b.addEventListener("click", function () { ack(b.closest("li")); });
      });
    });
  }
  function ack(li) {
    var n = Number(li.querySelector('[data-testid="notice-reached"]').value);
    return api("POST", "/notices/" + li.dataset.id + "/ack", { grid: li.dataset.grid, households_reached: n }).then(function (res) {
      if (!res.ok) { say(reason(res), true); return; }
      say("已确认通知 " + li.dataset.id + "：" + li.dataset.grid + " 已通知 " + n + " 户 (acknowledged: " + n + " households reached)");
      return loadNotices();
    });
  }

  // --- visits --------------------------------------------------------------------------------
  function submitVisit() {
    var op = byTest("visit-opinion").value;
    var body = {
      household: byTest("visit-household").value,
      date: byTest("visit-date").value,
      note: byTest("visit-note").value,
      opinion: op,
    };
    if (op === "problem") body.problem_category = byTest("visit-problem-category").value;
    if (!body.household) { say("请先选择网格和住户 (choose a grid and a household first)", true); return; }
    return api("POST", "/visits", body).then(function (res) {
      if (!res.ok) { say(reason(res), true); return; }
      var v = res.body;
      W.lastVisit = v;
      say("已登记走访 #" + v.id + " (visit recorded): " + v.household + " · " + v.opinion_label +
        (v.incident ? "\n已生成事件 (incident filed): " + v.incident : ""));
      byTest("visit-note").value = "";
      if (v.incident) return loadIncidents();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    panel();
    drawGrids();
    api("GET", "/session").then(function (res) {
      if (res.ok) W.csrf = res.body.csrf;
      var first = W.grids.length ? selectGrid(W.grids[0].code) : null;
      return Promise.all([first, loadIncidents(), loadNotices()]);
    }).then(function () {
      WG.ready = true;
      setInterval(function () { loadNotices(true); }, 10000);
    });
  });
})();
