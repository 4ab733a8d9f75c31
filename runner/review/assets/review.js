// The review page: the jobs come from the local server as JSON, a page of cards at a time; the
// filters, counts and keys work over every job from a compact index; each decision is saved at
// once. Values from the recipe are only ever set as text or attributes, never parsed as markup.
(function () {
  "use strict";
  var token = new URLSearchParams(window.location.search).get("token") || "";
  var main = document.getElementById("jobs");
  var version = main.getAttribute("data-version") || "";
  var message = document.getElementById("message");
  var showing = document.getElementById("showing");
  var cardTemplate = document.getElementById("job-card");
  var variantTemplate = document.getElementById("job-variant");
  var names = {pending: "Pending review", approved: "Approved", rejected: "Rejected"};
  var runNames = {done: "Done", skipped: "Done earlier", failed: "Failed", pending: "Not run yet"};
  var statusOf = {approve: "approved", reject: "rejected", pending: "pending"};
  var wanted = {review: "all", run: "all"};
  var chosen = {}; // axis index -> value index, as strings
  var index = null; // every job's review status, run status and axis values (GET /api/index)
  var order = []; // the positions the filters show; kept until a filter changes, so pages hold
  var page = 0;
  var asked = 0; // the latest page asked for: an answer to an earlier one is dropped
  var ahead = null; // the next page's cards, asked for in advance: {at, answer, since}
  var AHEAD_MS = 5 * 60 * 1000; // older than this, they are asked for again
  var current = null;

  function getJson(path, params) {
    var search = new URLSearchParams(params);
    search.set("token", token);
    search.set("version", version);
    return fetch(path + "?" + search.toString(), {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        return response.json().then(function (answer) {
          if (!response.ok) { throw new Error(answer.error || response.statusText); }
          return answer;
        });
      });
  }

  // --- which jobs show ---------------------------------------------------------------------

  function matches(position) {
    if (wanted.review !== "all" && index.statuses[index.status[position]] !== wanted.review) { return false; }
    if (wanted.run !== "all" && index.runs[index.run[position]] !== wanted.run) { return false; }
    for (var axis in chosen) {
      if (String(index.values[Number(axis)][position]) !== chosen[axis]) { return false; }
    }
    return true;
  }

  function filter() {
    order = [];
    for (var position = 0; position < index.total; position += 1) {
      if (matches(position)) { order.push(position); }
    }
  }

  function pages() { return Math.max(1, Math.ceil(order.length / index.page_size)); }

  function cards() {
    return Array.prototype.slice.call(main.querySelectorAll("[data-job]"));
  }

  function visibleCards() {
    return cards().filter(function (card) { return !card.hidden; });
  }

  // A card decided out of the filter hides, but keeps its place: the pages stay as they were.
  function apply() {
    cards().forEach(function (card) { card.hidden = !matches(Number(card.getAttribute("data-position"))); });
    var visible = 0;
    for (var position = 0; position < index.total; position += 1) {
      if (matches(position)) { visible += 1; }
    }
    showing.textContent = "Showing " + visible + " of " + index.total + " jobs";
    var first = page * index.page_size;
    var last = Math.min(order.length, first + index.page_size);
    var span = last - first > 1 ? "jobs " + (first + 1) + "–" + last : "job " + last;
    document.querySelectorAll("[data-role=pages]").forEach(function (label) {
      label.textContent = "Page " + (page + 1) + " of " + pages() + " (" + span + ")";
    });
    document.querySelectorAll(".pager").forEach(function (pager) { pager.hidden = pages() < 2; });
    document.querySelectorAll('[data-page="previous"]').forEach(function (button) { button.disabled = page <= 0; });
    document.querySelectorAll('[data-page="next"]').forEach(function (button) { button.disabled = page >= pages() - 1; });
  }

  function showCounts(counts) {
    for (var status in counts) {
      var counter = document.querySelector('[data-count="' + status + '"]');
      if (counter) { counter.textContent = String(counts[status]); }
    }
  }

  function filtered() {
    return wanted.review !== "all" || wanted.run !== "all" || Object.keys(chosen).length > 0;
  }

  // --- drawing -----------------------------------------------------------------------------

  // Only links to this server's files: anything else the answer holds is dropped.
  function fileUrl(url) { return typeof url === "string" && url.indexOf("/files/") === 0 ? url : ""; }

  function part(card, name) { return card.querySelector('[data-role="' + name + '"]'); }

  function reveal(element, text) {
    element.hidden = false;
    element.textContent = text;
  }

  function drawVariant(variant) {
    var figure = variantTemplate.content.firstElementChild.cloneNode(true);
    var button = figure.querySelector("button");
    button.setAttribute("data-pick", String(variant.number));
    button.setAttribute("aria-label", "Pick variant " + variant.number);
    var image = figure.querySelector("img");
    image.setAttribute("src", fileUrl(variant.src));
    image.setAttribute("width", String(variant.width));
    image.setAttribute("height", String(variant.height));
    part(figure, "number").textContent = String(variant.number);
    figure.querySelector("a").setAttribute("href", fileUrl(variant.full));
    return figure;
  }

  function drawCompare(card, job) {
    var compare = part(card, "compare");
    var previous = part(card, "previous");
    var history = part(card, "history");
    if (job.take > 1) {
      var take = job.take - 1;
      compare.hidden = false;
      part(card, "compare-title").textContent = "Compare with take " + take;
      job.previous.forEach(function (url, number) {
        var image = document.createElement("img");
        image.setAttribute("src", fileUrl(url));
        image.setAttribute("alt", "Take " + take + ", image " + (number + 1));
        image.setAttribute("loading", "lazy");
        previous.appendChild(image);
      });
      if (!job.previous.length) {
        previous.hidden = true;
        reveal(part(card, "not-kept"), "the images of take " + take + " were not kept");
      }
    } else if (job.history.length) {
      compare.hidden = false;
      previous.hidden = true;
      part(card, "compare-title").textContent = "Earlier decisions";
    }
    job.history.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = line;
      history.appendChild(item);
    });
    history.hidden = !job.history.length;
  }

  function drawCard(job) {
    var card = cardTemplate.content.firstElementChild.cloneNode(true);
    card.setAttribute("data-job", job.key);
    card.setAttribute("data-position", String(job.position));
    card.setAttribute("data-run", job.run);
    card.setAttribute("data-take", String(job.take));
    // What a decision sent from this card is made on: the images it shows.
    card.setAttribute("data-sha256", job.sha256.join(" "));
    card.setAttribute("aria-label", job.label);
    part(card, "label").textContent = job.label;
    part(card, "take").textContent = "Take " + job.take;
    if (job.run !== "done") {
      var run = part(card, "run");
      run.classList.add(job.run);
      reveal(run, runNames[job.run] || job.run);
    }
    var variants = part(card, "variants");
    variants.classList.toggle("several", job.variants.length > 1);
    job.variants.forEach(function (variant) { variants.appendChild(drawVariant(variant)); });
    if (!job.variants.length) {
      variants.hidden = true;
      part(card, "no-image").hidden = false;
    }
    if (job.notice) { reveal(part(card, "notice"), job.notice); }
    if (job.error) { reveal(part(card, "error"), job.error); }
    drawCompare(card, job);
    var list = part(card, "details");
    job.details.forEach(function (row) {
      var name = document.createElement("dt");
      var value = document.createElement("dd");
      name.textContent = row[0];
      value.textContent = row[1];
      list.appendChild(name);
      list.appendChild(value);
    });
    paint(card, job);
    card.querySelector("input[name=note]").value = job.note || "";
    return card;
  }

  // The decision on a card: its status, its pick (a single image is the pick already).
  function paint(card, state) {
    card.setAttribute("data-status", state.status);
    part(card, "status").textContent = names[state.status];
    card.querySelectorAll("[data-action]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(statusOf[button.getAttribute("data-action")] === state.status));
    });
    var variants = card.querySelectorAll("[data-pick]");
    variants.forEach(function (button) {
      var picked = variants.length === 1 || Number(button.getAttribute("data-pick")) === state.pick;
      button.setAttribute("aria-pressed", String(picked));
    });
  }

  function remember() {
    var hash = filtered() || page === 0 ? "" : "#page=" + (page + 1);
    if (window.location.hash !== hash) {
      history.replaceState(null, "", hash || window.location.pathname + window.location.search);
    }
  }

  function positionsOf(number) {
    return order.slice(number * index.page_size, (number + 1) * index.page_size);
  }

  // The cards at these positions: asked for now, or taken from the page fetched ahead.
  function fetchCards(positions) {
    var at = positions.join(",");
    var kept = ahead;
    ahead = null;
    if (kept && kept.at === at && Date.now() - kept.since < AHEAD_MS) {
      return kept.answer.catch(function () { return getJson("/api/jobs", {at: at}); });
    }
    return getJson("/api/jobs", {at: at});
  }

  // Ask for the next page while this one is read, so that turning to it only draws it.
  function fetchAhead(number) {
    var positions = positionsOf(number);
    if (!positions.length) { return; }
    var at = positions.join(",");
    var answer = getJson("/api/jobs", {at: at}).then(function (cards) {
      delete cards.counts; // counted then: the counts a decision brings back are newer
      return cards;
    });
    answer.catch(function () {}); // asked again when needed
    ahead = {at: at, answer: answer, since: Date.now()};
  }

  // Draw page `number` of the filtered jobs, then call `then` (with the page drawn).
  function drawPage(number, then) {
    page = Math.max(0, Math.min(number, pages() - 1));
    var positions = positionsOf(page);
    var ticket = asked += 1;
    remember();
    main.setAttribute("aria-busy", "true");
    var drawn = positions.length ? fetchCards(positions) : Promise.resolve({jobs: []});
    return drawn.then(function (answer) {
      if (ticket !== asked) { return; }
      answer.jobs.forEach(function (job) { index.status[job.position] = index.statuses.indexOf(job.status); });
      var drawnCards = answer.jobs.map(drawCard);
      if (!drawnCards.length && index.total) {
        var none = document.createElement("p");
        none.textContent = "No job matches these filters.";
        drawnCards.push(none);
      }
      if (index.total) { main.replaceChildren.apply(main, drawnCards); }
      current = null;
      if (answer.counts) { showCounts(answer.counts); }
      apply();
      if (then) { then(); }
      main.setAttribute("aria-busy", "false"); // drawn, and a job chosen: keys work
      fetchAhead(page + 1);
    }).catch(function (error) {
      if (ticket === asked) { message.textContent = "Not loaded: " + error.message; }
    });
  }

  // To the next (+1) or previous (-1) page with a job in view; select its first or last job.
  function turn(delta, edge) {
    var target = page + delta;
    if (target < 0 || target >= pages()) { return; }
    drawPage(target, function () {
      var shown = visibleCards();
      if (!shown.length) { turn(delta, edge); return; } // all decided out of the filter
      if (edge === "first") { window.scrollTo(0, 0); }
      select(edge === "first" ? shown[0] : shown[shown.length - 1]);
    });
  }

  // --- choosing and deciding -----------------------------------------------------------------

  function select(card) {
    if (current) { current.classList.remove("current"); }
    current = card;
    if (card) {
      card.classList.add("current");
      card.focus({preventScroll: true});
      card.scrollIntoView({block: "nearest"});
    }
  }

  function step(delta) {
    var shown = visibleCards();
    var at = shown.indexOf(current);
    var next = at < 0 ? (delta > 0 ? 0 : shown.length - 1) : at + delta;
    if (next >= 0 && next < shown.length) {
      select(shown[next]);
    } else {
      turn(delta, delta > 0 ? "first" : "last");
    }
  }

  function show(card, answer) {
    card.classList.remove("needs-pick");
    var notice = part(card, "notice");
    notice.hidden = true; // the decision saved is on the images in view
    paint(card, answer);
    card.querySelector("input[name=note]").value = answer.note || "";
    index.status[Number(card.getAttribute("data-position"))] = index.statuses.indexOf(answer.status);
    showCounts(answer.counts);
    apply();
  }

  function send(card, body) {
    body.job = card.getAttribute("data-job");
    // What the decision is made on: the images this page shows (the server checks they are
    // still the job's, else asks for a reload).
    body.images = (card.getAttribute("data-sha256") || "").split(" ").filter(Boolean);
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
      show(card, answer);
      message.textContent = "Saved: " + card.getAttribute("data-job") + " is " + names[answer.status].toLowerCase();
    }).catch(function (error) {
      message.textContent = "Not saved: " + error.message;
    });
  }

  function decide(card, action) {
    var body = {action: action};
    if (action === "reject") { body.note = card.querySelector("input[name=note]").value; }
    if (action === "approve") {
      // Approving one of several variants approves the one picked in view; none picked: ask.
      var variants = card.querySelectorAll("[data-pick]");
      if (variants.length > 1) {
        var picked = card.querySelector('[data-pick][aria-pressed="true"]');
        if (!picked) {
          card.classList.add("needs-pick");
          message.textContent = "Pick the variant to deliver first: click it, or press 1–" +
            variants.length + ", then approve.";
          return Promise.resolve();
        }
        body.pick = Number(picked.getAttribute("data-pick"));
      }
    }
    return send(card, body);
  }

  function chooseFilter(row, button) {
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
    filter();
    drawPage(0, function () { select(visibleCards()[0] || null); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!index) { return; }
    if (!button) { // a click on a job makes it the one the keys act on
      var clicked = event.target.closest("[data-job]");
      var typing = event.target.closest("a, input, label, summary"); // keeps its own focus
      if (clicked && clicked !== current && !typing) { select(clicked); }
      return;
    }
    var row = button.closest(".filter-row");
    if (row) { chooseFilter(row, button); return; }
    if (button.hasAttribute("data-page")) {
      turn(button.getAttribute("data-page") === "next" ? 1 : -1, "first");
      return;
    }
    var card = button.closest("[data-job]");
    if (!card) { return; }
    select(card);
    if (button.hasAttribute("data-action")) {
      decide(card, button.getAttribute("data-action"));
    } else if (button.hasAttribute("data-pick")) {
      send(card, {action: "pick", pick: Number(button.getAttribute("data-pick"))});
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
    if (event.ctrlKey || event.metaKey || event.altKey || !index) { return; }
    var key = event.key;
    if (key === "j") { step(1); } else if (key === "k") { step(-1); }
    else if (key === "n") { turn(1, "first"); } else if (key === "p") { turn(-1, "first"); }
    if (!current || current.hidden || !current.isConnected) { return; }
    if (key === "a") { decide(current, "approve"); }
    else if (key === "r") { decide(current, "reject"); }
    else if (key === "u") { decide(current, "pending"); }
    else if (/^[1-9]$/.test(key)) {
      var pick = current.querySelector('[data-pick="' + key + '"]');
      if (pick) { send(current, {action: "pick", pick: Number(key)}); }
    }
  });

  getJson("/api/index", {}).then(function (answer) {
    index = answer;
    filter();
    showCounts(answer.counts);
    var kept = /^#page=(\d+)$/.exec(window.location.hash); // the page before a reload
    drawPage(kept ? Number(kept[1]) - 1 : 0, function () { select(visibleCards()[0] || null); });
  }).catch(function (error) {
    message.textContent = "Not loaded: " + error.message;
    main.setAttribute("aria-busy", "false");
  });
})();
