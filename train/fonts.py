"""The fonts plates are set in: Debian's, and condensed plate-like ones fetched from npm.

    python -m train.fonts            # into build/fonts (./run train does this)

US plates are set in condensed gothic faces (Penitentiary Gothic and its kin) that Debian does
not package. These OFL-1.1 families from the Fontsource project (@fontsource/* on npm) come
close. Each package is pinned by version and by the registry's sha512 integrity, so a
changed or forged tarball is refused; only the Latin WOFF files of the weights below and the
package's licence are kept. Licences: train/MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org/@fontsource"
VERSION = "5.3.0"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "build" / "fonts"

# (package, weights, the registry's sha512 integrity of @fontsource/<package>@5.3.0, base64)
PACKAGES = (
    (
        "oswald",
        (500, 700),
        "16r2aHActe0pH+9FLdk/74/YxXM7HpGak05kAzx3RvSToiJwGvyhv6GvckPz+YuZmvL1nxWbEop2jAXRcXYPRg==",
    ),
    (
        "pathway-gothic-one",
        (400,),
        "r2++lTyUa/wxgxiMcQYvhx3G5Q8eFuk6mitIw60ZJeqXVKsjxF9ZJs1Q4rFURVtwXbtEQVPbK2AOuEcF1kBahw==",
    ),
    (
        "barlow-condensed",
        (500, 700),
        "RA7MmIx0v3eQ6Gcf74qLVLOwLB0GpPOzx+eU9iG/AmCnSJGcIWYeU8y6CEMGZ210MGwGg5CZhzLkkvyZdTTk1g==",
    ),
    (
        "archivo-narrow",
        (500, 700),
        "fK2Y7PdIP23+t5Dp7gh9n94zxTCdHD6M955aJ8QzR6RvW+5WgmryKySEvaCUAeSLXzA113hyW0BwEHHxHADX7Q==",
    ),
    (
        "saira-condensed",
        (500, 700),
        "e5ZTpIy/pE8CbB23mpm1b+dCmeapNheSrtQDXtbfDbGpm1r2oIfs5TzTpY2nzETEwei3DEFL9smm0rmFURzJtw==",
    ),
    (
        "antonio",
        (600,),
        "LB0XN3BDXKLWsHaR9qouHKGs6PT7NhVmIOPv+a3Kv8UpZSZs67lLH7vX99pOXE0v0rh9bToJQWqvO6X0fiVKxA==",
    ),
    (
        "fjalla-one",
        (400,),
        "KYJMzU/5Ab7cD7lMiSM8SlqYSuWIb7GOKLH408VfeTZ9JT13j6ctuIbjFYmgQlNYJRVxDf/fxo0TAH9bt/YhMw==",
    ),
    (
        "teko",
        (500,),
        "Kkc63jui7yWWSX0mYEhakA6vi5sK0UlTPn+ucNacqBYQ5flFpj2I/TJ8Vo3JlR9RG9kzUxfjAo6V/do7O+Vn5Q==",
    ),
    (
        "pt-sans-narrow",
        (700,),
        "MVVT3W4L5TCuzSZAhsRQRWTGBhDOarcSBQ0PuuSJ44me4gMWRzz01waS/3XebrRKEyrSobted3E4aI2uudR/Og==",
    ),
    (
        "encode-sans-condensed",
        (600,),
        "Xi37pPXPWyGeMZD1d0ve/0MseqH4ue5HXX9rJFbAmUau3zBZBS0oDsgD6SbT7c2CuSc5jzYwzaCbUUCR2s3Ceg==",
    ),
    (
        "ibm-plex-sans-condensed",
        (500,),
        "fQyBpwbkguP4azjq7Cw8h/J3C/d8MFAzXOiSoFxyKCUK4x0XKrWEh3tGdTxhDM0HctVRQilQo1zGoyxDHLm5jQ==",
    ),
    (
        "big-shoulders-display",
        (700,),
        "d4+Tcsq/WfoKeqWfB6wFdeNDsSYYnilJbSNNpf5w53MlWrGHAc9YvkAjC6id6PgFDiGaFKsXfP0RFAQtpt0bog==",
    ),
    (
        "sofia-sans-condensed",
        (600,),
        "JGT4shg12OGB5duffcyG5uCSAK/AfNHzxIYUlB6DOmTE4bwGPny6fVxq1F9pZ9usJ53hl37h0mUxxmC4RqzSXw==",
    ),
    (
        "league-gothic",
        (400,),
        "gqedetX+UlaiJgLiPnOzWGB1sY3OtNhS8YMjTy2D73AcsagIqpdIizssr1MStcUYf3D/zzanECuXawIgMGZxDg==",
    ),
    (
        "bebas-neue",
        (400,),
        "nCxMEb9Bg9sjNWm9TIOsvHKDMLRUfEZPWpLgYu6m9KavZZVSA/WoHzI5wROwqA+eNwEi/PNBAcB5Co7HA3S0Cw==",
    ),
    (
        "anton",
        (400,),
        "OR1D5n124n2XRs66SbX7IjcOSptljEJE8FcDNnlni2y1/M6KpTx7cU2PIWzTSsBj4WFkHPw24On8qw3qkQZuTw==",
    ),
)


class FontFetchError(RuntimeError):
    pass


def _check(data: bytes, sha512: str, name: str) -> None:
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != sha512:
        raise FontFetchError(f"@fontsource/{name}@{VERSION}: sha512 integrity mismatch, refused")


def unpack(data: bytes, name: str, weights, dest: Path) -> list[Path]:
    """The Latin WOFF files of weights, and the licence, out of a package tarball."""
    wanted = {f"package/files/{name}-latin-{w}-normal.woff": f"{name}-{w}.woff" for w in weights}
    wanted["package/LICENSE"] = f"{name}.LICENSE"
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            target = wanted.pop(member.name, None)
            if target and member.isfile():
                path = dest / target
                path.write_bytes(tar.extractfile(member).read())
                out.append(path)
    missing = [k for k in wanted if not k.endswith("LICENSE")]
    if missing:
        raise FontFetchError(f"@fontsource/{name}@{VERSION}: no {', '.join(missing)}")
    return out


def fetch(dest: Path = DEFAULT_DIR, timeout: float = 60.0) -> list[Path]:
    """Download, verify and unpack every package not already in dest; the font files."""
    dest.mkdir(parents=True, exist_ok=True)
    fonts = []
    for name, weights, sha512 in PACKAGES:
        have = [dest / f"{name}-{w}.woff" for w in weights]
        if all(p.exists() for p in have):
            fonts += have
            continue
        url = f"{REGISTRY}/{name}/-/{name}-{VERSION}.tgz"
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
        _check(data, sha512, name)
        fonts += [p for p in unpack(data, name, weights, dest) if p.suffix == ".woff"]
    return sorted(fonts)


def installed(dest: Path = DEFAULT_DIR) -> list[str]:
    """The fetched font files (none before `python -m train.fonts`)."""
    return sorted(str(p) for p in dest.glob("*.woff"))


# Debian's fonts (apt-get, ./run test): the demo, the detector's plates, the OCR's headers.
FONT_GLOBS = (
    "/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Bold.otf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Regular.otf",
    "/usr/share/fonts/truetype/liberation*/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/liberation*/LiberationSansNarrow-Regular.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Medium.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSans-Bold.otf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
)
HEADER_FONT_GLOBS = (
    "/usr/share/fonts/opentype/urw-base35/NimbusRoman-Bold.otf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSans-Bold.otf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/opentype/urw-base35/NimbusRoman-BoldItalic.otf",
)

# The state's name on rich OCR plates (train/states.py): the header faces and more, script
# (Z003), italic serif and gothic faces as real plates print names, and the fetched faces
STATE_FONT_GLOBS = HEADER_FONT_GLOBS + (
    "/usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf",
    "/usr/share/fonts/opentype/urw-base35/C059-BdIta.otf",
    "/usr/share/fonts/opentype/urw-base35/P052-BoldItalic.otf",
    "/usr/share/fonts/opentype/urw-base35/URWBookman-DemiItalic.otf",
    "/usr/share/fonts/opentype/urw-base35/URWBookman-Demi.otf",
    "/usr/share/fonts/opentype/urw-base35/URWGothic-Demi.otf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Bold.otf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSans-BoldItalic.otf",
    "/usr/share/fonts/truetype/liberation*/LiberationSerif-BoldItalic.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerifCondensed-BoldItalic.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Bold.ttf",
)


def state_faces() -> list[str]:
    """The faces a rich plate's state name and slogan are set in."""
    return _existing(STATE_FONT_GLOBS) + installed()


