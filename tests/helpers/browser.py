"""Headless Chromium for page tests: load a local page, run checks inside it, take a screenshot."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
# Runs in the page once it has loaded; its JSON answer is read back from the dumped DOM.
PROBE = """
<pre id="wmemb-probe"></pre><script>
const images = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
const svgs = [...document.querySelectorAll('svg')].map(s => {
  const box = s.getBoundingClientRect();
  return {width: box.width, height: box.height, texts: s.querySelectorAll('text').length};
});
const chineseLabels = [...document.querySelectorAll('svg text')]
  .filter(t => /[\\u4e00-\\u9fff]/.test(t.textContent))
  .map(t => ({text: t.textContent, width: t.getComputedTextLength()}));
const external = [...document.querySelectorAll('[src],[href]')]
  .map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => !u.startsWith('#'));
// Without a CJK font every Chinese character is the same empty box: two different ones draw alike.
function drawn(char) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 40;
  const context = canvas.getContext('2d');
  context.font = '32px ' + getComputedStyle(document.body).fontFamily;
  context.fillText(char, 2, 34);
  return canvas.toDataURL();
}
const cjkFont = drawn('革') !== drawn('菌');
const verdict = document.querySelector('#verdict p');
document.getElementById('wmemb-probe').textContent = JSON.stringify({
  images, svgs, chineseLabels, cjkFont, external, verdict: verdict ? verdict.textContent : null,
  sections: [...document.querySelectorAll('section h2')].map(h => h.textContent),
  height: document.documentElement.scrollHeight});
</script>"""


def chromium() -> str:
    """The Chromium binary, or a skip saying how to get one."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed: `apt-get install chromium` (scripts/test.sh does it when run as root)")


def _run(browser: str, profile: Path, *arguments: str) -> str:
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def probe_page(page: Path, work: Path) -> dict:
    """Load a copy of `page` with the probe script added; return what the probe found."""
    browser = chromium()
    probed = page.with_name(page.stem + ".probe.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _run(browser, work / "profile-probe", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri())
    probed.unlink()
    found = re.search(r'<pre id="wmemb-probe">(.*?)</pre>', dom, re.S)
    assert found and found.group(1), "the probe script did not run"
    return json.loads(html.unescape(found.group(1)))


def screenshot(page: Path, target: Path, height: int) -> Path:
    """The whole page (up to 16,000 pixels high) as a PNG, 1200 pixels wide."""
    _run(
        chromium(),
        target.parent / "profile-shot",
        f"--window-size=1200,{min(max(height, 600), 16000)}",
        f"--screenshot={target}",
        page.as_uri(),
    )
    return target
