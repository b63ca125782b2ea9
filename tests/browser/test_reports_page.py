"""The supervisors' "Informes" view of the agent console, in Chromium, against
an in-process bridge holding the reports story of tests/handoff/test_reports.py
(known answers; the bridge's clock is Wednesday 10 December 2025 09:00 UTC):

- a supervisor gets the tab; the view shows the headline figures, the charts
  per day and the tables that the API's JSON gives for the same range, in
  es-ES ("37,5 %", "5 min", "—"); every call carries the token in
  ``Authorization: Bearer`` and never in the URL;
- the filters (dates, channel, agent) change the request and the figures;
- the CSV is fetched and saved (a download) with the range's conversations;
- an agent gets no tab and the API answers their token 403;
- axe-core finds no serious or critical violation in the view; nothing
  overflows at 1440 and 1024 px; screenshots go to var/shots/reports-*.png
  (or $BROWSER_SCREENSHOTS).
Synchronisation is Playwright's auto-waiting, never sleeps."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from playwright.sync_api import Page, expect

from tests.browser.a11y import horizontal_overflow, serious_violations
from tests.browser.reports_story import ReportsBridge, start_reports_bridge

pytestmark = pytest.mark.slow

RANGE = {"from": "2025-11-24", "to": "2025-12-10"}
SHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "var" / "shots")


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportsBridge]:
    running = start_reports_bridge(tmp_path_factory.mktemp("reports"))
    try:
        yield running
    finally:
        running.stop()


def api(story: ReportsBridge, path: str, token: str) -> Dict[str, Any]:
    request = urllib.request.Request(story.base_url + path, headers={"Authorization": f"Bearer {token}"})  # type: ignore[attr-defined]
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


# the console's es-ES figures, written again here from their rules
def pct(v: Optional[float]) -> str:
    if v is None:
        return "—"
    text = f"{v * 100:.1f}".rstrip("0").rstrip(".").replace(".", ",")
    return f"{text} %"


def dur(v: Optional[float]) -> str:
    if v is None:
        return "—"
    s = round(v)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    if s < 86400:
        h, m = divmod(s, 3600)
        m = round(m / 60)
        return f"{h} h" + (f" {m} min" if m else "")
    d, rest = divmod(s, 86400)
    h = round(rest / 3600)
    return f"{d} d" + (f" {h} h" if h else "")


def text(locator: Any) -> str:
    return locator.inner_text().replace("\xa0", " ").replace("\u202f", " ").strip()


def console(browser: Any, story: ReportsBridge, role: str, width: int = 1440, height: int = 900) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="es-ES",
                                  timezone_id="Europe/Madrid", accept_downloads=True)
    page = context.new_page()
    errors: List[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    requests: List[Any] = []
    page.on("request", lambda r: requests.append(r) if "/api/" in r.url else None)
    page.api_requests = requests  # type: ignore[attr-defined]
    page.goto(story.base_url + "/agent")  # type: ignore[attr-defined]
    page.get_by_label("Token de agente").fill(story.tokens[role])
    page.get_by_label("Token de agente").press("Enter")
    expect(page.locator("#conn")).to_have_text("Conectado")
    return page


def open_reports(page: Page) -> None:
    page.get_by_role("button", name="Informes").click()
    expect(page.get_by_role("heading", name="Informes")).to_be_visible()
    expect(page.locator("#rep-status")).to_contain_text("Informe del")


def apply_range(page: Page, first: str = RANGE["from"], last: str = RANGE["to"]) -> None:
    page.get_by_label("Desde").fill(first)
    page.get_by_label("Hasta").fill(last)
    with page.expect_response(re.compile(r"/api/reports/summary\?")):
        page.get_by_role("button", name="Ver informe").click()
    expect(page.locator("#rep-status")).to_contain_text("Informe del")


def figure(page: Page, key: str) -> str:
    return text(page.locator(f'.kpi[data-key="{key}"] .kpi-value'))


def chart_days(page: Page, chart: str) -> List[List[str]]:
    """Each day of a chart's table: [day, value, …]."""
    return [[text(c) for c in row.locator("th, td").all()] for row in page.locator(f"#{chart} table tbody tr").all()]


