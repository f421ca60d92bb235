"""Render the HTML view of each modality in headless Chromium and check what it shows.

Not a benchmark: a check of ``exp.save_html`` in a real browser (Debian's ``chromium``;
``apt-get install -y chromium``). For an image, a table and a text explanation it writes
the page, takes a screenshot, and checks

- the screenshot is not blank (enough non-white pixels, some dark ones: text);
- image: the weights PNG is found in the screenshot pixel for pixel, and there every
  pixel off a superpixel border is red where its superpixel's coefficient is positive and
  blue where it is negative (the expectation is computed from ``exp.coef`` and
  ``exp.segments``, not from the page);
- table: with everything but the first figure's feature bars hidden (CSS
  ``visibility``, so the layout is the page's), the bars read top to bottom have the signs
  of ``exp.as_list()``, lengths in proportion to ``|weight|``, and all start at one zero
  line;
- text: with everything but the first figure's tokens hidden, the tinted tokens read left
  to right have the signs of their weights (``exp.token_attributions``).

Needs Pillow (matplotlib's dependency) to read PNGs.
Usage: ``python benchmarks/check_html_view.py [--out DIR] [--chromium PATH] [--json PATH]``.
Exit status 1 when a check fails. ``tests/test_html.py`` runs it when chromium is installed.
"""

from __future__ import annotations

import argparse
import html.parser
import io
import json
import shutil
import subprocess
import sys
import tempfile
from base64 import b64decode
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

import torchlime

WIDTH, HEIGHT = 1280, 1600
WORDS = ["[PAD]", "the", "film", "was", "good", "great", "bad", "awful", "and", "plot", "##s"]
WORD_WEIGHT = {"good": 3.0, "great": 2.0, "bad": -3.0, "awful": -2.0}


def chromium_path(given: str | None = None) -> str | None:
    if given:
        return given
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def decode_png(data: bytes) -> torch.Tensor:
    """(H, W, 3) uint8 RGB of PNG bytes (Pillow)."""
    with Image.open(io.BytesIO(data)) as image:
        return torch.from_numpy(np.array(image.convert("RGB")))


