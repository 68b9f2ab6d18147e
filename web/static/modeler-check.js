"use strict";
/* The modeler page says so when the modeler's bundle did not load. */
window.addEventListener("load", function () {
  var canvas = document.getElementById("modeler");
  if (!window.deskflowModelerPage && canvas.getAttribute("data-ready") === "loading") {
    /* the bundle did not load */
    var alert = document.getElementById("modeler-alert");
    alert.textContent = "The modeler's files are missing on the server (web/static/vendor/modeler): " +
      "run `make install` there, then reload this page.";
    alert.hidden = false;
    document.getElementById("modeler-status").textContent = "";
    canvas.setAttribute("data-ready", "error");
  }
});
