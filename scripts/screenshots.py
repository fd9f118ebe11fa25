#!/usr/bin/env python3
"""Screenshots of the built book for the README (book/images/*.png), taken in headless Chromium.

    python scripts/screenshots.py [--html _build/html] [--out book/images]

Needs a built book (make book) and Chromium (make chromium). Each shot is the element named below,
scrolled into view, after the page's plotly figures have rendered; ``screen`` is the first screen
of the page as a reader sees it at 1400 x 900.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: file name -> (page, CSS selector of the element to capture)
SHOTS = {
    "landing.png": ("book/intro.html", "screen"),
    "results-top.png": ("book/generated/results.html", "screen"),
    "gca-variants-table.png": ("book/generated/gca_variants.html", "#T_variants-full-afk"),
    "attention-explorer.png": ("book/generated/explorer.html", "#fig-attn"),
    "results-verdicts.png": ("book/generated/results.html", "#verdicts-claim-by-claim"),
    "results-forest.png": ("book/generated/results.html", "#fig-forest"),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--html", default=str(REPO / "_build" / "html"))
    p.add_argument("--out", default=str(REPO / "book" / "images"))
    args = p.parse_args()
    html, out = Path(args.html), Path(args.out)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found (make chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for name, (doc, selector) in SHOTS.items():
            target = html / doc
            if not target.is_file():
                print(f"skipped {name}: {target} not built", file=sys.stderr)
                continue
            page.goto(target.resolve().as_uri(), wait_until="load")
            page.wait_for_timeout(1500)  # plotly draws after load
            if selector == "screen":
                page.screenshot(path=str(out / name))
                print(f"wrote {out / name}")
                continue
            element = page.query_selector(selector)
            if element is None:
                print(f"skipped {name}: no {selector} in {doc}", file=sys.stderr)
                continue
            if element.bounding_box()["height"] > 900 or element.evaluate("e => e.tagName") == "SECTION":
                # a section or a long element: capture its first screen (heading and what follows)
                element.evaluate("e => e.scrollIntoView()")
                box = element.bounding_box()  # viewport coordinates after the scroll
                page.screenshot(path=str(out / name),
                                clip={"x": box["x"], "y": max(box["y"], 0), "width": box["width"],
                                      "height": min(box["height"], 900 - max(box["y"], 0))})
            else:
                element.screenshot(path=str(out / name))
            print(f"wrote {out / name}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