def screenshot(browser: str, page: Path, png: Path, height: int = HEIGHT) -> torch.Tensor:
    """(H, W, 3) uint8 screenshot of ``page`` at device scale 1 in sRGB."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--force-color-profile=srgb",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{height}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return decode_png(png.read_bytes())


def only(page: Path, selector: str, out: Path) -> Path:
    """A copy of ``page`` where only ``selector`` (and its insides) is visible."""
    css = (f"<style>.tl *{{visibility:hidden !important}} {selector}, {selector} *"
           "{visibility:visible !important}</style>")  # fmt: skip
    out.write_text(page.read_text(encoding="utf-8").replace("</head>", css + "</head>"), "utf-8")
    return out


def not_blank(shot: torch.Tensor) -> dict[str, Any]:
    grey = shot.float().mean(-1)
    ink = float((grey < 250).float().mean())
    dark = float((grey < 100).float().mean())
    return {"non_white": ink, "dark": dark, "ok": ink > 0.01 and dark > 0.001}


def signs(shot: torch.Tensor, margin: int = 20) -> torch.Tensor:
    """(H, W) int: +1 red pixels, -1 blue ones, 0 else."""
    rb = shot[..., 0].int() - shot[..., 2].int()
    return (rb > margin).int() - (rb < -margin).int()


def runs(line: torch.Tensor) -> list[tuple[int, int, int]]:
    """(sign, start, end) of the runs of equal nonzero values of a 1-D int tensor."""
    found: list[tuple[int, int, int]] = []
    for pos, value in enumerate(line.tolist()):
        if value and found and found[-1][0] == value and found[-1][2] == pos - 1:
            found[-1] = (value, found[-1][1], pos)
        elif value:
            found.append((value, pos, pos))
    return found


class Images(html.parser.HTMLParser):
    """The ``<img class="tl-overlay">`` data URIs of a page, by figure (index, target)."""

    def __init__(self) -> None:
        super().__init__()
        self.figure: tuple[int, int] | None = None
        self.overlays: dict[tuple[int, int], torch.Tensor] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure":
            self.figure = (int(a["data-index"] or 0), int(a["data-target"] or 0))
        if tag == "img" and a.get("class") == "tl-overlay" and self.figure is not None:
            data = b64decode((a["src"] or "").split(",", 1)[1])
            self.overlays[self.figure] = decode_png(data)


def locate(shot: torch.Tensor, template: torch.Tensor) -> tuple[int, int] | None:
    """Top-left of ``template`` (h, w, 3) in ``shot`` (H, W, 3), matched pixel for pixel."""
    h, w = template.shape[:2]
    t, s = template.int(), shot.int()
    saturation = t.amax(-1) - t.amin(-1)
    ay, ax = divmod(int(saturation.flatten().argmax()), w)
    hits = ((s - t[ay, ax]).abs().sum(-1) <= 3).nonzero()
    ys, xs = hits[:, 0] - ay, hits[:, 1] - ax
    inside = (ys >= 0) & (xs >= 0) & (ys + h <= s.shape[0]) & (xs + w <= s.shape[1])
    ys, xs = ys[inside], xs[inside]
    probe = torch.randint(0, h * w, (256,), generator=torch.Generator().manual_seed(0))
    py, px = probe // w, probe % w
    err = (s[ys[:, None] + py, xs[:, None] + px] - t[py, px]).abs().float().mean((1, 2))
    for k in err.argsort()[:5].tolist():
        y, x = int(ys[k]), int(xs[k])
        if (s[y : y + h, x : x + w] - t).abs().float().mean() < 1.0:
            return y, x
    return None


def image_case(out: Path, browser: str) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    weight = torch.randn(3, 3 * 16, generator=g)  # linear in 8 x 8 patch means (black fill)

    def model(batch: torch.Tensor) -> torch.Tensor:
        means = nn.functional.avg_pool2d(batch, 8).flatten(1)
        return means @ weight.T

    settings = {"segmenter": torchlime.Grid(4, 4), "baseline": 0.0, "n_samples": 400}
    explainer = torchlime.LimeImage(model, output="identity", class_names=["cat", "dog", "<fox>"],
                                    progress=False, **settings)  # fmt: skip
    exp = explainer(x, top_labels=2, generator=1)
    page = out / "image.html"
    exp.save_html(page, images=x)
    shot = screenshot(browser, page, out / "image.png")
    parser = Images()
    parser.feed(page.read_text(encoding="utf-8"))
    report: dict[str, Any] = {"page": str(page), "screenshot": str(out / "image.png"),
                              "not_blank": not_blank(shot), "figures": {}}  # fmt: skip
    ok = report["not_blank"]["ok"]
    for (i, t), template in parser.overlays.items():
        where = locate(shot, template)
        if where is None:
            report["figures"][f"{i},{t}"] = {"found": False}
            ok = False
            continue
        y, x0 = where
        region = shot[y : y + template.shape[0], x0 : x0 + template.shape[1]]
        zoom = template.shape[0] // exp.segments.shape[1]
        seg = exp.segments[i].repeat_interleave(zoom, 0).repeat_interleave(zoom, 1)
        border = torch.zeros_like(seg, dtype=torch.bool)
        border[:, :-1] |= seg[:, :-1] != seg[:, 1:]
        border[:-1, :] |= seg[:-1, :] != seg[1:, :]
        coef = exp.coef[i, t]
        expected = coef[seg].sign().int()
        strong = coef[seg].abs() > 0.05 * coef.abs().max()  # weaker tints may round to grey
        seen = signs(region, margin=3)
        check = ~border & (strong | (expected == 0))
        agree = float((seen[check] == expected[check]).float().mean())
        report["figures"][f"{i},{t}"] = {"found": True, "at": [y, x0], "agree": agree,
                                         "red_pixels": int((seen[check] > 0).sum()),
                                         "blue_pixels": int((seen[check] < 0).sum())}  # fmt: skip
        ok = ok and agree == 1.0
    report["ok"] = ok and len(parser.overlays) == len(exp) * exp.coef.shape[1]
    return report


def tabular_case(out: Path, browser: str) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    data = torch.randn(500, 4, generator=g, dtype=torch.float64)
    w = torch.tensor([[2.0, -1.5, 0.7, -0.3], [-2.0, 1.5, -0.7, 0.3]], dtype=torch.float64)

    def model(rows: torch.Tensor) -> torch.Tensor:
        return rows @ w.T

    explainer = torchlime.LimeTabular(
        model,
        data,
        feature_names=["age", "<income>", "debt", "kids"],
        class_names=["no", "yes"],
        n_samples=2000,
        progress=False,
    )
    exp = explainer(data[:2], target=0, generator=0)
    page = out / "tabular.html"
    exp.save_html(page)
    shot = screenshot(browser, page, out / "tabular.png")
    bars_only = only(page, '.tl-fig[data-index="0"][data-target="0"] .tl-bar', out / "bars.html")
    bars = signs(screenshot(browser, bars_only, out / "tabular_bars.png"))
    rows = runs(bars.abs().amax(1) * torch.where((bars > 0).any(1), 1, -1))
    found = []
    for sign, top, bottom in rows:
        cols = (bars[top : bottom + 1] == sign).any(0).nonzero().flatten()
        found.append((sign, int(cols.min()), int(cols.max())))
    pairs = exp.as_list(index=0, target=0)[:10]
    limit = max(abs(v) for _, v in pairs)
    expected_signs = [1 if v > 0 else -1 for _, v in pairs]
    widths = [right - left + 1 for _, left, right in found]
    expected_widths = [80 * abs(v) / limit for _, v in pairs]  # half of the 160 px track
    zero = {left for s, left, _ in found if s > 0} | {right + 1 for s, _, right in found if s < 0}
    report = {
        "page": str(page),
        "screenshot": str(out / "tabular.png"),
        "bars_screenshot": str(out / "tabular_bars.png"),
        "not_blank": not_blank(shot),
        "signs": [s for s, _, _ in found],
        "expected_signs": expected_signs,
        "widths": widths,
        "expected_widths": [round(v, 1) for v in expected_widths],
        "zero_line_x": sorted(zero),
    }
    report["ok"] = (
        report["not_blank"]["ok"]
        and report["signs"] == expected_signs
        and all(abs(a - b) <= 2 for a, b in zip(widths, expected_widths, strict=True))
        and max(zero) - min(zero) <= 1
    )
    return report


class Bag(nn.Module):
    """A linear bag of words: each word adds its weight to output 1, the opposite to 0."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.tensor([WORD_WEIGHT.get(word, 0.0) for word in WORDS])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        score = (self.weight[input_ids] * attention_mask).sum(1)
        return torch.stack([-score, score], 1)


