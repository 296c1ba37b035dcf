/* Wangge residents' page (/app/resident): nearby places (the browser's position or a typed
   address), search by service with suggestions and "open now", and reporting an incident —
   tap the map (or use my position, or type an address), a category, a description, an
   optional photo, anonymous or with a phone — then the receipt with the number and a
   tracking link (its token in the URL fragment only). Every server error goes to
   [data-testid=message]. Configuration in window.WANGGE (maps/resident_app.py); runs after
   maps/wangge.js, which made window.WG (WG.map: the Leaflet map) and the base layer. */
(function () {
  "use strict";
  var U = window.WGU, esc = U.esc, byTest = U.byTest;  // maps/app_util.js
  var C = window.WANGGE;
  if (C.kind !== "resident_app") return;
  var WG = window.WG;
  var R = (WG.resident = {
    origin: null, originFrom: null, results: [], report: null, picking: false, receipt: null,
    categoriesFrom: null,
  });
  var results = null, marker = null;

  // --- small helpers ------------------------------------------------------------------------
  var say = U.say;
  function show(id, on) { byTest(id).classList.toggle("wg-hidden", !on); }
  function reason(res) {
    var t = U.reason(res);
    return res.status === 429 ? "提交太频繁，请稍后再试 (too many reports, try again later): " + t : t;
  }
  /* the public API, without the cookie: a signed-in staff browser reports as the public
     does (no CSRF token needed, no staff identity on a resident's report) */
  function call(method, path, body, headers) {
    return U.call(method, path, { body: body, headers: headers, credentials: "omit", api: C.api });
  }
  function here(cb) {
    if (!navigator.geolocation) {
      say("此浏览器不能定位，请输入地址 (this browser cannot tell its position: type an address)", true);
      return;
    }
    navigator.geolocation.getCurrentPosition(function (p) {
      cb(p.coords.longitude, p.coords.latitude);
    }, function (e) {
      say("无法获取您的位置，请输入地址 (your position is not available: type an address) — " + e.message, true);
    }, { enableHighAccuracy: true, timeout: 10000 });
  }

  // --- the panel ----------------------------------------------------------------------------
  var OPEN = {
    true: '<span class="wg-open">营业中 (open now)</span>',
    false: '<span class="wg-closed">未营业 (closed now)</span>',
    null: '<span class="wg-unknown">开放时间未知 (hours unknown)</span>',
  };
  function panel() {
    var sheet = document.createElement("div");
    sheet.id = "wg-sheet";
    sheet.innerHTML =
      '<div class="row"><button type="button" data-testid="sheet-toggle" aria-expanded="true">▾ 收起 (hide)</button>' +
      '<button type="button" class="primary" data-testid="report-start">＋ 上报事件 (report)</button></div>' +
      '<div id="wg-message" data-testid="message" role="status" aria-live="polite"></div>' +
      '<div class="wg-body">' +
      '<section data-testid="find">' +
      "<h3>找服务 (find a service)</h3>" +
      '<div class="row"><input type="search" data-testid="service-input" maxlength="50" placeholder="如 居住证、社保、长者食堂、打印 (e.g.)" aria-label="服务 (service)">' +
      '<button type="button" class="primary" data-testid="service-submit">搜索 (search)</button></div>' +
      '<label class="check"><input type="checkbox" data-testid="open-now"> 只看营业中 (open now only)</label>' +
      '<div id="wg-suggestions" data-testid="service-suggestions"></div>' +
      '<ul data-testid="service-results"></ul>' +
      "<h4>附近服务：按我的位置或地址 (nearby: by my position or an address)</h4>" +
      '<div class="row"><button type="button" data-testid="nearby-locate">◎ 我的位置 (near me)</button></div>' +
      '<div class="row"><input type="text" data-testid="nearby-address" placeholder="输入地址，如 吉福社区云锦城市花园3栋 (an address)" aria-label="地址 (address)">' +
      '<button type="button" data-testid="nearby-submit">查附近 (nearby)</button></div>' +
      '<ul data-testid="nearby-results"></ul>' +
      "</section>" +
      '<section data-testid="report-form" class="wg-hidden">' +
      "<h3>上报事件 (report an incident)</h3>" +
      '<p data-testid="report-where">请点击地图选择位置，或使用我的位置，或输入地址 (tap the map, use your position, or type an address)</p>' +
      '<div class="row"><button type="button" data-testid="report-locate">◎ 用我的位置 (my position)</button></div>' +
      '<input type="text" data-testid="report-address" placeholder="或输入地址 (or an address)" aria-label="事件地址 (address)">' +
      '<h4><label for="wg-category">类别 (category)</label></h4>' +
      '<select id="wg-category" data-testid="report-category"></select>' +
      '<h4><label for="wg-description">描述 (description)</label></h4>' +
      '<textarea id="wg-description" data-testid="report-description" maxlength="2000" placeholder="发生了什么？(what happened?)"></textarea>' +
      '<h4><label for="wg-photo">照片（可选，JPEG/PNG，不超过 5 MB）(photo, optional)</label></h4>' +
      '<input type="file" id="wg-photo" data-testid="report-photo" accept="image/jpeg,image/png">' +
      '<label class="check"><input type="checkbox" data-testid="report-anonymous" checked> 匿名上报 (report anonymously)</label>' +
      '<input type="tel" data-testid="report-phone" class="wg-hidden" maxlength="32" placeholder="您的电话 (your phone)" aria-label="电话 (phone)">' +
      '<p class="wg-privacy" data-testid="report-privacy"></p>' +
      '<div class="row"><button type="button" data-testid="report-cancel">取消 (cancel)</button>' +
      '<button type="button" class="primary" data-testid="report-submit">提交 (submit)</button></div>' +
      "</section>" +
      '<section data-testid="report-receipt" class="wg-hidden wg-receipt"></section>' +
      "</div>";
    L.DomEvent.disableClickPropagation(sheet);
    L.DomEvent.disableScrollPropagation(sheet);
    document.body.appendChild(sheet);
    byTest("report-privacy").textContent = C.privacy;
    return sheet;
  }

  // --- nearby and search by service ---------------------------------------------------------
  function setOrigin(lon, lat, from) {
    R.origin = { lon: lon, lat: lat };
    R.originFrom = from;
  }
  function origin() {
    if (R.origin) return R.origin;
    var c = WG.map.getCenter();
    return { lon: c.lng, lat: c.lat };
  }
  function item(p, testid, extra) {
    var li = document.createElement("li");
    li.className = "wg-item";
    li.setAttribute("data-testid", testid);
    li.setAttribute("data-code", p.code);
    var dist = p.walking_m != null ? "步行 " + Math.round(p.walking_m) + " 米 (walk)" : Math.round(p.distance_m) + " 米 (m)";
    li.innerHTML = "<strong>" + esc(p.name) + "</strong> · " + dist + " · " + OPEN[String(p.open)] +
      "<small>" + esc(p.kind_name) + (extra ? " · " + extra : "") + "</small>" +
      "<small>" + esc(p.address || "") + (p.opening_hours ? " · " + esc(p.opening_hours) : "") +
      (p.phone ? " · ☎ " + esc(p.phone) : "") + "</small>";
    return li;
  }
  function draw(features, list, testid, withMatch) {
    results.clearLayers();
    list.innerHTML = "";
    R.results = features.map(function (f) { return f.properties.code; });
    var pts = [];
    features.forEach(function (f) {
      var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var mk = L.circleMarker(ll, { radius: 9, color: "#1a5fb4", weight: 2, fillColor: "#62a0ea", fillOpacity: 0.9 })
        .bindPopup("<strong>" + esc(p.name) + "</strong><br>" + esc(p.address || "") + "<br>" + esc(p.opening_hours || ""))
        .addTo(results);
      pts.push(ll);
      var li = item(p, testid, withMatch && p.matched ? "匹配 (matched): " + esc(p.matched) : "");
      li.addEventListener("click", function () { WG.map.setView(ll, 18); mk.openPopup(); });
      list.appendChild(li);
    });
    if (features.length) list.scrollIntoView({ block: "nearest" });
    if (pts.length) WG.map.fitBounds(pts.concat([[origin().lat, origin().lon]]), { padding: [30, 30], maxZoom: 18 });
  }
  function near(params, list, testid, withMatch) {
    var q = new URLSearchParams(params);
    if (!q.has("address")) { q.set("lon", origin().lon); q.set("lat", origin().lat); q.set("crs", "wgs84"); }
    q.set("limit", "20");
    return call("GET", "/nearby?" + q.toString()).then(function (res) {
      if (!res.ok) { say(reason(res), true); return null; }
      if (res.body.origin && q.has("address")) setOrigin(res.body.origin.lon, res.body.origin.lat, "address");
      draw(res.body.features, list, testid, withMatch);
      return res.body;
    });
  }
  function nearby(params) {
    byTest("service-results").innerHTML = "";
    byTest("service-suggestions").innerHTML = "";
    near(params, byTest("nearby-results"), "nearby-item", false).then(function (b) {
      if (b) say("附近 " + b.features.length + " 处服务场所 (places nearby)");
    });
  }
  function search(term) {
    var input = byTest("service-input");
    if (term !== undefined) input.value = term;
    var t = input.value.trim();
    if (!t) { say("请输入要找的服务，如 社保 (type a service, e.g. 社保)", true); return; }
    var params = { service: t };
    if (byTest("open-now").checked) params.open_now = "true";
    if (R.originFrom === "address") params.address = byTest("nearby-address").value.trim();
    byTest("nearby-results").innerHTML = "";
    var sug = byTest("service-suggestions");
    sug.innerHTML = "";
    near(params, byTest("service-results"), "service-item", true).then(function (b) {
      if (!b) return;
      if (b.features.length) { say("找到 " + b.features.length + " 处提供「" + t + "」(places offering it)"); return; }
      var names = b.suggestions || [];
      say(names.length ? "没有找到「" + t + "」，您是不是要找 (no match; did you mean):" :
        (params.open_now ? "「" + t + "」现在没有营业的地方 (nothing offering it is open now)" : "没有找到「" + t + "」(no match)"), !names.length && !params.open_now);
      names.forEach(function (n) {
        var btn = document.createElement("button");
        btn.type = "button";
        btn.setAttribute("data-testid", "service-suggestion");
        btn.textContent = n;
        btn.addEventListener("click", function () { search(n); });
        sug.appendChild(btn);
      });
    });
  }

  // --- reporting ----------------------------------------------------------------------------
  function fillCategories(list) {
    var groups = {}, order = [];
    list.forEach(function (c) {
      var g = c.group || "";
      if (!groups[g]) { groups[g] = []; order.push(g); }
      groups[g].push(c);
    });
    var sel = byTest("report-category");
    sel.innerHTML = '<option value="">请选择类别 (choose a category)</option>';
    order.forEach(function (g) {
      var og = document.createElement("optgroup");
      og.label = g || "类别 (categories)";
      groups[g].forEach(function (c) {
        var o = document.createElement("option");
        o.value = c.key;
        o.textContent = c.name + (c.name_en ? " (" + c.name_en + ")" : "");
        og.appendChild(o);
      });
      sel.appendChild(og);
    });
  }
  function loadCategories() {
    return call("GET", "/incidents/categories").then(function (res) {
      var ok = res.ok && res.body && Array.isArray(res.body.categories);
      R.categoriesFrom = ok ? "server" : "page";
      fillCategories(ok ? res.body.categories : C.categories);
    });
  }
  function setReport(lon, lat, how) {
    R.report = { lon: lon, lat: lat, how: how };
    byTest("report-address").value = "";
    if (marker) marker.remove();
    marker = L.circleMarker([lat, lon], { radius: 11, color: "#a51d2d", weight: 3, fillColor: "#ed333b", fillOpacity: 0.8 })
      .bindTooltip("事件位置 (the report's position)").addTo(WG.map);
    say("位置已选好，请选择类别并填写描述 (position set: choose a category, describe it)");
    byTest("report-where").textContent = "位置 (position): " + lat.toFixed(6) + ", " + lon.toFixed(6) +
      (how === "map" ? "（地图上点选 tapped on the map）" : "（我的位置 my position）");
  }
  function startReport() {
    R.picking = true;
    sheet.classList.add("picking");
    sheet.classList.remove("collapsed");
    show("find", false);
    show("report-receipt", false);
    show("report-form", true);
    WG.map.getContainer().style.cursor = "crosshair";
    say("请点击地图选择事件位置 (tap the map where it is)");
  }
  function endReport() {
    R.picking = false;
    sheet.classList.remove("picking");
    WG.map.getContainer().style.cursor = "";
    show("report-form", false);
    show("find", true);
  }
  function checkPhoto() {
    var f = byTest("report-photo").files[0];
    if (!f) return null;
    if (["image/jpeg", "image/png"].indexOf(f.type) < 0) {
      return "照片只能是 JPEG 或 PNG (the photo must be a JPEG or PNG): " + (f.type || f.name);
    }
    if (f.size > C.max_photo_bytes) {
      return "照片超过 5 MB (the photo is over 5 MB): " + (f.size / 1048576).toFixed(1) + " MB";
    }
    return null;
  }
  function reportBody() {
    var body = {
      category: byTest("report-category").value,
      description: byTest("report-description").value.trim(),
    };
    var addr = byTest("report-address").value.trim();
    if (addr) body.address = addr;
    else if (R.report) { body.lon = R.report.lon; body.lat = R.report.lat; body.crs = "wgs84"; }
    if (!byTest("report-anonymous").checked && byTest("report-phone").value.trim()) {
      body.reporter_phone = byTest("report-phone").value.trim();
    }
    return body;
  }
  function submit() {
    var body = reportBody();
    var bad = !body.category ? "请选择类别 (choose a category)" :
      !body.description ? "请填写描述 (describe what happened)" :
      body.address === undefined && body.lon === undefined ? "请在地图上点选位置，或输入地址 (tap the map or type an address)" :
      !byTest("report-anonymous").checked && !body.reporter_phone ? "请填写电话，或选择匿名 (give a phone, or report anonymously)" :
      checkPhoto();
    if (bad) { say(bad, true); return; }
    var btn = byTest("report-submit");
    btn.disabled = true;
    say("正在提交… (sending)");
    call("POST", "/incidents", body).then(function (res) {
      if (!res.ok) { btn.disabled = false; say(reason(res), true); return; }
      var file = byTest("report-photo").files[0];
      var photo = !file ? Promise.resolve(null) :
        call("POST", "/incidents/" + encodeURIComponent(res.body.code) + "/photo", file,
          { "Content-Type": file.type, "X-Reporter-Token": res.body.reporter_token });
      return photo.then(function (p) {
        btn.disabled = false;
        receipt(res.body, p);
      });
    });
  }
  function receipt(inc, photo) {
    var link = (C.api || "") + "/app/track#" + encodeURIComponent(inc.code) + "." + encodeURIComponent(inc.reporter_token);
    R.receipt = { code: inc.code, photo: photo ? photo.ok : null };
    var box = byTest("report-receipt");
    box.innerHTML = "<h3>已收到您的上报 (report received)</h3>" +
      '<p>事件编号 (number): <strong data-testid="receipt-code"></strong></p>' +
      '<p><a data-testid="receipt-track" rel="noreferrer">跟踪进度 (track it)</a></p>' +
      "<p>请保存这个链接：凭它查看进度、确认解决或重新打开；链接丢失后无法找回。" +
      " (Keep this link: it lets you follow, confirm or reopen the report; it cannot be recovered.)</p>";
    box.querySelector('[data-testid="receipt-code"]').textContent = inc.code;
    box.querySelector('[data-testid="receipt-track"]').href = link;
    endReport();
    show("report-receipt", true);
    if (marker) { marker.remove(); marker = null; }
    R.report = null;
    ["report-description", "report-address", "report-phone"].forEach(function (id) { byTest(id).value = ""; });
    byTest("report-photo").value = "";
    if (photo && !photo.ok) say("事件已上报，但照片未能上传 (reported, but the photo was not uploaded): " + reason(photo), true);
    else say("上报成功 (reported): " + inc.code + (photo ? "，照片已上传 (photo uploaded)" : ""));
  }

  // --- wiring -------------------------------------------------------------------------------
  var sheet;
  document.addEventListener("DOMContentLoaded", function () {
    sheet = panel();
    results = L.layerGroup().addTo(WG.map);
    byTest("sheet-toggle").addEventListener("click", function () {
      var hidden = sheet.classList.toggle("collapsed");
      this.textContent = hidden ? "▴ 展开 (show)" : "▾ 收起 (hide)";
      this.setAttribute("aria-expanded", String(!hidden));
    });
    byTest("nearby-locate").addEventListener("click", function () {
      here(function (lon, lat) { setOrigin(lon, lat, "browser"); nearby({}); });
    });
    byTest("nearby-submit").addEventListener("click", function () {
      var a = byTest("nearby-address").value.trim();
      if (!a) { say("请输入地址 (type an address)", true); return; }
      nearby({ address: a });
    });
    byTest("service-submit").addEventListener("click", function () { search(); });
    byTest("service-input").addEventListener("keydown", function (e) { if (e.key === "Enter") search(); });
    byTest("open-now").addEventListener("change", function () { if (byTest("service-input").value.trim()) search(); });
    byTest("report-start").addEventListener("click", startReport);
    byTest("report-cancel").addEventListener("click", function () {
      endReport();
      if (marker) { marker.remove(); marker = null; }
      R.report = null;
      say("");
    });
    byTest("report-locate").addEventListener("click", function () {
      here(function (lon, lat) { setReport(lon, lat, "browser"); WG.map.setView([lat, lon], 18); });
    });
    byTest("report-address").addEventListener("input", function () {
      if (this.value.trim() && R.report) {
        R.report = null;
        if (marker) { marker.remove(); marker = null; }
        byTest("report-where").textContent = "位置：按地址 (position: by the address)";
      }
    });
    byTest("report-anonymous").addEventListener("change", function () {
      show("report-phone", !this.checked);
    });
    byTest("report-photo").addEventListener("change", function () {
      var bad = checkPhoto();
      say(bad || "", !!bad);
    });
    byTest("report-submit").addEventListener("click", submit);
    WG.map.on("click", function (e) {
      if (R.picking) setReport(e.latlng.lng, e.latlng.lat, "map");
    });
    loadCategories().then(function () { WG.ready = true; });
  });
})();