def assert_charts_match_the_days(page: Page, days: List[Dict[str, Any]]) -> None:
    """Every per-day chart has a row for every day of the API's ``by_day``
    (its last, today, included) with the API's values; the drawing has a bar
    or a point on each day that has a value."""
    volume, first, rating = (chart_days(page, c) for c in ("chart-volume", "chart-first-response", "chart-csat"))
    assert [r[1] for r in volume] == [str(d["conversations"]) for d in days]
    assert [r[1] for r in first] == [dur(d["first_response_median_s"]) for d in days]
    assert [r[1] for r in rating] == [pct(d["csat_score"]) for d in days]
    expect(page.locator("#chart-first-response svg rect")).to_have_count(
        sum(1 for d in days if d["first_response_median_s"]))
    expect(page.locator("#chart-csat svg circle")).to_have_count(sum(1 for d in days if d["csat_score"] is not None))
    # a bar is seen however small its value next to the others (a 12-minute day beside a 22-hour one was 1 px)
    heights = page.evaluate("() => [...document.querySelectorAll('.chart-card svg rect')].map(r => +r.getAttribute('height'))")
    assert min(heights, default=4) >= 4, heights


def assert_token_only_in_header(page: Page, token: str) -> None:
    seen = page.api_requests  # type: ignore[attr-defined]
    assert seen, "no API request"
    for request in seen:
        assert token not in request.url
        assert request.headers.get("authorization") == f"Bearer {token}", request.url


