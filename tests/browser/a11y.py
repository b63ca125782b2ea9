"""axe-core in the browser tests: the vendored release (tests/browser/vendor/
axe-core, a test tool: the bridge never serves it) is injected into a page and
run on the whole document, the widget's open shadow root included.
``serious_violations`` keeps the violations of impact serious or critical, one
line each (rule, impact, the elements' selectors), so a failing assertion says
what to fix."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

AXE_DIR = Path(__file__).parent / "vendor" / "axe-core"
AXE_JS = AXE_DIR / "axe.min.js"
AXE_VERSION = "4.14.1"
SERIOUS = ("serious", "critical")


def run_axe(page: Any) -> List[Dict[str, Any]]:
    """All of axe's violations on ``page`` now (WCAG 2.x A/AA and best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    version = page.evaluate("() => window.axe.version")
    assert version == AXE_VERSION, f"vendored axe-core is {version}, expected {AXE_VERSION}"
    return page.evaluate("""async () => {
        const result = await window.axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.map(n => n.target.map(t => Array.isArray(t) ? t.join(' >> ') : t).join(' >> ')),
            summary: v.nodes.slice(0, 3).map(n => n.failureSummary || ''),
        }));
    }""")


def serious_violations(page: Any) -> List[str]:
    """One line per serious or critical violation: ``rule (impact): selectors``."""
    return [f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['targets'][:6])}"
            + (f" [{v['summary'][0].splitlines()[-1].strip()}]" if v["summary"] and v["summary"][0] else "")
            for v in run_axe(page) if v["impact"] in SERIOUS]


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: none)."""
    return int(page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth"))
