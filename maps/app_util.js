/* What the app pages' own scripts share (maps/app_shell.py, maps/worker_app.py,
   maps/resident_app.py and maps/track.py put it before them): escaping, the data-testid
   lookup, the message line, the reason of a refused answer, and one call to the API that
   always resolves to {ok, status, body}. window.WGU. */
(function () {
  "use strict";
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function byTest(id) { return document.querySelector('[data-testid="' + id + '"]'); }
  function say(text, error) {  // the last server answer, shown to the user (data-testid message)
    var m = byTest("message");
    if (!m) return;
    m.textContent = text || "";
    m.classList.toggle("error", !!error);
  }
  function reason(res) {
    var b = res.body || {}, t = b.message || b.detail || "HTTP " + res.status;
    return typeof t === "string" ? t : JSON.stringify(t);
  }
  /* method, path (under o.api), o: body (JSON, or a Blob sent as it is), headers, csrf (sent as
     X-CSRF-Token on writes), credentials (default same-origin), fetch (more fetch options) */
  function call(method, path, o) {
    o = o || {};
    var h = { Accept: "application/json" }, k;
    for (k in o.headers || {}) if (o.headers[k] != null) h[k] = o.headers[k];
    if (method !== "GET" && o.csrf !== undefined) h["X-CSRF-Token"] = o.csrf || "";
    var body = o.body;
    if (body !== undefined && !(body instanceof Blob)) {
      h["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    var init = { method: method, headers: h, credentials: o.credentials || "same-origin", body: body };
    for (k in o.fetch || {}) init[k] = o.fetch[k];
    return fetch((o.api || "") + path, init).then(function (r) {
      return r.text().then(function (t) {
        var b = null;
        try { b = t ? JSON.parse(t) : null; } catch (e) { b = { message: t }; }
        return { ok: r.ok, status: r.status, body: b || {} };
      });
    }, function (err) {
      return { ok: false, status: 0, body: { message: "无法连接服务器 (cannot reach the server): " + err } };
    });
  }
  function signInAgain(prefix) {  // after a 401: a link to the sign-in form that comes back here
    if (byTest("login-again") || !byTest("message")) return;
    var a = document.createElement("a");
    a.href = (prefix || "") + "/login?next=" + encodeURIComponent(location.pathname + location.search);
    a.textContent = "重新登录 (sign in again)";
    a.setAttribute("data-testid", "login-again");
    byTest("message").after(a);
  }
  window.WGU = { esc: esc, byTest: byTest, say: say, reason: reason, call: call, signInAgain: signInAgain };
})();