def test_a_supervisor_sees_the_figures_of_the_api(browser: Any, story: ReportsBridge) -> None:
    page = console(browser, story, "supervisor")
    open_reports(page)
    # no range asked: the API's default (30 days to the bridge's today) is shown
    default = api(story, "/api/reports/summary", story.tokens["supervisor"])
    expect(page.get_by_label("Desde")).to_have_value(default["range"]["from"])
    expect(page.get_by_label("Hasta")).to_have_value("2025-12-10")

    apply_range(page)
    s = api(story, f"/api/reports/summary?from={RANGE['from']}&to={RANGE['to']}", story.tokens["supervisor"])
    assert figure(page, "conversations") == str(s["conversations"]) == "8"
    assert figure(page, "containment") == pct(s["containment_rate"]) == "37,5 %"
    assert figure(page, "handoffs") == str(s["handoffs"])
    assert figure(page, "first_response") == dur(s["first_response_s"]["median"]) == "5 min"
    assert figure(page, "resolution") == dur(s["resolution_s"]["median"]) == "30 min"
    assert figure(page, "csat") == pct(s["csat"]["score"]) == "50 %"
    assert figure(page, "sla") == pct(s["sla"]["met_rate"])
    assert figure(page, "fcr") == pct(s["fcr_rate"]) == "66,7 %"
    assert figure(page, "nps") == "0"
    assert "media 3,5 de 5" in text(page.locator('.kpi[data-key="csat"]'))

    # the tables: one row per agent, channel, reason and product of the API
    agents = page.locator("#tbl-agent tbody tr")
    expect(agents).to_have_count(len(s["by_agent"]))
    for row in s["by_agent"]:
        cells = page.locator("#tbl-agent tbody tr", has=page.get_by_role("rowheader", name=row["agent_name"]))
        values = [text(c) for c in cells.locator("td").all()]
        assert values[:3] == [str(row["conversations"]), str(row["handoffs"]), dur(row["first_response_s"]["median"])]
        assert values[4] == pct(row["csat"]["score"])
    channels = {text(r.locator("th")): [text(c) for c in r.locator("td").all()]
                for r in page.locator("#tbl-channel tbody tr").all()}
    assert set(channels) == {"Web", "Telegram"}
    assert channels["Web"][:2] == ["7", pct(next(r for r in s["by_channel"] if r["channel"] == "web")["containment_rate"])]
    reasons = [text(r) for r in page.locator("#tbl-reason tbody th").all()]
    assert reasons == [row["reason_text"] for row in s["by_reason"]] and "Pedido retrasado" in reasons
    assert [text(r) for r in page.locator("#tbl-product tbody th").all()] == [p["product"] for p in s["top_products"]]

    # the charts: accessible images, and every day's value in their tables
    expect(page.locator("#reports svg[role=img]")).to_have_count(3)
    volume = page.locator("#chart-volume table tbody tr")
    expect(volume).to_have_count(len(s["by_day"]))
    for day, row in zip(s["by_day"], volume.all()):
        cells = [text(c) for c in row.locator("td").all()]
        assert cells[0] == str(day["conversations"])
        assert cells[1] == (pct(day["containment_rate"]) if day["conversations"] else "—")
    first_day = page.locator("#chart-first-response table tbody tr").first.locator("td")
    assert text(first_day) == dur(s["by_day"][0]["first_response_median_s"])
    assert s["by_day"][-1]["date"] == RANGE["to"]
    assert_charts_match_the_days(page, s["by_day"])
    bars = page.locator("#chart-volume svg rect")
    expect(bars).to_have_count(sum(1 for d in s["by_day"] if d["conversations"]))
    assert_token_only_in_header(page, story.tokens["supervisor"])
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_filters_change_the_request_and_the_figures(browser: Any, story: ReportsBridge) -> None:
    page = console(browser, story, "supervisor")
    open_reports(page)
    apply_range(page)
    page.get_by_label("Canal", exact=True).select_option("telegram")
    with page.expect_request(re.compile(r"/api/reports/summary\?")) as asked:
        page.get_by_role("button", name="Ver informe").click()
    assert "channel=telegram" in asked.value.url and "from=2025-11-24" in asked.value.url
    expect(page.locator('.kpi[data-key="conversations"] .kpi-value')).to_have_text("1")

    page.get_by_label("Canal", exact=True).select_option("")
    page.get_by_label("Agente", exact=True).select_option(label="Ana")
    with page.expect_request(re.compile(r"/api/reports/summary\?")) as asked:
        page.get_by_role("button", name="Ver informe").click()
    assert f"agent={story.agents['Ana']}" in asked.value.url and "channel=" not in asked.value.url
    only_ana = api(story, f"/api/reports/summary?from={RANGE['from']}&to={RANGE['to']}&agent={story.agents['Ana']}",
                   story.tokens["supervisor"])
    expect(page.locator('.kpi[data-key="handoffs"] .kpi-value')).to_have_text(str(only_ana["handoffs"]))
    assert only_ana["handoffs"] == 4

    page.get_by_label("Agente", exact=True).select_option("")
    apply_range(page, "2025-11-26", "2025-11-26")
    expect(page.locator('.kpi[data-key="conversations"] .kpi-value')).to_have_text("1")
    expect(page.locator("#chart-volume table tbody tr")).to_have_count(1)
    # a day with nothing: zeros, and "—" for what cannot be computed
    apply_range(page, "2025-12-01", "2025-12-01")
    expect(page.locator('.kpi[data-key="conversations"] .kpi-value')).to_have_text("0")
    for key in ("first_response", "resolution", "csat", "fcr"):
        expect(page.locator(f'.kpi[data-key="{key}"] .kpi-value')).to_have_text("—")
    expect(page.locator("#tbl-agent tbody")).to_contain_text("Ningún agente")
    assert_token_only_in_header(page, story.tokens["supervisor"])
    page.context.close()


