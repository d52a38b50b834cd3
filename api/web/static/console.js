// Live console: every few seconds, fetch the device's changing parts (timeline, consent,
// offers) and swap them in when they differ. The page is complete without this script.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var seconds = Number(live.dataset.seconds) || 3;
  var src = live.dataset.src + window.location.search;
  function refresh() {
    fetch(src, { credentials: "same-origin", headers: { accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html.trim() !== live.innerHTML.trim()) { live.innerHTML = html; }
      })
      .catch(function () { /* try again at the next tick */ })
      .then(function () { window.setTimeout(refresh, seconds * 1000); });
  }
  window.setTimeout(refresh, seconds * 1000);
})();
