"""What a Windows program carries in its resources, read from the PE file itself (no Windows call,
so the same check runs here on the setup EXE and on the Windows runner on messenger.exe):
`python tests/build/pe_resources.py PROGRAM.exe` prints its icon sizes, `... --version PROGRAM.exe`
the four numbers of its version resource."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

RT_ICON, RT_GROUP_ICON, RT_VERSION = 3, 14, 16
FIXED_FILE_INFO_SIGNATURE = 0xFEEF04BD


def resources(program: Path) -> dict[int, list[bytes]]:
    """Every resource with a numeric type, by type: the data of each name and language."""
    data = program.read_bytes()
    if data[:2] != b"MZ":
        raise ValueError(f"{program} is not a Windows program")
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if data[pe:pe + 4] != b"PE\0\0":
        raise ValueError(f"{program} has no PE header")
    sections_count, optional_size = struct.unpack_from("<H12xH", data, pe + 6)
    optional = pe + 24
    directories = optional + (112 if struct.unpack_from("<H", data, optional)[0] == 0x20B else 96)
    resource_rva, _size = struct.unpack_from("<II", data, directories + 2 * 8)
    sections = [struct.unpack_from("<8xIIII", data, optional + optional_size + 40 * i) for i in range(sections_count)]

    def offset(rva: int) -> int:
        for virtual_size, address, raw_size, raw in sections:
            if address <= rva < address + max(virtual_size, raw_size):
                return raw + rva - address
        raise ValueError(f"{program}: address {rva:#x} is in no section")

    if not resource_rva:
        return {}
    base = offset(resource_rva)

    def entries(directory: int) -> list[tuple[int, int, bool]]:
        named, numbered = struct.unpack_from("<12xHH", data, base + directory)
        found = []
        for i in range(named + numbered):
            name, target = struct.unpack_from("<II", data, base + directory + 16 + 8 * i)
            found.append((name, target & 0x7FFFFFFF, bool(target & 0x80000000)))
        return found

    def leaves(directory: int) -> list[bytes]:
        found = []
        for _name, target, is_directory in entries(directory):
            if is_directory:
                found += leaves(target)
            else:
                rva, size = struct.unpack_from("<II", data, base + target)
                found.append(data[offset(rva):offset(rva) + size])
        return found

    return {name: leaves(target) for name, target, is_directory in entries(0)
            if is_directory and not name & 0x80000000}


def icon_sizes(program: Path) -> list[int]:
    """The sizes (pixels) of every icon group's images, 0 read as 256; [] without an icon."""
    found = resources(program)
    sizes = []
    for group in found.get(RT_GROUP_ICON, []):
        _reserved, _type, count = struct.unpack_from("<HHH", group, 0)
        sizes += [struct.unpack_from("<B", group, 6 + 14 * i)[0] or 256 for i in range(count)]
    if len(sizes) > len(found.get(RT_ICON, [])):
        raise ValueError(f"{program}: its icon groups name more images than it holds")
    return sizes


def file_version(program: Path) -> str:
    """The file version of its version resource (VS_FIXEDFILEINFO), as four numbers: "1.2.0.101"."""
    [version_info] = resources(program).get(RT_VERSION, [b""])
    start = version_info.find(struct.pack("<I", FIXED_FILE_INFO_SIGNATURE))
    if start < 0:
        raise ValueError(f"{program} has no version resource")
    high, low = struct.unpack_from("<II", version_info, start + 8)
    return f"{high >> 16}.{high & 0xFFFF}.{low >> 16}.{low & 0xFFFF}"


if __name__ == "__main__":
    if sys.argv[1] == "--version":
        print(file_version(Path(sys.argv[2])))
    else:
        print(" ".join(map(str, icon_sizes(Path(sys.argv[1])))))