def test_the_csv_downloads_with_the_token_in_the_header(browser: Any, story: ReportsBridge, tmp_path: Path) -> None:
    page = console(browser, story, "supervisor")
    open_reports(page)
    apply_range(page)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Descargar CSV").click()
    download = download_info.value
    assert download.suggested_filename == "conversaciones_2025-11-24_2025-12-10.csv"
    target = tmp_path / "c.csv"
    download.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == 8
    assert {"conversation_id", "channel", "first_response_s", "csat", "fcr"} <= set(rows[0])
    csv_requests = [r for r in page.api_requests if "conversations.csv" in r.url]  # type: ignore[attr-defined]
    assert len(csv_requests) == 1 and "from=2025-11-24&to=2025-12-10" in csv_requests[0].url
    assert_token_only_in_header(page, story.tokens["supervisor"])
    expect(page.locator("#rep-status")).to_have_text("CSV descargado.")
    page.context.close()


def test_an_agent_sees_no_reports_tab_and_the_api_says_403(browser: Any, story: ReportsBridge) -> None:
    page = console(browser, story, "agent")
    expect(page.locator("#app")).to_be_visible()
    expect(page.get_by_role("button", name="Informes")).to_have_count(0)
    expect(page.locator("#reports")).to_be_hidden()
    status = page.evaluate("""async (token) => (await fetch('/api/reports/summary',
        {headers: {Authorization: 'Bearer ' + token}})).status""", story.tokens["agent"])
    assert status == 403
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(story, "/api/reports/summary", story.tokens["agent"])
    assert refused.value.code == 403
    page.context.close()


@pytest.mark.parametrize("width,height", [(1440, 900), (1024, 768)])
def test_the_view_is_accessible_and_fits(browser: Any, story: ReportsBridge, width: int, height: int) -> None:
    page = console(browser, story, "supervisor", width, height)
    open_reports(page)
    apply_range(page)
    violations = serious_violations(page)
    assert not violations, "axe-core, serious or critical:\n" + "\n".join(violations)
    assert horizontal_overflow(page) == 0
    # each chart fits its card, and the cards fit the view
    widths = page.evaluate("""() => [...document.querySelectorAll('.chart-card')].map(c => {
        const svg = c.querySelector('svg'); return [c.clientWidth, svg.getBoundingClientRect().width]; })""")
    assert all(svg <= card for card, svg in widths), widths
    # the day labels under each chart never touch (the last one used to sit on the one before)
    touching = page.evaluate("""() => [...document.querySelectorAll('.chart-card svg')].flatMap(svg => {
        const texts = [...svg.querySelectorAll('text[text-anchor=middle]')];
        const bottom = Math.max(...texts.map(t => +t.getAttribute('y')));
        const boxes = texts.filter(t => +t.getAttribute('y') === bottom).map(t => t.getBoundingClientRect())
            .sort((a, b) => a.left - b.left);
        return boxes.slice(1).filter((b, i) => b.left < boxes[i].right).map(b => svg.closest('.chart-card').id);
    })""")
    assert not touching, touching
    # the top bar on one line (the view tabs beside the connection state)
    heights = page.evaluate("""() => ['#conn', '#view-reports', '#sound', '#signout', '.topbar h1']
        .map(s => document.querySelector(s).getBoundingClientRect().height)""")
    assert max(heights) < 40, heights
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"reports-{width}-top.png"))
    # the view scrolls inside the console: a viewport as tall as it, for the whole of it
    whole = page.evaluate("() => { const r = document.getElementById('reports');"
                          " return Math.ceil(r.getBoundingClientRect().top + r.scrollHeight); }")
    page.set_viewport_size({"width": width, "height": whole})
    page.screenshot(path=str(SHOTS / f"reports-{width}.png"))
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_signing_out_of_the_view_leaves_nothing_for_the_next_agent(browser: Any, story: ReportsBridge) -> None:
    page = console(browser, story, "supervisor")
    open_reports(page)
    expect(page.locator('.kpi[data-key="conversations"]')).to_be_visible()
    page.get_by_role("button", name="Salir").click()
    page.get_by_label("Token de agente").fill(story.tokens["agent"])
    page.get_by_label("Token de agente").press("Enter")
    expect(page.locator("#conn")).to_have_text("Conectado")
    expect(page.locator("#app")).to_be_visible()
    expect(page.get_by_role("button", name="Informes")).to_have_count(0)
    expect(page.locator("#reports")).to_be_hidden()
    expect(page.locator(".kpi")).to_have_count(0)
    page.context.close()


