"""axe-core (vendored for the tests only: tests/tools/vendor/axe-core, MPL-2.0) run inside a page.

The pages' CSP allows no script of ours, so axe is evaluated through the DevTools protocol
(Playwright's evaluate), which the CSP does not govern, and never ships to a hall box.
"""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parents[1] / "tools" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def violations(page, *, impacts: tuple[str, ...] = BLOCKING) -> list[str]:
    """What axe finds on the page as it is now, one line per rule and element, of these impacts."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + ' ' + n.html.slice(0, 160) + ' :: '
                    + (n.failureSummary || '').split('\\n').slice(1, 2).join(''))}));
        }"""
    )
    return [
        f"{v['impact']} {v['id']} ({v['help']}): {node}"
        for v in result
        if v["impact"] in impacts
        for node in v["nodes"][:5]
    ]