def text_case(out: Path, browser: str) -> dict[str, Any]:
    sentences = [[1, 2, 3, 4, 8, 5, 8, 9, 10, 3, 6], [1, 9, 3, 7, 0, 0, 0, 0, 0, 0, 0]]
    ids = torch.tensor(sentences)
    mask = (ids != 0).long()
    explainer = torchlime.LimeText(
        Bag(),
        n_samples=600,
        output="identity",
        class_names=["negative", "positive"],
        progress=False,
    )
    exp = explainer(ids, attention_mask=mask, target=1, generator=0)
    page = out / "text.html"
    exp.save_html(page, names=WORDS)
    shot = screenshot(browser, page, out / "text.png")
    tokens_only = only(page, '.tl-fig[data-index="0"][data-target="0"] .tl-text', out / "tok.html")
    tinted = signs(screenshot(browser, tokens_only, out / "text_tokens.png"))
    band = tinted.abs().sum(1).argmax()  # the line through the tokens' boxes
    seen = [s for s, _, _ in runs(tinted[band])]
    weights = exp.token_attributions[0, 0]
    limit = float(weights.abs().max())
    expected = [int(w.sign()) for w in weights if abs(float(w)) > 0.2 * limit]
    words = exp.tokens(0, WORDS)
    report = {
        "page": str(page),
        "screenshot": str(out / "text.png"),
        "tokens_screenshot": str(out / "text_tokens.png"),
        "not_blank": not_blank(shot),
        "tokens": words,
        "weights": [round(float(w), 3) for w in weights],
        "signs": seen,
        "expected_signs": expected,
    }
    report["ok"] = report["not_blank"]["ok"] and seen == expected
    return report


def check(out: Path, browser: str) -> dict[str, Any]:
    """Every modality's check; ``report["ok"]`` when all pass."""
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "image": image_case(out, browser),
        "tabular": tabular_case(out, browser),
        "text": text_case(out, browser),
    }
    report["ok"] = all(r["ok"] for r in report.values())
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/html_view"))
    parser.add_argument("--chromium", default=None, help="the browser (default: on PATH)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    browser = chromium_path(args.chromium)
    if browser is None:
        print("no chromium on PATH: apt-get install -y chromium", file=sys.stderr)
        return 2
    report = check(args.out, browser)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