def _existing(globs):
    out = []
    for g in globs:
        out.extend(sorted(glob.glob(g)))
    if not out:
        raise RuntimeError(
            "no fonts found: apt-get install fonts-dejavu-core fonts-urw-base35 "
            "fonts-liberation2 fonts-roboto"
        )
    return out


_FONTS: list[str] = []
_HEADER_FONTS: list[str] = []


def debian() -> tuple[list[str], list[str]]:
    """The Debian fonts plates are set in: (registration faces, header faces)."""
    if not _FONTS:
        _FONTS.extend(_existing(FONT_GLOBS))
        _HEADER_FONTS.extend(_existing(HEADER_FONT_GLOBS))
    return _FONTS, _HEADER_FONTS


def fit(path: str, text: str, max_w: int, max_h: int):
    """The font at path at the largest size (from max_h down) where text fits max_w x max_h."""
    from PIL import ImageFont

    size = max_h
    while size > 8:
        font = ImageFont.truetype(path, size)
        x0, y0, x1, y1 = font.getbbox(text)
        if x1 - x0 <= max_w and y1 - y0 <= max_h:
            return font
        size -= 3
    return ImageFont.truetype(path, 8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DIR)
    a = ap.parse_args()
    fonts = fetch(a.dest)
    print(f"fonts: {len(fonts)} in {a.dest}")


if __name__ == "__main__":
    main()
