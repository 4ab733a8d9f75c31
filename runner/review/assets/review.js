// The review page: decisions go to the local server at once; filters and keys work on the page.
(function () {
  "use strict";
  var token = new URLSearchParams(window.location.search).get("token") || "";
  var jobs = Array.prototype.slice.call(document.querySelectorAll("[data-job]"));
  var message = document.getElementById("message");
  var showing = document.getElementById("showing");
  var names = {pending: "Pending review", approved: "Approved", rejected: "Rejected"};
  var statusOf = {approve: "approved", reject: "rejected", pending: "pending"};
  var wanted = {review: "all", run: "all"};
  var chosen = {}; // axis index -> value index, as strings
  var current = null;

  function matches(job) {
    if (wanted.review !== "all" && job.getAttribute("data-status") !== wanted.review) { return false; }
    if (wanted.run !== "all" && job.getAttribute("data-run") !== wanted.run) { return false; }
    var values = (job.getAttribute("data-values") || "").split(" ");
    for (var axis in chosen) {
      if (values[Number(axis)] !== chosen[axis]) { return false; }
    }
    return true;
  }

  function apply() {
    var visible = 0;
    jobs.forEach(function (job) {
      job.hidden = !matches(job);
      if (!job.hidden) { visible += 1; }
    });
    if (showing) { showing.textContent = "Showing " + visible + " of " + jobs.length + " jobs"; }
  }

  function select(job) {
    if (current) { current.classList.remove("current"); }
    current = job;
    if (job) {
      job.classList.add("current");
      job.focus({preventScroll: true});
      job.scrollIntoView({block: "nearest"});
    }
  }

  function step(delta) {
    var visible = jobs.filter(function (job) { return !job.hidden; });
    if (!visible.length) { return; }
    var at = visible.indexOf(current);
    var next = at < 0 ? (delta > 0 ? 0 : visible.length - 1) : at + delta;
    select(visible[Math.max(0, Math.min(visible.length - 1, next))]);
  }

  function show(job, answer) {
    job.setAttribute("data-status", answer.status);
    job.classList.remove("needs-pick");
    var notice = job.querySelector("[data-role=notice]");
    if (notice) { notice.hidden = true; } // the decision saved is on the images in view
    job.querySelector("[data-role=status]").textContent = names[answer.status];
    job.querySelectorAll("[data-action]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(statusOf[button.getAttribute("data-action")] === answer.status));
    });
    var variants = job.querySelectorAll("[data-pick]");
    variants.forEach(function (button) {
      var picked = variants.length === 1 || Number(button.getAttribute("data-pick")) === answer.pick;
      button.setAttribute("aria-pressed", String(picked));
    });
    job.querySelector("input[name=note]").value = answer.note || "";
    for (var status in answer.counts) {
      var counter = document.querySelector('[data-count="' + status + '"]');
      if (counter) { counter.textContent = String(answer.counts[status]); }
    }
    apply();
  }

  function send(job, body) {
    body.job = job.getAttribute("data-job");
    // What the decision is made on: the images this page shows (the server checks they are
    // still the job's, else asks for a reload).
    body.images = (job.getAttribute("data-sha256") || "").split(" ").filter(Boolean);
    message.textContent = "Saving…";
    return fetch("/api/decision", {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Backdrop-Token": token},
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) { throw new Error(answer.error || response.statusText); }
        return answer;
      });
    }).then(function (answer) {
      show(job, answer);
      message.textContent = "Saved: " + job.getAttribute("data-job") + " is " + names[answer.status].toLowerCase();
    }).catch(function (error) {
      message.textContent = "Not saved: " + error.message;
    });
  }

  function decide(job, action) {
    var body = {action: action};
    if (action === "reject") { body.note = job.querySelector("input[name=note]").value; }
    if (action === "approve") {
      // Approving one of several variants approves the one picked in view; none picked: ask.
      var variants = job.querySelectorAll("[data-pick]");
      if (variants.length > 1) {
        var picked = job.querySelector('[data-pick][aria-pressed="true"]');
        if (!picked) {
          job.classList.add("needs-pick");
          message.textContent = "Pick the variant to deliver first: click it, or press 1–" +
            variants.length + ", then approve.";
          return Promise.resolve();
        }
        body.pick = Number(picked.getAttribute("data-pick"));
      }
    }
    return send(job, body);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) { return; }
    var row = button.closest(".filter-row");
    if (row) {
      row.querySelectorAll("button").forEach(function (other) {
        other.setAttribute("aria-pressed", String(other === button));
      });
      var value = button.getAttribute("data-value");
      var kind = row.getAttribute("data-filter");
      if (kind === "axis") {
        if (value === "all") { delete chosen[row.getAttribute("data-axis")]; } else { chosen[row.getAttribute("data-axis")] = value; }
      } else {
        wanted[kind] = value;
      }
      apply();
      return;
    }
    var job = button.closest("[data-job]");
    if (!job) { return; }
    select(job);
    if (button.hasAttribute("data-action")) {
      decide(job, button.getAttribute("data-action"));
    } else if (button.hasAttribute("data-pick")) {
      send(job, {action: "pick", pick: Number(button.getAttribute("data-pick"))});
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target.matches && target.matches("input, textarea")) {
      var owner = target.closest("[data-job]");
      if (event.key === "Enter" && owner) { event.preventDefault(); decide(owner, "reject"); }
      if (event.key === "Escape" && owner) { target.blur(); select(owner); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key;
    if (key === "j") { step(1); } else if (key === "k") { step(-1); }
    if (!current || current.hidden) { return; }
    if (key === "a") { decide(current, "approve"); }
    else if (key === "r") { decide(current, "reject"); }
    else if (key === "u") { decide(current, "pending"); }
    else if (/^[1-9]$/.test(key)) {
      var pick = current.querySelector('[data-pick="' + key + '"]');
      if (pick) { send(current, {action: "pick", pick: Number(key)}); }
    }
  });

  apply();
  if (jobs.length) { select(jobs.filter(function (job) { return !job.hidden; })[0] || null); }
})();
