"""The HTML report's style sheet and script (:mod:`phoneiqa.audit.reports.html` writes them into the page)."""

CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0 auto;
       max-width: 1100px; padding: 0 16px 32px; }
h1 { font-size: 1.4em; margin: 16px 0 4px; }
.summary { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; margin: 8px 0 16px; }
figure { margin: 0; }
figcaption, caption { font-weight: 600; text-align: left; margin-bottom: 4px; }
table { border-collapse: collapse; }
th, td { padding: 3px 8px; text-align: left; vertical-align: middle; }
#counts td { text-align: right; font-variant-numeric: tabular-nums; }
#counts td.zero { color: #aaa; }
#counts tbody tr:nth-child(odd) { background: #f5f5f5; }
#histogram .bar { fill: #4a7ab5; }
#histogram .count, #histogram .tick { font-size: 10px; text-anchor: middle; fill: #444; }
#histogram line { stroke: #888; }
.controls { display: flex; flex-wrap: wrap; gap: 16px; align-items: center; padding: 8px 0;
            position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; }
#shown { color: #555; }
#photos { width: 100%; }
#photos thead th { border-bottom: 2px solid #ccc; }
#photos tbody tr { border-bottom: 1px solid #eee; }
th.sortable button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer;
                     color: #1a4f8b; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