def test_day_labels_never_touch_whatever_the_width_and_the_range(browser: Any, story: ReportsBridge) -> None:
    """At 1024 px the CSAT chart drew its last two days on top of each other
    («01/1202/12»): the last label replaces the one before when they would touch."""
    page = console(browser, story, "supervisor", 1440, 900)
    touching = page.evaluate("""() => {
        const found = [];
        const box = document.createElement('div');
        document.body.appendChild(box);
        for (let width = 300; width <= 1300; width += 37) {
          for (let n = 2; n <= 92; n += 3) {
            box.innerHTML = ''; box.style.width = width + 'px';
            const days = [...Array(n).keys()].map(i => String(i + 1).padStart(2, '0') + '/12');
            window.AuroraCharts.render(box, {title: 't', categories: days,
              series: [{name: 's', values: days.map(() => 1)}]});
            const svg = box.querySelector('svg');
            const texts = [...svg.querySelectorAll('text[text-anchor=middle]')];
            const bottom = Math.max(...texts.map(t => +t.getAttribute('y')));
            const boxes = texts.filter(t => +t.getAttribute('y') === bottom).map(t => t.getBoundingClientRect())
              .sort((a, b) => a.left - b.left);
            if (boxes.slice(1).some((b, i) => b.left < boxes[i].right)) found.push([width, n]);
          }
        }
        box.remove();
        return found;
    }""")
    assert not touching, touching[:10]
    page.context.close()


