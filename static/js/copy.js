// A secret shown once (a fresh API token, a signing secret): a Copy button beside it that puts it on the clipboard
// and says so. Without JS (or clipboard access) the secret stays selectable text.
(function () {
  "use strict";
  document.querySelectorAll("[data-secret]").forEach(function (secret) {
    if (!navigator.clipboard) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "small copy-secret";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy the secret to the clipboard");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(secret.textContent.trim()).then(
        function () { button.textContent = "Copied"; },
        function () { button.textContent = "Copy failed: select the text instead"; }
      );
    });
    secret.insertAdjacentElement("afterend", button);
  });
})();
