// The seqrec playground: build a history, see every served model's top 10 and its reason.
// Talks to the same server that serves this page: GET model, GET items, POST recommend, POST explain.
"use strict";

const TOP_K = 10;
const KEY_STORAGE = "seqrec-api-key";

const state = {
  models: [],       // served model names, in the server's order
  history: [],      // [{item, title, category}], oldest first
  round: 0,         // increases with every change; answers for an older round are dropped
};

const $ = (selector) => document.querySelector(selector);
const elements = {
  status: $("#status"),
  search: $("#search"),
  results: $("#search-results"),
  history: $("#history"),
  historyEmpty: $("#history-empty"),
  historyCount: $("#history-count"),
  models: $("#models"),
  excludeSeen: $("#exclude-seen"),
  keyField: $("#key-field"),
  apiKey: $("#api-key"),
  template: $("#model-template"),
};

// -- talking to the server ------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, body) {
  const headers = { Accept: "application/json" };
  const key = elements.apiKey.value.trim();
  if (key) headers["X-API-Key"] = key;
  const options = { headers };
  if (body !== undefined) {
    options.method = "POST";
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) elements.keyField.hidden = false;
    throw new ApiError(response.status, data.detail || `${response.status} ${response.statusText}`);
  }
  return data;
}

function setStatus(message, isError = false) {
  elements.status.textContent = message;
  elements.status.classList.toggle("error", isError);
}

// -- small helpers ----------------------------------------------------------------------------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A stable colour per category, so the same category looks the same in every column.
function categoryChip(category) {
  const chip = element("span", "chip", category || "no category");
  let hash = 0;
  for (const char of category || "") hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  chip.style.setProperty("--hue", String(hash % 360));
  return chip;
}

function iconButton(symbol, label, onClick, className = "icon-button") {
  const button = element("button", className, symbol);
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.title = label;
  button.addEventListener("click", onClick);
  return button;
}

function formatScore(score) {
  if (score === null || score === undefined) return "";
  const magnitude = Math.abs(score);
  return magnitude !== 0 && (magnitude < 0.001 || magnitude >= 10000) ? score.toExponential(2) : score.toPrecision(3);
}

// -- the history ------------------------------------------------------------------------------

function addToHistory(entry) {
  state.history.push({ item: entry.item, title: entry.title, category: entry.category });
  historyChanged();
}

function moveInHistory(from, to) {
  if (to < 0 || to >= state.history.length || from === to) return;
  const [entry] = state.history.splice(from, 1);
  state.history.splice(to, 0, entry);
  historyChanged();
}

function removeFromHistory(index) {
  state.history.splice(index, 1);
  historyChanged();
}

function renderHistory() {
  const list = elements.history;
  list.replaceChildren();
  state.history.forEach((entry, index) => {
    const row = element("li", "history-item");
    row.draggable = true;
    row.dataset.index = String(index);
    row.dataset.item = entry.item;
    const text = element("div", "entry");
    text.append(element("span", "title", entry.title), categoryChip(entry.category));
    const tools = element("div", "tools");
    const up = iconButton("↑", `Move ${entry.title} earlier`, () => moveInHistory(index, index - 1));
    const down = iconButton("↓", `Move ${entry.title} later`, () => moveInHistory(index, index + 1));
    up.disabled = index === 0;
    down.disabled = index === state.history.length - 1;
    const remove = iconButton("✕", `Remove ${entry.title} from the history`, () => removeFromHistory(index), "icon-button remove");
    tools.append(up, down, remove);
    row.append(text, tools);
    row.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/plain", String(index));
      event.dataTransfer.effectAllowed = "move";
      row.classList.add("dragging");
    });
    row.addEventListener("dragend", () => row.classList.remove("dragging"));
    row.addEventListener("dragover", (event) => {
      event.preventDefault();
      row.classList.add("drop-target");
    });
    row.addEventListener("dragleave", () => row.classList.remove("drop-target"));
    row.addEventListener("drop", (event) => {
      event.preventDefault();
      row.classList.remove("drop-target");
      moveInHistory(Number(event.dataTransfer.getData("text/plain")), index);
    });
    list.append(row);
  });
  elements.historyEmpty.hidden = state.history.length > 0;
  elements.historyCount.textContent = state.history.length ? `(${state.history.length})` : "";
}

function historyChanged() {
  renderHistory();
  refreshSoon();
}

// -- catalog search ---------------------------------------------------------------------------

async function search() {
  const query = elements.search.value.trim();
  const list = elements.results;
  if (!query) {
    list.replaceChildren();
    return;
  }
  try {
    const data = await api(`items?query=${encodeURIComponent(query)}&limit=12`);
    if (query !== elements.search.value.trim()) return; // typed on meanwhile
    list.replaceChildren();
    if (!data.items.length) list.append(element("li", "hint", `Nothing matches “${query}”.`));
    for (const entry of data.items) {
      const row = element("li", "search-item");
      const text = element("div", "entry");
      text.append(element("span", "title", entry.title), categoryChip(entry.category));
      row.append(text, iconButton("+", `Add ${entry.title} to the history`, () => addToHistory(entry), "icon-button add"));
      list.append(row);
    }
    if (data.total > data.items.length) list.append(element("li", "hint", `… and ${data.total - data.items.length} more; type more of the title.`));
  } catch (error) {
    setStatus(`Search failed: ${error.message}`, true);
  }
}

