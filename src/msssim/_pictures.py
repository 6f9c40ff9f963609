"""Pictures of the results: the SSIM index map as a colour image with a legend
(Pillow), and per-frame scores of videos as a line plot (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Viridis at five stops, interpolated: perceptually even, readable in grey.
_STOPS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64)


def colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) as uint8 RGB."""
    position = np.clip(values, 0, 1) * (len(_STOPS) - 1)
    low = np.minimum(position.astype(int), len(_STOPS) - 2)
    weight = (position - low)[..., None]
    return np.round(_STOPS[low] * (1 - weight) + _STOPS[low + 1] * weight).astype(np.uint8)


def save_index_map(index_map: np.ndarray, path: Path, title: str) -> None:
    """The map, 0 (dark) to 1 (bright), with a colour bar and ticks at the right."""
    from PIL import Image, ImageDraw, ImageFont

    height, width = index_map.shape
    bar_width, margin = 24, 64
    # 24 pixels above for the title, 12 below so that the bottom tick's label fits
    canvas = Image.new("RGB", (width + bar_width + margin + 16, max(height, 120) + 24 + 12), "white")
    canvas.paste(Image.fromarray(colorize(index_map)), (0, 24))
    ramp = np.linspace(1, 0, height)[:, None].repeat(bar_width, axis=1)
    canvas.paste(Image.fromarray(colorize(ramp)), (width + 8, 24))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text((4, 4), title, fill="black", font=font)
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = 24 + round((1 - tick) * (height - 1))
        draw.line([(width + 8 + bar_width, y), (width + 12 + bar_width, y)], fill="black")
        draw.text((width + 16 + bar_width, y - 6), f"{tick:.2f}", fill="black", font=font)
    canvas.save(path)


def save_frame_plot(results: list[dict], metric: str, path: Path) -> None:
    """Per-frame scores, one line per video pair, saved to ``path``."""
    import matplotlib.pyplot as plt

    figure = frame_plot(results, metric)
    figure.savefig(path)
    plt.close(figure)


def frame_plot(results: list[dict], metric: str):
    """The matplotlib figure of per-frame scores, one line per video pair."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError('--plot needs matplotlib: pip install "msssim[plot]"') from None
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(9, 4), dpi=100)
    videos = [r for r in results if r.get("frames")]
    for result in videos:
        frames = result["frames"]
        axes.plot([f["frame"] for f in frames], [f[metric] for f in frames], label=Path(result["distorted"]).name)
    name = metric.replace("_", "-").upper()
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # frames are whole numbers
    axes.set_xlabel("frame")
    axes.set_ylabel(name)
    axes.grid(alpha=0.3)
    if len(videos) == 1:
        result = videos[0]
        axes.set_title(f"{name} per frame, {Path(result['distorted']).name}: mean {result[metric]:.4f}")
    else:
        axes.set_title(f"{name} per frame, {len(videos)} videos")
        axes.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    return figure
