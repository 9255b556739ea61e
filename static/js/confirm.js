// Every page: a form with data-confirm asks before it submits (the policy forbids inline onsubmit handlers).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
