// racker's dashboard, live: applies the `rack` events of /events to the page in place.
// The page is complete without this script; it only saves reloading.
"use strict";

const PROTOCOL_NAMES = {ipmi: "IPMI", redfish: "Redfish"};

function stageText(n) {
  if (n.state === "running") return n.stage + "…";
  if (n.state === "failed") return "failed in " + n.stage;
  if (n.state === "excluded") return "excluded";
  return (n.provisioned || n.state === "provisioned") ? "provisioned" : "—";
}

function stateClass(n) {
  return n.provisioned && n.state === "idle" ? "provisioned" : n.state;
}

function setText(row, field, text) {
  const cell = row.querySelector('[data-field="' + field + '"]');
  if (cell && cell.textContent !== text) cell.textContent = text;
}

function applyNodes(status) {
  for (const n of status.nodes) {
    const row = document.getElementById("node-" + n.mac);
    if (!row) continue;
    setText(row, "bmc_reached", n.bmc_reached ? "✓" : "×");
    setText(row, "power", n.power || "?");
    setText(row, "protocol", PROTOCOL_NAMES[n.protocol] || "?");
    setText(row, "failure", n.failure || "");
    setText(row, "last_event", n.last_event || "");
    const cell = row.querySelector('[data-field="stage"]');
    if (cell) {
      const span = document.createElement("span");
      span.className = "state " + stateClass(n);
      span.textContent = stageText(n);
      cell.replaceChildren(span);
    }
  }
  const summary = document.getElementById("summary");
  if (summary) {
    summary.textContent = status.provisioned_nodes + "/" + status.total_nodes +
      " provisioned (" + status.provisioned + ")";
  }
}

function applyRun(run) {
  if (!run) return;
  const outcome = document.getElementById("run-outcome");
  if (outcome) { outcome.textContent = run.outcome; outcome.className = "state " + run.outcome; }
  const total = run.nodes.length;
  for (const s of run.stages) {
    const box = document.querySelector('.stage[data-stage="' + s.stage + '"]');
    if (!box) continue;
    const bar = box.querySelector("progress");
    bar.max = total; bar.value = s.done;
    box.querySelector(".count").textContent = s.done + "/" + total +
      (s.failed ? ", " + s.failed + " failed" : "");
  }
}

document.addEventListener("DOMContentLoaded", function () {
  if (!document.getElementById("nodes") || !window.EventSource) return;
  const source = new EventSource("/events");
  source.addEventListener("rack", function (e) {
    const data = JSON.parse(e.data);
    applyNodes(data.status);
    applyRun(data.run);
    document.body.dataset.live = "1";
  });
});
