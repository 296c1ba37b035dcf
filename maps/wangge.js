/* Wangge map controls: search and "near me" (resident), drawing export (planner), filters
   (dispatcher), layers loaded by bounding box when a map is served. Configuration in
   window.WANGGE (written by maps/build.py). No network unless served (then only the API). */
(function () {
  "use strict";
  var C = window.WANGGE;
  var WG = (window.WG = { ready: false });
  // folium's layer control is a script-level `let`: catch it as Leaflet makes it
  L.Control.Layers.addInitHook(function () { WG.layerControl = this; });

  function el(tag, attrs, html) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (html !== undefined) e.innerHTML = html;
    return e;
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function box(position, id, html) {
    var Ctl = L.Control.extend({
      options: { position: position },
      onAdd: function () {
        var d = el("div", { id: id, class: "wg-box" }, html);
        L.DomEvent.disableClickPropagation(d);
        L.DomEvent.disableScrollPropagation(d);
        return d;
      },
    });
    new Ctl().addTo(WG.map);
    return document.getElementById(id);
  }
  function metres(lon1, lat1, lon2, lat2) {
    var R = 6371008.8, r = Math.PI / 180;
    var dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
    var a = Math.sin(dlat / 2) * Math.sin(dlat / 2) +
      Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
    return 2 * R * Math.asin(Math.sqrt(a));
  }
  function allMarkers(group) {
    var out = [];
    group.eachLayer(function (l) { out.push(l); });
    return out;
  }

  // --- resident -----------------------------------------------------------------------------
  function findPlace(code) {
    for (var kind in C.clusters) {
      var cl = window[C.clusters[kind]];
      var hit = cl.getLayers().filter(function (l) { return l.options.wgCode === code; })[0];
      if (hit) return { cluster: cl, marker: hit };
    }
    return null;
  }
  function showPlace(code) {
    var f = findPlace(code);
    if (!f) return;
    f.cluster.zoomToShowLayer(f.marker, function () { f.marker.openPopup(); });
  }
  function nearestOffline(lon, lat) {
    return C.places
      .filter(function (p) { return C.facility_kinds.indexOf(p.kind) >= 0; })
      .map(function (p) { return { code: p.code, name: p.name, kind_name: p.kind_name, d: metres(lon, lat, p.lon0, p.lat0) }; })
      .sort(function (a, b) { return a.d - b.d; })
      .slice(0, 3);
  }
  function parseAddress(q) {
    q = q.replace(/[\uff10-\uff19]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xfee0); });
    var m = q.match(/^(.*?)(\d+)\s*(栋|幢|号楼|座)/);
    if (!m) return null;
    var names = Object.keys(C.addresses).sort(function (a, b) { return b.length - a.length; });
    var comp = names.filter(function (n) { return m[1].indexOf(n) >= 0; })[0];
    if (!comp || !C.addresses[comp][m[2]]) return null;
    return C.addresses[comp][m[2]];
  }
  function showNear(list, note) {
    var ol = document.getElementById("wg-near-list");
    document.getElementById("wg-near-note").textContent = note || "";
    ol.innerHTML = list.map(function (p) {
      return '<li data-code="' + esc(p.code) + '"><a href="#">' + esc(p.name) + "</a> · " +
        esc(p.kind_name || "") + " · " + Math.round(p.d) + " 米 (m)" +
        (p.walk ? "，步行 (walk) " + Math.round(p.walk) + " 米" : "") + "</li>";
    }).join("");
    Array.prototype.forEach.call(ol.querySelectorAll("li"), function (li) {
      li.querySelector("a").addEventListener("click", function (ev) { ev.preventDefault(); showPlace(li.dataset.code); });
    });
  }
  function nearbyApi(params, note) {
    var q = new URLSearchParams(params);
    q.set("limit", "3");
    q.set("kinds", C.facility_kinds.join(","));
    return fetch((C.api || "") + "/nearby?" + q.toString())
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        if (!res.ok) { showNear([], res.body.message || "未找到 (not found)"); return; }
        showNear(res.body.features.map(function (f) {
          return { code: f.properties.code, name: f.properties.name, kind_name: f.properties.kind_name,
            d: f.properties.distance_m, walk: f.properties.walking_m };
        }), note);
      });
  }
  function resident() {
    var names = C.places.map(function (p) { return '<option value="' + esc(p.name) + '">'; }).join("");
    var search = box("topleft", "wg-search",
      '<h4>搜索 (search)</h4><input id="wg-search-input" list="wg-search-names" placeholder="名称 (name)" size="18">' +
      '<datalist id="wg-search-names">' + names + '</datalist> <button id="wg-search-go">查找 (go)</button>' +
      '<div id="wg-search-note"></div>');
    function go() {
      var q = document.getElementById("wg-search-input").value.trim();
      var hit = C.places.filter(function (p) { return p.name === q; })[0] ||
        C.places.filter(function (p) { return q && p.name.indexOf(q) >= 0; })[0];
      document.getElementById("wg-search-note").textContent = hit ? "" : "未找到 (not found)";
      if (hit) showPlace(hit.code);
    }
    search.querySelector("#wg-search-go").addEventListener("click", go);
    search.querySelector("#wg-search-input").addEventListener("keydown", function (e) { if (e.key === "Enter") go(); });
    var near = box("topright", "wg-near",
      "<h4>附近服务站 (near me)</h4>" +
      (C.api !== null ? '<button id="wg-near-me">📍 用我的位置 (use my position)</button><br>' : "") +
      '<input id="wg-near-address" placeholder="地址，如 吉福苑5栋 (address)" size="20"> ' +
      '<button id="wg-near-go">查找 (find)</button><div id="wg-near-note"></div><ol id="wg-near-list" class="wg-near"></ol>');
    near.querySelector("#wg-near-go").addEventListener("click", function () {
      var q = document.getElementById("wg-near-address").value.trim();
      if (!q) return;
      if (C.api !== null) { nearbyApi({ address: q }, "直线距离 (straight line)"); return; }
      var pt = parseAddress(q);
      if (!pt) { showNear([], "地址未找到 (address not found)"); return; }
      showNear(nearestOffline(pt[0], pt[1]), "直线距离 (straight line)");
    });
    var me = near.querySelector("#wg-near-me");
    if (me) me.addEventListener("click", function () {
      if (!navigator.geolocation) { showNear([], "浏览器不支持定位 (no geolocation)"); return; }
      navigator.geolocation.getCurrentPosition(function (pos) {
        nearbyApi({ lon: pos.coords.longitude, lat: pos.coords.latitude, crs: "wgs84" }, "");
      }, function (err) { showNear([], "无法定位 (position unavailable): " + err.message); });
    });
  }

  // --- planner ------------------------------------------------------------------------------
  function planner() {
    var out = box("bottomright", "wg-drawn",
      "<h4>绘制 (drawn geometry → plans API)</h4><div>用左侧工具绘制边界或分割线 (draw a boundary or a split line)</div>" +
      '<textarea id="wg-drawn-json" rows="6" cols="36" readonly></textarea><br>' +
      '<button id="wg-drawn-copy">复制 (copy)</button> <span id="wg-drawn-note"></span>');
    WG.map.on(L.Draw.Event.CREATED, function (e) {
      var layer = e.layer;
      WG.map.addLayer(layer);
      var g = layer.toGeoJSON().geometry;
      var body = g.type === "LineString" ? { grid: "", line: g } : { grid: "", geometry: g };
      body.crs = C.gcj02 ? "gcj02" : "CRS84";
      document.getElementById("wg-drawn-json").value = JSON.stringify(body);
      WG.drawn = body;
    });
    out.querySelector("#wg-drawn-copy").addEventListener("click", function () {
      var t = document.getElementById("wg-drawn-json");
      t.select();
      var done = function () { document.getElementById("wg-drawn-note").textContent = "已复制 (copied)"; };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(t.value).then(done, done);
      else { try { document.execCommand("copy"); } catch (e) { /* the text stays selected */ } done(); }
    });
    WG.remote = WG.remote || {};
    if (C.api !== null && C.layers.micro_remote) {
      remoteLayer("micro", C.layers.micro_remote, function (f) {
        var n = f.properties.households, b = C.band;
        var colour = n < b[0] ? "#f39c12" : n > b[1] ? "#c0392b" : "#27ae60";
        return { color: "#333", weight: 1, fillColor: colour, fillOpacity: 0.45 };
      });
    }
    if (C.api !== null && C.layers.buildings_remote) {
      remoteLayer("buildings", C.layers.buildings_remote, function () {
        return { color: "#555", weight: 0.8, fillOpacity: 0.3 };
      });
    }
    floorUnitsRemote();
  }

  function floorUnitsRemote() {
    /* units split by floors, too many to embed: each cell once, dashed, from the OGC API */
    WG.remote = WG.remote || {};
    if (C.api === null || !C.layers || !C.layers.floor_units_remote) return;
    remoteLayer("floor_units", C.layers.floor_units_remote, function () {
      return { color: "#6c3483", weight: 2, dashArray: "6 4", fillColor: "#6c3483", fillOpacity: 0.08 };
    });
  }

  function remoteLayer(key, path, style, o) {
    /* too many features to embed: fetch what is in view from the API as the map moves (from
       o.minZoom on, if given; into o.pane and o.group, if given) */
    o = o || {};
    var layer = L.geoJSON(null, {
      style: style,
      pane: o.pane || "overlayPane",
      interactive: o.interactive !== false,
      onEachFeature: o.interactive === false ? null : function (f, l) {
        l.bindTooltip(esc(f.properties.code) + (f.properties.label ? " · " + esc(f.properties.label) : "") +
          (f.properties.households != null ? " · " + f.properties.households + " 户" : ""));
      },
    }).addTo(o.group || WG.map);
    var state = (WG.remote[key] = { layer: layer, count: undefined, pending: 0 });
    /* Answers may come back in any order: each request is numbered, and only the answer to the
       latest one (no move or zoom since it was asked) fills the layer; an older one is dropped.
       Zoomed out below o.minZoom, the requests still out are aborted and the layer emptied. */
    var asked = 0, out = [];
    function settle(ctl) {
      out.splice(out.indexOf(ctl), 1);
      state.pending = out.length;
    }
    function load() {
      var n = ++asked;
      if (o.minZoom && WG.map.getZoom() < o.minZoom) {
        out.slice().forEach(function (ctl) { ctl.abort(); });
        layer.clearLayers();
        state.count = 0;
        return;
      }
      var b = WG.map.getBounds();
      var q = "bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",") + "&limit=5000";
      var ctl = new AbortController();
      out.push(ctl);
      state.pending = out.length;
      fetch((C.api || "") + path + (path.indexOf("?") >= 0 ? "&" : "?") + q, { signal: ctl.signal })
        .then(function (r) { return r.json(); })
        .then(function (fc) {
          if (n !== asked) return; // the map moved since: a newer request fills the layer
          layer.clearLayers();
          layer.addData(fc);
          state.count = fc.features.length;
        })
        .catch(function (e) { if (e.name !== "AbortError") throw e; })
        .finally(function () { settle(ctl); });
    }
    WG.map.on("moveend", load);
    load();
  }

  // --- the base layer (every map): roads, footprints, compound names, outline ---------------
  var ROAD = { primary: 7, secondary: 5, branch: 3.5, footway: 1.5 };
  function baseLayer() {
    /* the map's own data as a quiet base map, in panes under the overlays; its labels above
       them (no clicks). Names arrive escaped (maps/page.text): inserted as HTML, they show as
       text. */
    var B = C.base;
    if (!B) return;
    var map = WG.map;
    map.createPane("wgBase").style.zIndex = 250;
    var lp = map.createPane("wgBaseLabels");
    lp.style.zIndex = 450;
    lp.style.pointerEvents = "none";
    var opts = function (style) { return { pane: "wgBase", interactive: false, style: style }; };
    var group = L.layerGroup();
    var fp = null;
    if (B.footprints) {
      fp = L.geoJSON(B.footprints, opts(function () {
        return { color: "#bdb6aa", weight: 0.6, fillColor: "#d9d4cb", fillOpacity: 1 };
      }));
    }
    var outline = L.geoJSON(B.outline, opts(function () {
      return { color: "#a39a88", weight: 2.5, dashArray: "8 5", fill: false };
    }));
    var casing = L.geoJSON(B.roads, opts(function (f) {
      return { color: "#cfc8b8", weight: (ROAD[f.properties.kind] || 3) + 2, lineCap: "round" };
    }));
    var roads = L.geoJSON(B.roads, opts(function (f) {
      var k = f.properties.kind;
      return { color: "#ffffff", weight: ROAD[k] || 3, lineCap: "round", dashArray: k === "footway" ? "3 4" : null };
    }));
    var labels = L.layerGroup();
    B.roads.features.forEach(function (f) {
      var at = f.properties.label;
      if (!at) return;
      labels.addLayer(L.marker([at.lat, at.lon], {
        pane: "wgBaseLabels", interactive: false, keyboard: false,
        icon: L.divIcon({ className: "wg-base-label", iconSize: [0, 0],
          html: '<span class="wg-road-label" style="transform:translate(-50%,-50%) rotate(' + at.angle + 'deg)">' + f.properties.name + "</span>" }),
      }));
    });
    B.compounds.forEach(function (c) {
      labels.addLayer(L.marker([c.lat, c.lon], {
        pane: "wgBaseLabels", interactive: false, keyboard: false,
        icon: L.divIcon({ className: "wg-base-label", iconSize: [0, 0],
          html: '<span class="wg-compound-label">' + c.name + "</span>" }),
      }));
    });
    [outline, casing, roads, labels].forEach(function (l) { group.addLayer(l); });
    group.addTo(map);
    WG.base = { group: group, outline: outline, roads: roads, casing: casing, labels: labels, footprints: fp };
    function zoomed() {
      if (!fp) return;
      if (map.getZoom() >= B.footprint_min_zoom) group.addLayer(fp);
      else group.removeLayer(fp);
    }
    map.on("zoomend", zoomed);
    zoomed();
    if (C.api !== null && B.footprints_remote) {
      WG.remote = WG.remote || {};
      remoteLayer("base_footprints", B.footprints_remote, function () {
        return { color: "#bdb6aa", weight: 0.6, fillColor: "#d9d4cb", fillOpacity: 1 };
      }, { pane: "wgBase", interactive: false, minZoom: 16, group: group });
    }
    if (WG.layerControl) WG.layerControl.addOverlay(group, "底图·本地数据 (base map: own data)");
  }

  // --- dispatcher ---------------------------------------------------------------------------
  function dispatcher() {
    floorUnitsRemote();
    var cluster = window[C.cluster];
    WG.incidents = allMarkers(cluster);
    var st = Object.keys(C.statuses).map(function (k) { return '<option value="' + k + '">' + esc(C.statuses[k]) + " (" + k + ")</option>"; }).join("");
    var ca = Object.keys(C.categories).map(function (k) { return '<option value="' + k + '">' + esc(C.categories[k]) + " (" + k + ")</option>"; }).join("");
    var f = box("topleft", "wg-filter",
      "<h4>筛选 (filter)</h4>" +
      '<select id="wg-filter-status"><option value="">全部状态 (all statuses)</option>' + st + "</select><br>" +
      '<select id="wg-filter-category"><option value="">全部类别 (all categories)</option>' + ca + "</select><br>" +
      '<label><input type="checkbox" id="wg-filter-overdue"> 只看超时 (overdue only)</label>' +
      '<div id="wg-filter-count"></div>');
    function apply() {
      var s = document.getElementById("wg-filter-status").value;
      var c = document.getElementById("wg-filter-category").value;
      var o = document.getElementById("wg-filter-overdue").checked;
      var keep = WG.incidents.filter(function (m) {
        return (!s || m.options.wgStatus === s) && (!c || m.options.wgCategory === c) && (!o || m.options.wgOverdue);
      });
      cluster.clearLayers();
      cluster.addLayers(keep);
      document.getElementById("wg-filter-count").textContent = "显示 (showing) " + keep.length + " / " + WG.incidents.length;
    }
    ["wg-filter-status", "wg-filter-category", "wg-filter-overdue"].forEach(function (id) {
      f.querySelector("#" + id).addEventListener("change", apply);
    });
    apply();
  }

  function bindPopups(group) {
    group.eachLayer(function (l) {
      if (l.options.wgPopup) l.bindPopup(l.options.wgPopup, { maxWidth: 340 });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    WG.map = window[C.map];
    baseLayer();
    if (C.clusters) for (var k in C.clusters) bindPopups(window[C.clusters[k]]);
    if (C.cluster) bindPopups(window[C.cluster]);
    if (C.kind === "resident") resident();
    if (C.kind === "planner") planner();
    if (C.kind === "dispatcher") dispatcher();
    // an app page says itself when its data is in (maps/app_shell.py marks it "app")
    if (!C.app && ["worker", "notices", "resident_app"].indexOf(C.kind) < 0) WG.ready = true;
  });
})();
