"""Image files in, ``[H, W, C]`` arrays out, in the file's own dtype (volumes:
``[D, H, W, C]``); and the colour conversions the command line offers.

Pillow decodes the common formats; imagecodecs decodes 16-bit PNG (Pillow
reduces 16-bit colour PNG to 8 bits); tifffile decodes TIFF (and TIFF stacks).
All three are the optional ``files`` extra, imported on first use. NumPy's ``.npy``
files hold images or volumes as they are, and 16-bit PGM and PPM files
(Pillow reduces the colour ones to 8 bits too) are read here.
"""

from __future__ import annotations

import functools
import os
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXTRA_HINT = 'install the file readers with: pip install "msssim[files]"'


IMAGE_SUFFIXES = frozenset(
    ".png .jpg .jpeg .jpe .jfif .tif .tiff .bmp .dib .webp .ppm .pgm .pbm .pnm .gif .tga .jp2 .j2k .jxl .heic .heif"
    " .hif .qoi .npy".split()
)
VOLUME_SUFFIXES = frozenset({".npy", ".tif", ".tiff"})


class ImageReadError(Exception):
    """A file that cannot be read: ``path`` says which, ``reason`` why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def regular_file(path: str | os.PathLike) -> Path:
    """``path``, if it is a file with something in it; else the error that says what it is."""
    path = Path(path)
    if path.is_dir():
        raise ImageReadError(path, "a folder, not a file")
    if path.exists() and not path.is_file():  # (``<(ffmpeg ...)``: read more than once, which a pipe cannot be)
        raise ImageReadError(path, "not a regular file (a pipe or a device?); write it to a file first")
    if not path.is_file():
        raise ImageReadError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "the file is empty")
    return path


def looks_like_image(path: str | os.PathLike) -> bool:
    """Whether msssim's readers recognise the file's header as an image (for files whose
    name does not say what they are; a pipe is not opened: it would wait for a writer)."""
    if not os.path.isfile(path):
        return False
    try:
        if _is_jpegxl(Path(path)) or _is_heif(Path(path)):  # (files Pillow does not read)
            return True
        with _open_pillow(path):
            return True
    except Exception:  # not an image, unreadable, or no Pillow: let the caller try video
        return False


def default_max_val(dtype: np.dtype) -> float:
    """The dynamic range a file's dtype implies: 255 for 8-bit, 65535 for 16-bit."""
    return float(np.iinfo(dtype).max) if dtype.kind in "iu" else 1.0


_ANIMATED = ("GIF", "PNG", "WEBP", "AVIF")  # (not a camera's JPEG with a preview, MPO, nor a TIFF's pages)


def frame_count(path: str | os.PathLike) -> int:
    """How many frames an image file holds: more than one for an animated
    GIF, PNG, WebP or AVIF, else one (also for files Pillow does not read)."""
    if not os.path.isfile(path):  # (a pipe would wait for a writer; read_image says what is wrong)
        return 1
    try:
        with _open_pillow(path) as im:
            return _frames(im)
    except Exception:  # (not Pillow's to read: read_image says why, if anything is wrong)
        return 1


def _frames(im) -> int:
    return getattr(im, "n_frames", 1) if im.format in _ANIMATED else 1


def exif_orientation(path: str | os.PathLike) -> int:
    """The EXIF orientation a file is tagged with (1 to 8; 5 to 8 show it
    turned a quarter), 1 where it has none. msssim scores pixels as stored, as
    TensorFlow's and scikit-image's decoders give them, and does not apply it."""
    try:
        if _is_tiff(Path(path)):  # (tifffile's to read, as its pixels are: Pillow reads no float TIFF)
            import tifffile

            with tifffile.TiffFile(path) as tif:
                tag = tif.pages[0].tags.get(0x0112)
                tag = 1 if tag is None else int(tag.value)
        else:
            with _open_pillow(path) as im:
                if im.format not in _EXIF_ORIENTED:  # (HEIF's, AVIF's, JPEG XL's own is applied in decoding)
                    return 1
                if im.format == "PNG" and "exif" not in im.info:  # (getexif would decode it all to look past IDAT)
                    return 1
                tag = int(im.getexif().get(0x0112, 1))
    except Exception:  # (no EXIF, or not a file it can be read from)
        return 1
    return tag if 1 <= tag <= 8 else 1


_EXIF_ORIENTED = frozenset({"JPEG", "MPO", "PNG", "WEBP"})


