#!/usr/bin/env python3
"""Writes a synthetic but realistic star-field FITS image for bench/astro/programs.sh, with the
Python standard library only (FITS: 2880-byte blocks of 80-character header cards, then the
data big-endian):

    make_field.py OUT.fits STARS.txt [--seed N] [--size N] [--faint N] [--shift DX,DY]

A float32 image (default 2048 x 2048) at 4 arcsec per pixel around STARS.txt's field, with a
gnomonic (TAN) WCS in the header: every star of STARS.txt (the bright stars, "RA Dec mag" per
line: the Tycho-2 stars of astrometry.net's index, written by `query-starkd`, so solve-field
can solve the image) plus N faint random stars (magnitudes 11-17, positions fixed by the seed,
not by --shift) as Gaussian profiles (FWHM 3 px), on a sky of 1000 counts with a linear
gradient, plus Gaussian noise (sigma 30, from the seed). --shift moves the pixel grid by DX, DY
pixels over the same sky (CRPIX changes), as a second, dithered exposure for swarp."""
import argparse, array, math, random, sys

FWHM = 3.0
SCALE = 4.0 / 3600.0  # degrees per pixel
ZP = 25.0  # magnitude of one count
SKY, GRAD, NOISE = 1000.0, 0.05, 30.0


def card(key, value=None, comment=""):
    if value is None:
        return f"{key:<80}"[:80]
    if isinstance(value, bool):
        v = f"{'T' if value else 'F':>20}"
    elif isinstance(value, str):
        v = f"'{value:<8}'"
        v = f"{v:<20}"
    elif isinstance(value, int):
        v = f"{value:>20}"
    else:
        v = f"{value:>20.12G}"
    s = f"{key:<8}= {v}"
    if comment:
        s += f" / {comment}"
    return f"{s:<80}"[:80]


def tan_project(ra, dec, ra0, dec0):
    """(xi, eta) in degrees, gnomonic projection about (ra0, dec0), or None behind the plane."""
    a, d, a0, d0 = map(math.radians, (ra, dec, ra0, dec0))
    den = math.sin(d) * math.sin(d0) + math.cos(d) * math.cos(d0) * math.cos(a - a0)
    if den <= 0:
        return None
    xi = math.cos(d) * math.sin(a - a0) / den
    eta = (math.sin(d) * math.cos(d0) - math.cos(d) * math.sin(d0) * math.cos(a - a0)) / den
    return math.degrees(xi), math.degrees(eta)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("stars")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--faint", type=int, default=3000)
    ap.add_argument("--shift", default="0,0")
    ap.add_argument("--center", default="300,35", help="RA,Dec of the unshifted centre (deg)")
    a = ap.parse_args()
    n = a.size
    dx, dy = map(float, a.shift.split(","))
    ra0, dec0 = map(float, a.center.split(","))
    crpix1, crpix2 = (n + 1) / 2 - dx, (n + 1) / 2 - dy

    # Stars in the tangent plane (xi, eta, magnitude): the catalog's, then the faint ones,
    # drawn from the seed over a square larger than any shifted frame.
    stars = []
    for line in open(a.stars):
        f = line.split()
        if len(f) >= 3 and not line.startswith("#"):
            try:
                ra, dec, mag = float(f[0].rstrip(",")), float(f[1].rstrip(",")), float(f[2])
            except ValueError:
                continue
            p = tan_project(ra, dec, ra0, dec0)
            if p:
                stars.append((p[0], p[1], mag))
    sky_rng = random.Random(12345)  # the same faint stars in every frame
    half = 0.6 * n * SCALE
    for _ in range(a.faint):
        # a steep luminosity function: many more faint stars than bright ones
        mag = 17.0 - 6.0 * sky_rng.random() ** 3
        stars.append((sky_rng.uniform(-half, half), sky_rng.uniform(-half, half), mag))

    rng = random.Random(a.seed)
    img = array.array("f", [0.0]) * (n * n)
    for j in range(n):  # sky with a gradient, and noise
        row = SKY + GRAD * j
        base = j * n
        for i in range(n):
            img[base + i] = row + 0.03 * i + rng.gauss(0.0, NOISE)

    sigma = FWHM / (2 * math.sqrt(2 * math.log(2)))
    for xi, eta, mag in stars:
        # CD1_1 = -SCALE: RA grows to the left; pixel (1,1) is the first one (FITS)
        x = crpix1 + xi / -SCALE - 1
        y = crpix2 + eta / SCALE - 1
        flux = 10 ** (-0.4 * (mag - ZP))
        peak = flux / (2 * math.pi * sigma * sigma)
        r = int(math.ceil(sigma * math.sqrt(2 * math.log(max(peak / 3.0, 2.0)))))
        r = min(r, 60)
        if x < -r or y < -r or x > n + r or y > n + r:
            continue
        for j in range(max(0, int(y) - r), min(n, int(y) + r + 2)):
            ddy = (j - y) ** 2
            base = j * n
            for i in range(max(0, int(x) - r), min(n, int(x) + r + 2)):
                img[base + i] += peak * math.exp(-((i - x) ** 2 + ddy) / (2 * sigma * sigma))

    cards = [
        card("SIMPLE", True, "conforms to FITS standard"),
        card("BITPIX", -32, "32-bit floats"),
        card("NAXIS", 2),
        card("NAXIS1", n),
        card("NAXIS2", n),
        card("OBJECT", "synthetic", "bench/astro/make_field.py"),
        card("EXPTIME", 60.0, "seconds"),
        card("GAIN", 1.0, "e-/ADU"),
        card("SATURATE", 60000.0),
        card("EQUINOX", 2000.0),
        card("RADESYS", "ICRS"),
        card("CTYPE1", "RA---TAN"),
        card("CTYPE2", "DEC--TAN"),
        card("CRVAL1", ra0),
        card("CRVAL2", dec0),
        card("CRPIX1", crpix1),
        card("CRPIX2", crpix2),
        card("CD1_1", -SCALE),
        card("CD1_2", 0.0),
        card("CD2_1", 0.0),
        card("CD2_2", SCALE),
        card("CUNIT1", "deg"),
        card("CUNIT2", "deg"),
        card("END"),
    ]
    head = "".join(cards)
    head += " " * (-len(head) % 2880)
    if sys.byteorder == "little":
        img.byteswap()
    data = img.tobytes()
    data += b"\0" * (-len(data) % 2880)
    with open(a.out, "wb") as f:
        f.write(head.encode("ascii"))
        f.write(data)


if __name__ == "__main__":
    main()
