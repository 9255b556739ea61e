// On a narrow screen the project nav folds behind a Menu button. Without JS the nav simply wraps.
(function () {
  "use strict";
  const bar = document.querySelector(".topbar");
  const toggle = document.getElementById("nav-toggle");
  if (!bar || !toggle) return;
  bar.classList.add("nav-collapsible");
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    const open = bar.classList.toggle("nav-open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
