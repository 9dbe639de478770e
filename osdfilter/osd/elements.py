"""OSD elements as pilots configure them: each one is a pure function of time.

``make_element(name, rng)`` samples the element's parameters once (start voltage, sag rate,
callsign, ...) and returns an ``Element`` whose ``rows(seconds, frame)`` gives the strings it
shows at that instant (BF code space, see ``symbols``). An empty list means hidden
(a blinking warning in its off phase). Pure functions of time make ``render_frame(frame, t)``
random-access, so streaming and clip rendering agree frame for frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import symbols as S

Rows = list[str]


@dataclass
class Element:
    """One OSD item. ``width``/``height`` in cells are the space it reserves on the grid."""

    name: str
    rows: Callable[[float, int], Rows]
    width: int
    height: int = 1
    tint: tuple[int, int, int] | None = None  # RGB multiplier for the whole element


def wave(rng: np.random.Generator, period_s: tuple[float, float] = (3.0, 40.0)) -> Callable[[float], float]:
    """A smooth random signal in about [-1, 1]: three sines with random periods and phases."""
    periods = rng.uniform(*period_s, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    weights = rng.dirichlet(np.ones(3))
    return lambda s: float(np.sum(weights * np.sin(2 * np.pi * s / periods + phases)))


def _timer_text(seconds: float, hundredths: bool) -> str:
    m, s = divmod(max(seconds, 0.0), 60.0)
    return f"{int(m):02d}:{s:05.2f}" if hundredths else f"{int(m):02d}:{int(s):02d}"


def _battery(rng):
    cells = int(rng.choice([1, 2, 3, 4, 6]))
    v0, sag, w = cells * rng.uniform(3.85, 4.2), cells * rng.uniform(0.002, 0.01), wave(rng, (0.5, 5))
    per_cell = rng.random() < 0.3
    icon = S.BATT if rng.random() < 0.6 else S.BATT_LEVELS[int(rng.integers(0, 4))]

    def rows(s, t):
        v = v0 - sag * s - cells * 0.08 * abs(w(s))  # sags over the flight, dips with throttle
        return [icon + (f"{v / cells:.2f}" if per_cell else f"{v:4.1f}") + S.VOLT]
    return rows


def _mah(rng):
    start, rate = rng.uniform(0, 800), rng.uniform(2, 25)
    return lambda s, t: [f"{int(start + rate * s):5d}" + S.MAH]


def _current(rng):
    w, peak = wave(rng, (0.5, 4)), rng.uniform(10, 90)
    return lambda s, t: [f"{peak * (0.55 + 0.45 * w(s)):5.2f}" + S.AMP]


def _altitude(rng):
    base, amp, w = rng.uniform(0, 150), rng.uniform(2, 60), wave(rng)
    unit = S.METRE if rng.random() < 0.8 else S.FEET
    return lambda s, t: [S.ALT + f"{max(base + amp * w(s), 0):5.1f}" + unit]


def _speed(rng):
    top, w = rng.uniform(20, 160), wave(rng, (1, 8))
    unit = S.KMH if rng.random() < 0.7 else S.MPH
    return lambda s, t: [S.SPEED + f"{int(top * (0.5 + 0.5 * w(s))):3d}" + unit]


def _fly_timer(rng):
    start, hundredths = rng.uniform(0, 300), rng.random() < 0.3
    return lambda s, t: [S.FLY_TIME + _timer_text(start + s, hundredths)]


def _on_timer(rng):
    start = rng.uniform(30, 900)
    return lambda s, t: [S.ON_TIME + _timer_text(start + s, False)]


def _rssi(rng):
    base, w = rng.uniform(40, 99), wave(rng, (1, 10))
    return lambda s, t: [S.RSSI + f"{int(np.clip(base + 15 * w(s), 0, 99)):2d}"]


def _link_quality(rng):
    w, rf_mode = wave(rng, (1, 10)), rng.random() < 0.5
    prefix = f"{int(rng.integers(1, 4))}:" if rf_mode else ""
    return lambda s, t: [S.LQ + prefix + f"{int(np.clip(95 + 10 * w(s), 0, 100)):3d}"]


def _throttle(rng):
    w = wave(rng, (0.5, 4))
    return lambda s, t: [S.THROTTLE + f"{int(np.clip(50 + 50 * w(s), 0, 100)):3d}"]


def _gps_sats(rng):
    n, w = rng.integers(6, 20), wave(rng, (10, 60))
    return lambda s, t: [S.SATS + f"{int(n + 2 * w(s)):2d}"]


def _coordinates(rng):
    lat, lon = rng.uniform(-60, 60), rng.uniform(-150, 150)
    wa, wo = wave(rng), wave(rng)
    return lambda s, t: [S.LAT + f"{lat + 3e-4 * wa(s):11.7f}", S.LON + f"{lon + 3e-4 * wo(s):11.7f}"]


def _home(rng):
    base, turn, dist, w = rng.uniform(0, 360), rng.uniform(-40, 40), rng.uniform(5, 900), wave(rng)
    unit = "M" if rng.random() < 0.8 else "FT"

    def rows(s, t):
        k = int(round((base + turn * s + 90 * w(s)) / 22.5)) % 16  # arrow turns as the quad yaws
        return [S.ARROWS[k] + f"{int(dist * (1 + 0.5 * w(s))):4d}" + unit]
    return rows


def _temperature(rng):
    base, w = rng.uniform(25, 70), wave(rng)
    return lambda s, t: [S.TEMP + f"{int(base + 5 * w(s)):3d}" + S.DEG_C]


CALLSIGN_WORDS = ("FPV", "QUAD", "RIPPER", "GHOST", "MAVERICK", "DJI", "NAZGUL", "SKYFALL", "BOB", "CINEWHOOP")


def _callsign(rng):
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    if rng.random() < 0.5:
        name = str(rng.choice(CALLSIGN_WORDS))
    else:
        name = "".join(rng.choice(list(letters), size=int(rng.integers(3, 11))))
    return lambda s, t: [name]


def _flight_mode(rng):
    modes = ["ACRO", "ANGL", "HOR", "AIR", "!FS!", "RESC", "MANU", "POSH", "RTH", "3D"]
    first, later, switch_s = rng.choice(modes), rng.choice(modes), rng.uniform(2, 60)
    return lambda s, t: [str(first if s < switch_s else later)]


WARNINGS = ("LOW VOLTAGE", "LOW BATTERY", "RXLOSS", "BATT < FULL", "THROTTLE", "ARMED", "CRASH FLIP", "CORE 80C", "LAND NOW")


def _warning(rng):
    text = str(rng.choice(WARNINGS))
    on_s, period, blink = rng.uniform(0, 3), rng.uniform(0.3, 1.0), rng.random() < 0.8

    def rows(s, t):
        visible = s >= on_s and (not blink or (s % period) < period / 2)  # blinks half the period
        return [text] if visible else []
    return rows


FACTORIES = {
    "callsign": _callsign, "battery": _battery, "mah": _mah, "current": _current,
    "altitude": _altitude, "speed": _speed, "fly_timer": _fly_timer, "on_timer": _on_timer,
    "rssi": _rssi, "link_quality": _link_quality, "throttle": _throttle, "gps_sats": _gps_sats,
    "coordinates": _coordinates, "home": _home, "temperature": _temperature,
    "flight_mode": _flight_mode, "warning": _warning,
}
# Chance that a random pilot shows each element (battery and timer are near universal).
DEFAULT_PROBS = {
    "callsign": 0.55, "battery": 0.9, "mah": 0.45, "current": 0.25, "altitude": 0.45,
    "speed": 0.35, "fly_timer": 0.7, "on_timer": 0.25, "rssi": 0.55, "link_quality": 0.4,
    "throttle": 0.3, "gps_sats": 0.35, "coordinates": 0.2, "home": 0.3, "temperature": 0.15,
    "flight_mode": 0.4, "warning": 0.45,
}


def make_element(name: str, rng: np.random.Generator) -> Element:
    """Sample one element; its reserved width is the widest string over a range of times."""
    fn = FACTORIES[name](rng)
    samples = [fn(s, 0) for s in (0.0, 3.3, 9.9, 61.7, 599.0)]
    width = max((len(r) for rows in samples for r in rows), default=1)
    height = max((len(rows) for rows in samples), default=1)
    return Element(name, fn, width, height)


def centre_elements(rng: np.random.Generator, cell_aspect: float, p_crosshair: float,
                    p_ahi: float, p_sidebars: float) -> list[tuple[Element, int, int]]:
    """Crosshair, artificial horizon and sidebars with their offsets (cols, rows) from centre."""
    out = []
    if rng.random() < p_crosshair:
        out.append((Element("crosshair", lambda s, t: [S.CROSSHAIR], 3), -1, 0))
    if rng.random() < p_ahi:
        out.append((Element("ahi", _ahi(rng, cell_aspect), 9, 7), -4, -3))
    if rng.random() < p_sidebars:
        alt, speed = wave(rng), wave(rng)
        out.append((Element("sidebar_left", _sidebar(speed, S.SIDEBAR_LEFT_ARROW), 1, 7), -7, -3))
        out.append((Element("sidebar_right", _sidebar(alt, S.SIDEBAR_RIGHT_ARROW), 1, 7), 7, -3))
    return out


def _ahi(rng: np.random.Generator, cell_aspect: float):
    """Artificial horizon: 9 columns, each one line glyph at the height of the horizon there."""
    roll, pitch = wave(rng, (2, 12)), wave(rng, (2, 12))
    max_roll, max_pitch = np.deg2rad(rng.uniform(10, 45)), rng.uniform(0.5, 2.5)

    def rows(s, t):
        grid = [[" "] * 9 for _ in range(7)]
        slope = np.tan(max_roll * roll(s)) * cell_aspect  # cell width/height converts the slope
        for i in range(9):
            y = 3.5 + max_pitch * pitch(s) + (i - 4) * slope  # in rows, 0..7
            r = int(np.floor(y))
            if 0 <= r < 7:
                grid[r][i] = S.AHI_LEVELS[min(8, int((1 - (y - r)) * 9))]
        return ["".join(g) for g in grid]
    return rows


def _sidebar(signal: Callable[[float], float], arrow: str):
    """A vertical ladder of ticks that scrolls with the signal, with the arrow in the middle."""

    def rows(s, t):
        shift = int(np.floor(signal(s) * 6))
        return [arrow if r == 3 else (S.SIDEBAR if (r + shift) % 2 == 0 else " ") for r in range(7)]
    return rows