td.thumb { width: 72px; }
td.thumb img { display: block; max-width: 64px; max-height: 64px; border-radius: 3px; }
td.thumb.explained { position: relative; cursor: zoom-in; }
td.thumb.explained::after { content: "maps"; font-size: 10px; color: #555; }
td.thumb img.overlay { display: none; position: absolute; left: 72px; top: 0; max-width: none; max-height: none;
                       z-index: 2; border-radius: 3px; box-shadow: 0 2px 10px rgba(0, 0, 0, 0.35); }
td.thumb.explained:hover img.overlay, td.thumb.open img.overlay { display: block; }
.nothumb { display: flex; width: 64px; height: 48px; align-items: center; justify-content: center;
           background: #eee; color: #999; font-size: 11px; border-radius: 3px; }
td.path { word-break: break-all; font-family: ui-monospace, monospace; font-size: 12px; }
td.score { text-align: right; font-variant-numeric: tabular-nums; width: 4em; }
.badge { display: inline-block; margin: 1px 4px 1px 0; padding: 0 6px; border-radius: 9px; font-size: 12px; }
.burst { display: inline-block; margin: 1px 4px 1px 0; padding: 0 6px; border-radius: 9px; font-size: 12px;
         border: 1px solid #888; color: #333; }
.burst.best { border-color: #2a7a2a; color: #1d5e1d; font-weight: 600; }
.level-1 { background: #fff3c4; }
.level-2 { background: #ffd2a6; }
.level-3 { background: #f5a3a3; }
.error { color: #b00020; }
tr.failed td.path { color: #777; }
#more { margin: 12px 0; padding: 4px 16px; font: inherit; cursor: pointer; }
"""

JS = """
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("data").textContent);
  const rows = data.rows;
  const issue = document.getElementById("issue");
  const level = document.getElementById("level");
  const shown = document.getElementById("shown");
  const body = document.getElementById("photos-body");
  const more = document.getElementById("more");
  const collapse = document.getElementById("collapse");  // only when the audit found a sure group
  const headers = { score: document.getElementById("sort-score"), path: document.getElementById("sort-path") };
  let sort = null;  // {key: "score" | "path", descending: boolean}, null for the table's order
  let matching = [];  // indices into rows of the photos that pass the filter, in display order
  let rendered = 0;

  const failed = (r) => r.error !== "";

  // Whether a row passes the filter: issue is "all", "any", "none", "failed" or an issue key; min the level.
  function passes(r, which, column, min) {
    if (collapse && collapse.checked && r.group && r.group[3] && r.group[1] > 1) return false;
    if (which === "all") return true;
    if (which === "failed") return failed(r);
    if (failed(r)) return false;
    if (which === "none") return r.levels.every((v) => v === 0);
    if (which === "any") return r.levels.some((v) => v >= min);
    return r.levels[column] >= min;
  }

  // Score: high to low (or low to high), photos without a score (failed files, a model without one) last.
  // Path: by code point.
  const unscored = (r) => r.score === null;
  function compare(i, j) {
    const a = rows[i], b = rows[j];
    if (sort.key === "score") {
      if (unscored(a) || unscored(b)) return unscored(a) - unscored(b);
      return sort.descending ? b.score - a.score : a.score - b.score;
    }
    const c = a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
    return sort.descending ? -c : c;
  }

  function element(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function rowElement(r) {
    const tr = element("tr", failed(r) ? "photo failed" : "photo");
    tr.dataset.path = r.path;
    tr.dataset.score = r.score === null ? "" : String(r.score);
    const thumb = element("td", "thumb");
    if (r.thumb) {
      const img = element("img");
      img.loading = "lazy";
      img.src = r.thumb;
      img.alt = "";
      thumb.append(img);
    } else {
      thumb.append(element("span", "nothumb", "no preview"));
    }
    if (r.overlay) {
      const maps = element("img", "overlay");
      maps.loading = "lazy";
      maps.src = r.overlay;
      maps.alt = "where the exposure problems of " + r.path + " are";
      thumb.classList.add("explained");
      thumb.tabIndex = 0;
      thumb.title = "exposure maps: hover, or click to keep them open";
      thumb.addEventListener("click", () => thumb.classList.toggle("open"));
      thumb.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); thumb.classList.toggle("open"); }
      });
      thumb.append(maps);
    }
    const issues = element("td", "issues");
    if (r.error) issues.append(element("span", "error", r.error));
    r.levels.forEach((v, k) => {
      if (!(v >= 1)) return;
      const badge = element("span", "badge level-" + v, data.labels[k] + ": " + data.levels[v]);
      badge.dataset.issue = data.labels[k];
      badge.dataset.level = String(v);
      if (r.p && r.p[k] !== null) badge.title = "probability " + r.p[k].toFixed(2);
      issues.append(badge);
    });
    if (r.group) {
      const [g, place, size, sure] = r.group;
      const where = sure ? " in burst " + g : " similar photos, group " + g;
      const text = (place === 1 ? "best of " : "#" + place + " of ") + size + where;
      issues.append(element("span", place === 1 ? "burst best" : "burst", text));
    }
    tr.append(thumb, element("td", "path", r.path), element("td", "score", unscored(r) ? "–" : r.score.toFixed(1)),
              issues);
    return tr;
  }

  function showMore() {
    const end = Math.min(rendered + data.pageSize, matching.length);
    const fragment = document.createDocumentFragment();
    for (let k = rendered; k < end; k++) fragment.append(rowElement(rows[matching[k]]));
    body.append(fragment);
    rendered = end;
    const left = matching.length - rendered;
    more.hidden = left === 0;
    more.textContent = "show " + Math.min(left, data.pageSize) + " more (" + left + " not listed yet)";
  }

  function update() {
    const which = issue.value;
    const min = Number(level.value);
    const column = data.labels.indexOf(which);
    level.disabled = !(which === "any" || column >= 0);
    matching = [];
    for (let i = 0; i < rows.length; i++) if (passes(rows[i], which, column, min)) matching.push(i);
    if (sort) matching.sort(compare);
    for (const [key, th] of Object.entries(headers)) {
      th.setAttribute("aria-sort", sort && sort.key === key ? (sort.descending ? "descending" : "ascending") : "none");
    }
    shown.textContent = "showing " + matching.length + " of " + rows.length;
    body.replaceChildren();
    rendered = 0;
    showMore();
  }

  // The first click sorts scores high to low and paths A to Z; the next click reverses.
  function sortBy(key) {
    sort = sort && sort.key === key ? { key, descending: !sort.descending } : { key, descending: key === "score" };
    update();
  }

  issue.addEventListener("change", update);
  if (collapse) collapse.addEventListener("change", update);
  level.addEventListener("change", update);
  headers.score.addEventListener("click", () => sortBy("score"));
  headers.path.addEventListener("click", () => sortBy("path"));
  more.addEventListener("click", showMore);
  update();
})();
"""