def as_shown(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """``[H, W, C]`` pixels stored with EXIF ``orientation`` (1 to 8) turned
    and mirrored as a viewer shows them (Pillow's ``ImageOps.exif_transpose``)."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a),
    }.get(orientation)
    return pixels if turned is None else np.ascontiguousarray(turned(pixels))


def read_animation(path: str | os.PathLike, frames: slice = slice(None)) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame number, [H, W, 3] uint8 pixels)`` of an animated GIF, PNG,
    WebP or AVIF, the frames ``frames`` selects, composited as a viewer shows them
    (RGB throughout: a GIF's later frames are RGB, whatever its first is)."""
    if _is_16bit_png(Path(path)):  # (Pillow gives its frames at 8 bits, or clips them)
        raise ImageReadError(path, "a 16-bit animated PNG, whose frames msssim cannot read at 16 bits")
    if (deep := _deep_avif(Path(path), b"avis")) is not None:  # (Pillow: 8 bits)
        bits = deep[1]
        raise ImageReadError(path, f"a {bits}-bit AVIF sequence, whose frames msssim cannot read at {bits} bits")
    try:
        with _open_pillow(path) as im:
            for number in range(im.n_frames)[frames]:
                im.seek(number)
                yield number, np.asarray(im.convert("RGB"))
    except Exception as exc:  # decoders raise many types for broken files
        raise ImageReadError(path, f"cannot decode the animation ({type(exc).__name__}: {exc})") from None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to ``[H, W, C]``: uint8, uint16, or float for float TIFF.

    Grey images get ``C = 1``; palette images become RGB; an alpha channel is
    dropped, since it is not part of what is seen.

    Raises
    ------
    ImageReadError
        The file is missing, empty, truncated, not an image, or too large.
    """
    path = regular_file(path)
    try:
        if path.suffix.lower() == ".npy":
            arr = _read_npy(path)
        elif _is_tiff(path):  # (by its first bytes, whatever its name: Pillow cuts 16-bit colour)
            arr = _read_tiff(path, image=True)
        elif _is_16bit_png(path):
            arr = _read_png16(path)
        elif _deep_pnm(path):
            arr = _read_pnm16(path)
        elif (deep := _deep_jpeg2k(path)) is not None:
            arr = _read_jpeg2k(path, *deep)
        elif (deep := _deep_avif(path)) is not None:
            arr = _read_avif(path, *deep)
        elif _is_jpegxl(path):
            arr = _read_jpegxl(path)
        elif _is_heif(path):
            arr = _read_heif(path)
        else:
            arr = _read_pillow(path)
    except ImageReadError:
        raise
    except ImportError as exc:
        raise ImageReadError(path, f"{exc.name or 'a reader'} is not installed; {_EXTRA_HINT}") from None
    except Exception as exc:  # decoders raise many types for broken files
        raise ImageReadError(path, f"cannot decode the image ({type(exc).__name__}: {exc})") from None
    return _channels_last(arr, path)


def read_volume(path: str | os.PathLike) -> np.ndarray:
    """A volume ``[D, H, W, C]`` from a ``.npy`` file (``[D, H, W]`` or ``[D,
    H, W, C]``) or a TIFF stack (its pages are D; a channel axis the file
    names is moved last), memory-mapped where the file allows.

    Raises
    ------
    ImageReadError
        The file is missing, not a volume, or of an unsupported type.
    """
    path = Path(path)
    if path.suffix.lower() not in VOLUME_SUFFIXES:
        raise ImageReadError(path, "volumes are read from .npy files and TIFF stacks (.tif, .tiff)")
    regular_file(path)
    try:
        arr = _read_npy(path) if path.suffix.lower() == ".npy" else _read_tiff(path)
    except ImageReadError:
        raise
    except ImportError as exc:
        raise ImageReadError(path, f"{exc.name or 'a reader'} is not installed; {_EXTRA_HINT}") from None
    except Exception as exc:
        raise ImageReadError(path, f"cannot read the volume ({type(exc).__name__}: {exc})") from None
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] > 4:
        raise ImageReadError(path, f"expected a volume [D, H, W] or [D, H, W, C], got an array of shape {arr.shape}")
    return arr


def _read_npy(path: Path) -> np.ndarray:
    """An array file, memory-mapped: integers and floats only."""
    arr = _native(np.load(path, mmap_mode="r", allow_pickle=False))
    if arr.dtype.kind not in "iuf":
        raise ImageReadError(path, f"holds {arr.dtype} values; expected integer or floating pixels")
    return arr


def _channels_last(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 2, 3, 4):
        raise ImageReadError(path, f"expected a grey or colour image, got an array of shape {arr.shape}")
    if arr.shape[-1] in (2, 4):  # grey+alpha, RGBA
        arr = arr[..., :-1]
    return arr


def _is_16bit_png(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(25)
    # The IHDR chunk follows the signature; byte 24 is the bit depth.
    return head[:8] == _PNG_SIGNATURE and len(head) == 25 and head[24] == 16


def _read_png16(path: Path) -> np.ndarray:
    """The samples as stored, as libpng gives them (not shifted down to an
    sBIT chunk's depth, a 10-bit file's to 0..1023, which the 16-bit maximum
    would then misjudge); the size is checked from the header first."""
    import imagecodecs

    data = path.read_bytes()
    width, height = struct.unpack(">II", data[16:24])  # (IHDR)
    _bounded(path, height, width)
    return imagecodecs.png_decode(data)


_GAP = rb"(?:\s|#[^\r\n]*[\r\n])+"  # whitespace and comments
_PNM_HEADER = re.compile(rb"(P[2356])" + 3 * (_GAP + rb"(\d+)") + rb"\s")  # magic, width, height, maxval


def _pnm_header(data: bytes) -> tuple[bytes, int, int, int, int] | None:
    """A PGM or PPM header (plain P2/P3 or binary P5/P6): the magic number,
    width, height, maxval and where the samples start; None if it is not one."""
    found = _PNM_HEADER.match(data)
    return found and (found[1], int(found[2]), int(found[3]), int(found[4]), found.end())


def _deep_pnm(path: Path) -> bool:
    """Whether the file is a PGM or PPM with samples past 8 bits (maxval > 255)."""
    with open(path, "rb") as f:
        header = _pnm_header(f.read(4096))
    return header is not None and header[3] > 255


def _read_pnm16(path: Path) -> np.ndarray:
    """A 16-bit PGM or PPM as uint16 ``[H, W, C]``. Samples of a maxval below
    65535 (1023 for 10 bits) are scaled to the full 16-bit range, rounded, as
    Pillow and FFmpeg read them, so that the bit depth implies the range."""
    data = path.read_bytes()
    magic, width, height, maxval, start = _pnm_header(data)
    _bounded(path, height, width)
    channels = 3 if magic in (b"P3", b"P6") else 1
    count = width * height * channels
    if maxval > 65535:
        raise ImageReadError(path, f"a maxval of {maxval} is past the 65535 that PGM and PPM allow")
    if magic in (b"P5", b"P6"):
        if len(data) - start < 2 * count:
            raise ImageReadError(path, f"truncated: {width}x{height} 16-bit samples need {2 * count} bytes")
        samples = np.frombuffer(data, ">u2", count, start).astype(np.uint32)
    else:
        words = data[start - 1 :].split()
        if len(words) < count:
            raise ImageReadError(path, f"truncated: {count} samples expected, {len(words)} found")
        samples = np.array(words[:count], dtype=np.uint32)
    if samples.max(initial=0) > maxval:
        raise ImageReadError(path, f"a sample of {samples.max()} is past the file's maxval, {maxval}")
    return _full_range(samples, maxval).reshape(height, width, channels)


def _full_range(samples: np.ndarray, maxval) -> np.ndarray:
    """Unsigned samples of ``0..maxval`` (1023 for 10 bits; one per channel, last
    axis, or one for all) scaled to the 16-bit range and rounded, as Pillow
    (PGM) and FFmpeg read them, so that the bit depth implies the range."""
    maxval = np.asarray(maxval, np.uint32)
    if (maxval == 65535).all():
        return samples.astype(np.uint16, copy=False)
    return ((samples.astype(np.uint32) * 65535 + maxval // 2) // maxval).astype(np.uint16)


_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"  # (the JP2 file's first box)
_SIZ = b"\xff\x4f\xff\x51"  # a codestream's start (SOC), then its image and tile size (SIZ)


def _deep_jpeg2k(path: Path) -> tuple[bytes, int, int, list[int]] | None:
    """A JPEG 2000 file (JP2 or a bare codestream) with samples past 8 bits,
    which Pillow cuts to 8 for colour: its bytes, height, width and each
    component's bits, from the codestream's SIZ marker; None for any other file."""
    with open(path, "rb") as f:
        head = f.read(len(_JP2_SIGNATURE))
    if not (head.startswith(_SIZ) or head == _JP2_SIGNATURE):
        return None
    data = path.read_bytes()
    at = data.find(_SIZ)
    if at < 0 or len(data) < at + 42:
        return None  # (Pillow says what is wrong)
    x, y, x0, y0 = struct.unpack(">4I", data[at + 8 : at + 24])
    (count,) = struct.unpack(">H", data[at + 40 : at + 42])
    components = data[at + 42 : at + 42 + 3 * count]  # each: precision and sign, then its subsampling
    if len(components) < 3 * count:
        return None
    if any(components[i] & 0x80 for i in range(0, len(components), 3)):
        raise ImageReadError(path, "signed JPEG 2000 samples are not supported; save it unsigned")
    bits = [(components[i] & 0x7F) + 1 for i in range(0, len(components), 3)]
    if max(bits) <= 8:
        return None
    if any(components[i] != 1 for i in range(len(components)) if i % 3):
        raise ImageReadError(path, f"{max(bits)}-bit JPEG 2000 with subsampled components is not supported")
    if max(bits) > 16:
        raise ImageReadError(path, f"{max(bits)}-bit JPEG 2000 is not supported; msssim reads up to 16 bits")
    return data, y - y0, x - x0, bits


def _deep_avif(path: Path, brand: bytes = b"avif") -> tuple[bytes, int] | None:
    """An AVIF of 10 or 12 bits (a still image; with ``brand`` "avis", a
    sequence), which Pillow reads at 8: its bytes and bits, from the AV1 configuration
    (``av1C``: high bit depth, twelve bit) of its items (the picture's and its
    alpha's); None for any other file."""
    major, brands = _brands(path)
    if brand not in brands | {major} or (brand == b"avif" and b"avis" in brands | {major}):
        return None  # (a sequence, "avis", is also a still image "avif")
    data = path.read_bytes()
    flags = [data[at + 6] for at in _boxes(data, b"av1C", 7)]  # (its third byte: tier, high bit depth, twelve bit)
    bits = max((8 + 2 * bool(f & 0x40) + 2 * bool(f & 0x40 and f & 0x20) for f in flags), default=8)
    return (data, bits) if bits > 8 else None


def _boxes(data: bytes, kind: bytes, size: int) -> Iterator[int]:
    """Where each ``kind`` box's type is in ``data`` with ``size`` bytes after it."""
    at = data.find(kind)
    while 0 <= at <= len(data) - 4 - size:
        yield at
        at = data.find(kind, at + 1)


def _read_avif(path: Path, data: bytes, bits: int) -> np.ndarray:
    """A 10- or 12-bit AVIF at its precision (libavif, through imagecodecs),
    scaled to the 16-bit range as PGM's samples are; its size (``ispe``) is
    checked against the pixel limit first."""
    import imagecodecs

    for at in _boxes(data, b"ispe", 12):  # (version and flags, then width and height)
        _bounded(path, *reversed(struct.unpack(">II", data[at + 8 : at + 16])))
    arr = imagecodecs.avif_decode(data)
    return _full_range(arr, 2**bits - 1)


def _read_jpeg2k(path: Path, data: bytes, height: int, width: int, bits: list[int]) -> np.ndarray:
    """Samples of 9 to 16 bits at their own precision (decoded by OpenJPEG,
    through imagecodecs), scaled to the 16-bit range as PGM's are."""
    import imagecodecs

    _bounded(path, height, width)
    arr = imagecodecs.jpeg2k_decode(data)
    arr = arr if arr.ndim == 3 else arr[..., None]
    return _full_range(arr, [2**b - 1 for b in bits][: arr.shape[-1]])


_JXL_SIGNATURES = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")  # (a bare codestream, the container)


def _is_jpegxl(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(12).startswith(_JXL_SIGNATURES)


def _read_jpegxl(path: Path) -> np.ndarray:
    """A JPEG XL still image (libjxl, through imagecodecs; Pillow reads none),
    turned as its header says, as every JPEG XL decoder does (the orientation
    is part of the codestream, not EXIF's metadata); samples past 8 bits
    scaled to the 16-bit range as PGM's are, from the bits the header states
    (the decoder gives ``0..2**bits - 1`` in uint16)."""
    import imagecodecs

    data = path.read_bytes()
    height, width, bits, frames = _jpegxl_header(path, data)
    _bounded(path, height, width)
    if frames:
        raise ImageReadError(path, "an animated JPEG XL, which msssim does not read; save its frames as files")
    arr = imagecodecs.jpegxl_decode(data)
    if bits == "float":
        return arr.astype(np.float32, copy=False)
    if bits < 8:  # (1 to 7 bits, as Pillow shows a 1- or 4-bit PNG: 0..255)
        top = 2**bits - 1
        return ((arr.astype(np.uint16) * 255 + top // 2) // top).astype(np.uint8)
    return _full_range(arr, 2**bits - 1) if bits > 8 else arr


def _jpegxl_header(path: Path, data: bytes) -> tuple[int, int, int | str, bool]:
    """A JPEG XL file's height, width, bits per sample ("float" for floating
    samples) and whether it is animated, from its codestream's size header and
    image metadata (ISO/IEC 18181-1: fields of a few bits, read least
    significant bit first)."""
    stream = data if data.startswith(_JXL_SIGNATURES[0]) else _jpegxl_codestream(path, data)
    field = _BitFields(stream[2:66])
    height, width = _jpegxl_size(field)
    if field(1):  # all defaults: 8 bits, still
        return height, width, 8, False
    animated = False
    if field(1):  # extra fields
        field(3)  # orientation
        if field(1):  # an intrinsic size
            _jpegxl_size(field)
        if field(1):  # a preview
            div8 = field(1)
            preview = ((0, 16), (0, 32), (5, 1), (9, 33)) if div8 else ((6, 1), (8, 65), (10, 321), (12, 1345))
            field.u32(preview)
            if field(3) == 0:
                field.u32(preview)
        animated = bool(field(1))
        if animated:  # ticks a second (numerator, denominator), loops, time codes
            field.u32(((0, 100), (0, 1000), (10, 1), (30, 1)))
            field.u32(((0, 1), (0, 1001), (8, 1), (10, 1)))
            field.u32(((0, 0), (3, 0), (16, 0), (32, 0)))
            field(1)
    if field(1):  # floating-point samples
        return height, width, "float", animated
    bits = field.u32(((0, 8), (0, 10), (0, 12), (6, 1)))
    if not 1 <= bits <= 16:
        raise ImageReadError(path, f"{bits}-bit JPEG XL is not supported; msssim reads up to 16 bits")
    return height, width, bits, animated


_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}  # width : height


def _jpegxl_size(field) -> tuple[int, int]:
    """A JPEG XL size header: height, and width (given, or a ratio of the height)."""
    small = field(1)
    sizes = ((9, 1), (13, 1), (18, 1), (30, 1))
    height = (field(5) + 1) * 8 if small else field.u32(sizes)
    ratio = field(3)
    if ratio:
        across, down = _JXL_RATIOS[ratio]
        return height, height * across // down
    return height, (field(5) + 1) * 8 if small else field.u32(sizes)


def _jpegxl_codestream(path: Path, data: bytes) -> bytes:
    """The start of the codestream in a JPEG XL container: its ``jxlc`` box,
    or its first ``jxlp`` box (a part, after its 4-byte number)."""
    at = 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        header = 8
        if size == 1:
            (size,), header = struct.unpack(">Q", data[at + 8 : at + 16]), 16
        if kind in (b"jxlc", b"jxlp"):
            start = at + header + (4 if kind == b"jxlp" else 0)
            return data[start : start + 66]
        if size < header:  # (0: the last box, to the end of the file)
            break
        at += size
    raise ImageReadError(path, "a JPEG XL container without a codestream")


class _BitFields:
    """Reads fields of a few bits, least significant bit first, from bytes."""

    def __init__(self, data: bytes):
        self.value, self.at = int.from_bytes(data, "little"), 0

    def __call__(self, bits: int) -> int:
        field = (self.value >> self.at) & ((1 << bits) - 1)
        self.at += bits
        return field

    def u32(self, choices) -> int:
        """JPEG XL's U32: two bits choose a ``(bits, offset)`` pair, then its bits."""
        bits, offset = choices[self(2)]
        return self(bits) + offset


_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
_AVIF_BRANDS = {b"avif", b"avis"}


def _brands(path) -> tuple[bytes, set[bytes]]:
    """An ISO BMFF file's major brand and compatible brands (from its ``ftyp``
    box, within its first 64 bytes); ``b""`` for any other file."""
    if not os.path.isfile(path):  # (a pipe would wait for a writer)
        return b"", set()
    with open(path, "rb") as f:
        head = f.read(64)
    if head[4:8] != b"ftyp":
        return b"", set()
    return head[8:12], {head[at : at + 4] for at in range(16, min(len(head), int.from_bytes(head[:4], "big")), 4)}


def _is_heif(path: Path) -> bool:
    """A HEIF file of HEVC pictures (an iPhone's HEIC): its brand is HEIF's,
    and none of its brands is AVIF's (a HEIF too, whose major brand older
    encoders wrote as HEIF's ``mif1``)."""
    major, brands = _brands(path)
    return major in _HEIF_BRANDS and not _AVIF_BRANDS & (brands | {major})


def _read_heif(path: Path) -> np.ndarray:
    """A HEIF still image (libheif, through pillow-heif), turned and mirrored as
    its properties say (which, unlike EXIF's, are part of the image); samples
    past 8 bits scaled to the 16-bit range as PGM's are (pillow-heif gives
    them shifted to the top of 16)."""
    import pillow_heif

    heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
    if len(heif) > 1:
        raise ImageReadError(path, f"a HEIF file of {len(heif)} images, not one; save the one to score as a file")
    _bounded(path, heif.size[1], heif.size[0])
    arr, bits = np.asarray(heif), heif.info["bit_depth"]
    return arr if bits == 8 else _full_range(arr >> (16 - bits), 2**bits - 1)


_TIFF_SIGNATURES = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # (classic and BigTIFF, either byte order)


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in _TIFF_SIGNATURES


def _native(arr: np.ndarray) -> np.ndarray:
    """Samples in this machine's byte order (a Mac's big-endian TIFF or ``.npy``)."""
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def _read_tiff(path: Path, image: bool = False) -> np.ndarray:
    """Uncompressed TIFF is memory-mapped (a gigapixel file is streamed, not
    loaded); other TIFF is decoded. The channels, where the file says where
    they are (planar colour stores them first), are moved last; a stack's
    pages are the first axis. White-is-zero grey is inverted, and 10- or
    12-bit samples are scaled to 16 bits, as for PGM. An ``image`` of colour
    types Pillow converts (palette, CMYK, YCbCr, Lab) or of 1 to 4 bits is
    read by Pillow, at 8 bits; deeper ones are refused."""
    import tifffile

    kinds = tifffile.PHOTOMETRIC
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes, shape, page = series.axes, series.shape, series.keyframe
        kind, bits = page.photometric, page.bitspersample
        decoded_rgb = kind == kinds.YCBCR and page.compression == tifffile.COMPRESSION.JPEG  # (tifffile: RGB)
    if kind not in (kinds.MINISBLACK, kinds.MINISWHITE, kinds.RGB) and not decoded_rgb or bits < 8:
        if image and bits <= 8:
            return _read_pillow(path)
        raise ImageReadError(path, f"{bits}-bit {kind.name} TIFF is not supported; save it as 8/16-bit RGB or grey")
    if image:
        _bounded(path, *[n for n, axis in zip(shape, axes) if axis in "YX"])
    try:
        arr = tifffile.memmap(path, mode="r")
    except ValueError:  # compressed or tiled: not mappable
        arr = tifffile.imread(path)
    arr = _native(arr)
    channel = next((axes.index(a) for a in "CS" if a in axes), None)
    if channel is not None and len(axes) == arr.ndim:  # (planar colour, [C, H, W], and stacks' channels)
        arr = np.moveaxis(arr, channel, -1)
    if arr.dtype.kind == "f" and kind != kinds.MINISWHITE:
        return arr.astype(np.float32, copy=False)
    if arr.dtype not in (np.uint8, np.uint16):
        why = f"TIFF sample type {arr.dtype} ({kind.name}) is not supported; use 8/16-bit or float"
        raise ImageReadError(path, why)
    if kind == kinds.MINISWHITE:  # (0 is white)
        arr = np.iinfo(arr.dtype).max - arr if bits in (8, 16) else (2**bits - 1) - arr
    if arr.dtype == np.uint16 and bits < 16:  # (10 or 12 bits: to the 16-bit range the dtype implies)
        arr = _full_range(arr, 2**bits - 1)
    return arr


MAX_PIXELS = 2**30  # a file claiming more is refused (a decompression bomb); 3 GiB as 8-bit RGB
_PILLOW_LIMIT = threading.Lock()


def _open_pillow(path):
    """``Image.open``, without Pillow's limit of 89.5 million pixels (a
    100-megapixel camera's JPEG, a panorama): msssim reads up to MAX_PIXELS,
    as it reads TIFF and 16-bit PNG, and refuses a file that claims more
    itself (:func:`_read_pillow`)."""
    from PIL import Image

    # (an AVIF of major brand ``mif1`` is AVIF's to read: pillow-heif's HEIF
    # plugin, which imageio registers in Pillow when imported, claims it, and has no AV1 decoder)
    major, brands = _brands(path)
    formats = ["AVIF"] if _AVIF_BRANDS & (brands | {major}) and "AVIF" in _pillow_formats() else None
    with _PILLOW_LIMIT:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path, formats=formats)
        finally:
            Image.MAX_IMAGE_PIXELS = limit


@functools.cache
def _pillow_formats() -> frozenset:
    """The formats this Pillow opens (AVIF from Pillow 11.3 on)."""
    from PIL import Image

    Image.init()
    return frozenset(Image.OPEN)


def _bounded(path: Path, height: int, width: int) -> None:
    """Refuse, from its header, a file that claims more than MAX_PIXELS pixels."""
    if width * height > MAX_PIXELS:
        why = f"{width}x{height} is more than the {MAX_PIXELS} pixels msssim decodes (a decompression bomb?)"
        raise ImageReadError(path, why)


def _read_pillow(path: Path) -> np.ndarray:
    with _open_pillow(path) as im:
        _bounded(path, im.height, im.width)
        if _frames(im) > 1:  # (its first frame alone is not the image)
            why = f"an animation of {im.n_frames} frames, not one image (msssim's command line scores each)"
            raise ImageReadError(path, why)
        return _pillow_pixels(im, path)


def _pillow_pixels(im, path: Path) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im, dtype=np.uint16)
    if im.mode in ("1", "L", "LA", "RGB", "RGBA"):
        return np.asarray(im.convert("L" if im.mode == "1" else im.mode))
    if im.mode in ("P", "PA"):
        return np.asarray(im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB"))
    if im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(im.convert("RGB"))
    raise ImageReadError(path, f"Pillow image mode {im.mode!r} is not supported; save it as 8/16-bit RGB or grey")


COLORS = ("rgb", "y", "gray")
_BT601 = np.array([0.299, 0.587, 0.114])


def to_color(arr: np.ndarray, color: str) -> np.ndarray:
    """``[H, W, C]`` pixels in the colour the command line asked for.

    ``rgb``: as decoded. ``gray``: full-range BT.601 luma, 0.299 R + 0.587 G +
    0.114 B, rounded to the input's integer type (as Pillow's ``convert("L")``).
    ``y``: BT.601 limited-range luma, what an encoder's RGB to YUV conversion
    puts in the Y plane (16-235 for 8-bit). Grey input is returned as it is.
    """
    if color == "rgb" or arr.shape[-1] == 1:
        return arr
    luma = arr[..., :3].astype(np.float64) @ _BT601
    if color == "y":
        top = np.iinfo(arr.dtype).max if arr.dtype.kind in "iu" else 1.0
        luma = (16 + 219 * luma / top) * (top / 255)
    if arr.dtype.kind in "iu":
        luma = np.clip(np.round(luma), 0, np.iinfo(arr.dtype).max).astype(arr.dtype)
    else:
        luma = luma.astype(arr.dtype)
    return luma[..., None]


SCALERS = ("bicubic", "lanczos")


def resize(arr: np.ndarray, height: int, width: int, method: str) -> np.ndarray:
    """``[H, W, C]`` pixels resized to ``height`` x ``width`` with Pillow's
    ``bicubic`` or ``lanczos`` filter. 8-bit grey and RGB are resized by Pillow
    as they are; other types per channel in float32, then rounded and clipped
    back to the integer type."""
    from PIL import Image

    method = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}[method]
    if arr.dtype == np.uint8 and arr.shape[-1] in (1, 3):
        image = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
        return np.asarray(image.resize((width, height), method)).reshape(height, width, arr.shape[-1])
    planes = [
        np.asarray(Image.fromarray(arr[..., c].astype(np.float32)).resize((width, height), method))
        for c in range(arr.shape[-1])
    ]
    out = np.stack(planes, axis=-1)
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        out = np.clip(np.round(out), info.min, info.max)
    return out.astype(arr.dtype)
