// Progressive enhancements for the dashboard; every page works without this file.
// A static file because the Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";

  // Filters apply as soon as a select changes (the Apply button stays for keyboards and no-JS).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // "Copy" buttons copy the text of the element named by data-copy.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      });
    });
  });

  // The settings page's live check: refresh "events received in the last minutes" every 10 s.
  var live = document.querySelector("[data-live-url]");
  if (live) {
    var text = live.querySelector("[data-live-text]");
    var refresh = function () {
      fetch(live.getAttribute("data-live-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          var n = data.events.toLocaleString();
          text.textContent = n + " event" + (data.events === 1 ? "" : "s") + " received in the last " + data.minutes + " minutes" +
            (data.last_active_local ? "; last activity in the hour from " + data.last_active_local : "") + ".";
          live.classList.toggle("active", data.events > 0);
        })
        .catch(function () {});
    };
    refresh();
    setInterval(refresh, 10000);
  }
})();
