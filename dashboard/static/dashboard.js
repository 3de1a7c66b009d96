// Progressive enhancements for the dashboard; every page works without this file.
// A static file because the Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";

  // Filters apply as soon as a select changes (the Apply button stays for keyboards and no-JS).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // A table wider than its card scrolls inside it; keyboard users reach it with Tab to scroll it
  // (WCAG 2.1.1). Only the tables that do scroll at this width become tab stops.
  var tableWraps = document.querySelectorAll(".table-wrap");
  var markScrollable = function () {
    tableWraps.forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth) {
        var card = wrap.closest(".card");
        var heading = card && card.querySelector("h2, h3");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", (heading ? heading.textContent.trim() + ": " : "") + "table, scrolls sideways");
      } else {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    });
  };
  markScrollable();
  window.addEventListener("resize", markScrollable);

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
