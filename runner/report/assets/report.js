// Filters for the contact sheet. Without JavaScript the page still shows everything.
(function () {
  "use strict";
  var nav = document.getElementById("filters");
  if (!nav || !document.querySelectorAll || !Element.prototype.closest) { return; }
  var jobs = Array.prototype.slice.call(document.querySelectorAll(".job"));
  var showing = document.getElementById("showing");
  var status = "all";
  var chosen = {}; // axis index -> value index, as strings

  function matches(job) {
    if (status !== "all" && job.getAttribute("data-status") !== status) { return false; }
    var values = (job.getAttribute("data-values") || "").split(" ");
    for (var axis in chosen) {
      if (values[Number(axis)] !== chosen[axis]) { return false; }
    }
    return true;
  }

  function each(root, selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  function apply() {
    var visible = 0;
    jobs.forEach(function (job) {
      job.hidden = !matches(job);
      if (!job.hidden) { visible += 1; }
    });
    each(document, ".group", function (group) {
      group.hidden = !group.querySelector(".job:not([hidden])");
      each(group, "tbody tr", function (row) {
        row.hidden = !row.querySelector(".job:not([hidden])");
      });
      each(group, "thead th[data-col]", function (head) {
        var column = head.getAttribute("data-col");
        var any = group.querySelector('td[data-col="' + column + '"] .job:not([hidden])');
        head.hidden = !any;
        each(group, 'td[data-col="' + column + '"]', function (cell) { cell.hidden = !any; });
      });
    });
    if (showing) { showing.textContent = "Showing " + visible + " of " + jobs.length + " jobs"; }
  }

  nav.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    var row = button && button.closest(".filter-row");
    if (!row) { return; }
    each(row, "button", function (other) { other.setAttribute("aria-pressed", String(other === button)); });
    var value = button.getAttribute("data-value");
    if (row.getAttribute("data-filter") === "status") {
      status = value;
    } else if (value === "all") {
      delete chosen[row.getAttribute("data-axis")];
    } else {
      chosen[row.getAttribute("data-axis")] = value;
    }
    apply();
  });
  nav.hidden = false;
  apply();
})();