// -- the models' answers ----------------------------------------------------------------------

function modelColumn(name) {
  return elements.models.querySelector(`.model[data-model="${CSS.escape(name)}"]`);
}

function renderModels(described) {
  elements.models.replaceChildren();
  for (const model of described) {
    const column = elements.template.content.firstElementChild.cloneNode(true);
    column.dataset.model = model.name;
    column.setAttribute("aria-label", `Recommendations of ${model.name}`);
    column.querySelector(".model-name").textContent = model.name;
    column.querySelector(".model-kind").textContent = model.dense_scores ? "scored" : "ranked list only";
    elements.models.append(column);
  }
}

function renderPicks(column, answer) {
  const list = column.querySelector(".picks");
  list.replaceChildren();
  const known = new Set(state.history.map((entry) => entry.item));
  for (const pick of answer.items) {
    const row = element("li", "pick");
    row.dataset.item = pick.item;
    if (known.has(pick.item)) row.classList.add("seen");
    const text = element("div", "entry");
    text.append(element("span", "title", pick.title), categoryChip(pick.category));
    const score = element("span", "score", formatScore(pick.score));
    row.append(element("span", "rank", String(pick.rank)), text, score,
      iconButton("+", `Add ${pick.title} to the history`, () => addToHistory(pick), "icon-button add"));
    list.append(row);
  }
  if (!answer.items.length) list.append(element("li", "hint", "No items."));
}

// One evidence row as words: what the model looked at, and the number it gave that.
function evidenceLine(row) {
  let label = row.item_title;
  if (row.context_titles) label = row.context_titles.length ? `after ${row.context_titles.join(", ")}` : "no context (popularity)";
  else if (row.antecedent_titles) label = `${row.antecedent_titles.join(", ")} → ${row.consequent_title || "?"}`;
  else if (row.items_titles) label = row.items_titles.join(", ");
  if (!label) return null;
  const line = element("li", "", label);
  const key = ["share", "probability", "weight", "contribution", "score", "count"].find((name) => typeof row[name] === "number");
  if (key) line.append(element("span", "weight", ` · ${key} ${formatScore(row[key])}`));
  return line;
}

function renderExplanation(column, explanation) {
  column.querySelector(".why-summary").textContent = explanation ? explanation.summary_titled || explanation.summary : "";
  const evidence = column.querySelector(".why-evidence");
  evidence.replaceChildren();
  for (const row of (explanation && explanation.evidence) || []) {
    const line = evidenceLine(row);
    if (line) evidence.append(line);
    if (evidence.children.length >= 4) break;
  }
}

async function refreshModel(name, round) {
  const column = modelColumn(name);
  if (!column) return;
  column.dataset.state = "loading";
  const history = state.history.map((entry) => entry.item);
  try {
    const answer = await api("recommend", { model: name, history, k: TOP_K, exclude_seen: elements.excludeSeen.checked });
    if (round !== state.round) return;
    renderPicks(column, answer);
    let explanation = null;
    if (answer.items.length) {
      explanation = await api("explain", { model: name, history, item: answer.items[0].item });
      if (round !== state.round) return;
    }
    renderExplanation(column, explanation);
    column.dataset.state = "ready";
    column.dataset.history = history.join(",");
  } catch (error) {
    if (round !== state.round) return;
    column.dataset.state = "error";
    renderExplanation(column, { summary: `Failed: ${error.message}` });
  }
}

async function refresh() {
  const round = ++state.round;
  await Promise.all(state.models.map((name) => refreshModel(name, round)));
  if (round === state.round) {
    const failed = state.models.filter((name) => modelColumn(name).dataset.state === "error");
    if (failed.length) setStatus(`${failed.join(", ")} failed; see the column.`, true);
    else setStatus(`${state.models.length} model(s) answered for a history of ${state.history.length} item(s).`);
  }
}

const refreshSoon = debounce(refresh, 120);

// -- start ------------------------------------------------------------------------------------

async function start() {
  elements.apiKey.value = sessionStorage.getItem(KEY_STORAGE) || "";
  try {
    const data = await api("model");
    state.models = data.models.map((model) => model.name);
    renderModels(data.models);
    renderHistory();
    await refresh();
  } catch (error) {
    const hint = error.status === 401 ? " Enter the server's API key above." : "";
    setStatus(`Cannot reach the models: ${error.message}.${hint}`, true);
  }
}

$("#settings").addEventListener("submit", (event) => event.preventDefault());
elements.apiKey.addEventListener("change", () => {
  sessionStorage.setItem(KEY_STORAGE, elements.apiKey.value.trim());
  start();
});
elements.excludeSeen.addEventListener("change", refreshSoon);
elements.search.addEventListener("input", debounce(search, 150));
$("#clear").addEventListener("click", () => {
  state.history = [];
  historyChanged();
});

start();