@pytest.fixture
def fresh_story(tmp_path: Path) -> Iterator[ReportsBridge]:
    """The story on a bridge of this test's own (the test adds to it)."""
    running = start_reports_bridge(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_today_is_in_every_chart_after_what_happened_meanwhile(browser: Any, fresh_story: ReportsBridge) -> None:
    """Walkthrough: the supervisor opened «Informes», went back to the
    conversations, answered, closed and got a rating today, and came back:
    the CSAT and first-response charts had no point or bar for today (the view
    was read once per sign-in and never again). Showing the view reads it
    again; every per-day chart then holds today as the API gives it."""
    story = fresh_story
    page = console(browser, story, "supervisor")
    open_reports(page)
    before = api(story, "/api/reports/summary", story.tokens["supervisor"])
    assert before["by_day"][-1]["date"] == "2025-12-10"           # the bridge's today
    assert before["by_day"][-1]["csat_score"] is None            # F is only queued
    assert_charts_match_the_days(page, before["by_day"])
    page.get_by_role("button", name="Conversaciones").click()
    expect(page.locator("#app")).to_be_visible()

    # meanwhile, today: Ana answers F after 4 minutes, closes it, the shopper gives a 5
    from tests.browser.reports_story import _Clock
    from tests.handoff.test_reports import T

    async def answered_today() -> None:
        assert story.server is not None
        core, clock = story.server.bridge, _Clock(story)
        ana = await core.storage.get_agent(story.agents["Ana"])
        clock.at = T(10, 9, 1, month=12); await core.claim(ana, story.ids["F"])
        clock.at = T(10, 9, 2, month=12); await core.agent_message(ana, story.ids["F"], "Hola, soy Ana", None, None)
        clock.at = T(10, 9, 10, month=12); await core.close(ana, story.ids["F"], "resolved")
        await core.customer_csat(story.ids["F"], 5, None)
        clock.at = T(10, 9, 15, month=12)

    story.run(answered_today())
    after = api(story, "/api/reports/summary", story.tokens["supervisor"])
    today = after["by_day"][-1]
    assert (today["date"], today["csat_score"], today["first_response_median_s"]) == ("2025-12-10", 1.0, 720.0)

    page.get_by_role("button", name="Informes").click()
    expect(page.locator("#chart-csat table tbody tr").last.locator("td")).to_have_text("100 %")
    assert_charts_match_the_days(page, after["by_day"])
    assert chart_days(page, "chart-first-response")[-1][1] == "12 min"
    # a chosen range is kept when the view is shown again, and read again too
    apply_range(page, "2025-12-08", "2025-12-10")
    page.get_by_role("button", name="Conversaciones").click()
    with page.expect_request(re.compile(r"/api/reports/summary\?")) as asked:
        page.get_by_role("button", name="Informes").click()
    assert "from=2025-12-08" in asked.value.url and "to=2025-12-10" in asked.value.url
    expect(page.locator("#chart-csat table tbody tr")).to_have_count(3)
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


# the headline cards of each line: [[label lines, breaks inside a word, value top, hint top, card top, card height, overflow], …]
CARDS_JS = """() => {
  const rows = {};
  for (const card of document.querySelectorAll('#rep-figures .kpi')) {
    const dt = card.querySelector('dt'), value = card.querySelector('.kpi-value'), hint = card.querySelector('.kpi-hint');
    const r = card.getBoundingClientRect();
    const chars = [], walker = document.createTreeWalker(dt, NodeFilter.SHOW_TEXT);
    let t;
    while ((t = walker.nextNode())) for (let i = 0; i < t.data.length; i++) {
      const range = document.createRange(); range.setStart(t, i); range.setEnd(t, i + 1);
      const box = range.getClientRects()[0];
      chars.push([t.data[i], box ? Math.round(box.top) : null]);
    }
    const tops = new Set(chars.filter(c => c[0] !== ' ' && c[1] !== null).map(c => c[1]));
    const midWord = chars.filter((c, i) => i && c[0] !== ' ' && chars[i - 1][0] !== ' '
                                   && c[1] !== null && chars[i - 1][1] !== null && c[1] > chars[i - 1][1]).length;
    const key = Math.round(r.top);
    (rows[key] = rows[key] || []).push({key: card.dataset.key, lines: tops.size, midWord,
      value: Math.round(value.getBoundingClientRect().top), hint: hint ? Math.round(hint.getBoundingClientRect().top) : null,
      height: Math.round(r.height), overflow: [dt, value, hint].filter(e => e && e.scrollWidth > e.clientWidth + 1).length
        + (r.right > document.documentElement.clientWidth + 1 ? 1 : 0)});
  }
  return Object.values(rows);
}"""


@pytest.mark.parametrize("width,height", [(1440, 900), (1024, 768), (390, 844)])
def test_the_headline_cards_line_up(browser: Any, story: ReportsBridge, width: int, height: int) -> None:
    """Walkthrough at 1024 px: «PRIMERA RESPUESTA (MEDIANA)» took two lines
    and pushed its own figure and hint below those of the cards beside it.
    The cards of a line share their rows: labels break between words only,
    figures and hints of a line are at one height, the cards of a line are as
    tall; nothing sticks out, at 390 px neither (the charts' hidden tables
    stuck out of the page there, and the top bar ran off the screen)."""
    page = console(browser, story, "supervisor", width, height)
    open_reports(page)
    apply_range(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"reports-{width}-cards.png"), full_page=width < 400)
    rows = page.evaluate(CARDS_JS)
    assert sum(len(r) for r in rows) == 9
    if width > 400:
        assert any(c["key"] == "first_response" and c["lines"] == 2 for r in rows for c in r)  # the case seen
    for row in rows:
        assert all(c["midWord"] == 0 and c["overflow"] == 0 for c in row), row
        for field in ("value", "hint", "height"):
            assert max(c[field] for c in row) - min(c[field] for c in row) <= 1, (field, row)
    assert horizontal_overflow(page) == 0
    if width < 400:
        # a phone: the page itself scrolls through the reports, no box of its own inside a
        # taller page (the walkthrough scrolled 1,000 px of blank page past the reports' box)
        inner, page_height = page.evaluate("""() => {
          const reports = document.getElementById('reports');
          return [reports.scrollHeight - reports.clientHeight, document.documentElement.scrollHeight];
        }""")
        assert inner <= 2 and page_height > 844, (inner, page_height)
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()
