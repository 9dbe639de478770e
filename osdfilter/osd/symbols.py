"""Character codes of OSD symbols.

The synthesiser speaks one code space: ASCII for text plus the Betaflight (BF) symbol codes
of the 256-glyph MAX7456 font (see ../shared/data/fonts/OSD_CONVENTIONS.md). Strings are
ordinary ``str`` whose characters are these codes, e.g. ``BATT + "16.8" + VOLT``.
Fonts of another firmware translate through a table (``INAV_FROM_BF``).
"""

RSSI = "\x01"
LQ = "\x7b"
BATT = "\x97"
BATT_LEVELS = tuple(chr(c) for c in range(0x90, 0x97))  # full .. empty
VOLT = "\x06"
MAH = "\x07"
AMP = "\x9a"
ALT = "\x7f"
METRE = "\x0c"
FEET = "\x0f"
KM = "\x7d"
SPEED = "\x70"
KMH = "\x9e"
MPH = "\x9d"
MPS = "\x9f"
THROTTLE = "\x04"
ON_TIME = "\x9b"
FLY_TIME = "\x9c"
SATS = "\x1e\x1f"
LAT = "\x89"
LON = "\x98"
HOME = "\x11"
OVER_HOME = "\x05"
ARROWS = tuple(chr(c) for c in range(0x60, 0x70))  # 16 directions, 22.5 degrees apart
CROSSHAIR = "\x72\x73\x74"
AHI_LEVELS = tuple(chr(c) for c in range(0x80, 0x89))  # 9 heights of a horizon segment
SIDEBAR = "\x13"
SIDEBAR_LEFT_ARROW = "\x03"
SIDEBAR_RIGHT_ARROW = "\x02"
TEMP = "\x7a"
DEG_C = "\x0e"

# Codes that are icons rather than text; the builtin renderer draws these procedurally.
ICON_CODES = frozenset(
    ord(c)
    for c in RSSI + LQ + BATT + "".join(BATT_LEVELS) + VOLT + MAH + AMP + ALT + METRE + FEET
    + KM + SPEED + KMH + MPH + MPS + THROTTLE + ON_TIME + FLY_TIME + SATS + LAT + LON + HOME
    + OVER_HOME + "".join(ARROWS) + CROSSHAIR + "".join(AHI_LEVELS) + SIDEBAR
    + SIDEBAR_LEFT_ARROW + SIDEBAR_RIGHT_ARROW + TEMP + DEG_C
)

# BF code -> INAV 512-glyph code, for the symbols INAV has (OSD_CONVENTIONS.md). Codes not
# listed fall back to the builtin drawing, so a layout never shows a wrong BF glyph.
INAV_FROM_BF = {
    0x01: 0x01, 0x7B: 0x02, 0x89: 0x03, 0x98: 0x04, 0x1E: 0x08, 0x1F: 0x09, 0x11: 0x10,
    0x06: 0x1F, 0x07: 0x99, 0x9A: 0x6A, 0x97: 0x63, 0x0C: 0x82, 0x9E: 0x90, 0x04: 0x95,
    0x0E: 0x97, 0x9B: 0x9E, 0x9C: 0x9F, 0x72: 0x13A, 0x73: 0x166, 0x74: 0x13B,
    **{0x90 + i: 0x63 + i for i in range(7)},
}

# Symbol codes that get colour when a synth picks "coloured icons" (name -> code set).
COLOURABLE = {
    "battery": {ord(BATT), *map(ord, BATT_LEVELS)},
    "link": {ord(RSSI), ord(LQ)},
    "gps": {*map(ord, SATS), ord(HOME), *map(ord, ARROWS)},
    "temp": {ord(TEMP)},
}
