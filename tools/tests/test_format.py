"""Writer/reader round trip and every reader rejection of SPEC "What a reader must reject"."""
import hashlib
import struct

import numpy as np
import pytest

from roentgen_tools.fileformat import rtg as F
from roentgen_tools.fileformat.rtg import FormatError, read_bytes, serialize


def refresh(buf: bytearray) -> bytes:
    """Recompute the checksum after a deliberate edit so the structural check is what fails."""
    buf[F.SHA_OFFSET:F.SHA_END] = F.checksum(buf)
    return bytes(buf)


@pytest.fixture
def data(small_int8):
    return serialize(small_int8)


def section(data, kind):
    for i in range(8):
        k, _, off, size, count = struct.unpack_from(F.SECTION_FMT, data, 128 + 32 * i)
        if k == kind:
            return i, off, size, count
    raise KeyError(kind)


def test_round_trip(small_int8, data):
    m = read_bytes(data)
    assert serialize(m) == data  # byte-identical after a read/write cycle
    assert m.labels == small_int8.labels
    assert [t.name for t in m.tensors] == [t.name for t in small_int8.tensors]
    for a, b in zip(m.tensors, small_int8.tensors):
        assert a.dims == b.dims and a.dtype == b.dtype and a.role == b.role
        if a.data is not None:
            assert np.array_equal(a.data, b.data)
        if a.scales is not None:
            assert np.array_equal(a.scales, b.scales) and np.array_equal(a.zero_points, b.zero_points)
    assert m.plan == small_int8.plan and m.arena_size == small_int8.arena_size
    assert dict(m.provenance)["precision"] == "int8"
    for key in F.REQUIRED_PROVENANCE:
        assert key in dict(m.provenance)


def test_header_layout_and_alignment(data):
    magic, vmaj, vmin, hsize, fsize, nsec, flags, sto = struct.unpack_from("<8sHHIQIIQ", data, 0)
    assert (magic, vmaj, vmin, hsize, fsize, nsec, flags, sto) == (b"ROENTGEN", 1, 0, 128, len(data), 8, 0, 128)
    assert data[72:128] == bytes(56)
    h = hashlib.sha256(data[:40] + data[72:]).digest()
    assert data[40:72] == h
    kinds = []
    for i in range(8):
        k, r, off, size, count = struct.unpack_from(F.SECTION_FMT, data, 128 + 32 * i)
        kinds.append(k)
        assert off % 64 == 0 and r == 0 and off + size <= len(data)
    assert kinds == list(range(1, 9))
    m = read_bytes(data)
    for t in m.tensors:
        if t.role == F.ROLE_CONSTANT:
            assert t.data.ctypes.data % 1 == 0


def test_atomic_write(tmp_path, small_int8):
    p = tmp_path / "m.rtg"
    F.write_model(small_int8, p)
    assert p.read_bytes() == serialize(small_int8)
    assert [x.name for x in tmp_path.iterdir()] == ["m.rtg"]  # no temp file left


def test_reject_truncated(data):
    with pytest.raises(FormatError, match="shorter than the 128-byte header"):
        read_bytes(data[:100])
    with pytest.raises(FormatError, match="file_size"):
        read_bytes(data[:-1])


def test_reject_bit_flip(data):
    for pos in (3000, len(data) - 1, 80, 20 + 0):
        buf = bytearray(data)
        buf[pos] ^= 0x10
        with pytest.raises(FormatError):
            read_bytes(bytes(buf))
    buf = bytearray(data)
    buf[len(data) // 2] ^= 0x01
    with pytest.raises(FormatError, match="checksum"):
        read_bytes(bytes(buf))
    buf = bytearray(data)
    buf[50] ^= 0x01  # inside the digest itself
    with pytest.raises(FormatError, match="checksum"):
        read_bytes(bytes(buf))


def test_reject_wrong_magic(data):
    buf = bytearray(data)
    buf[0:8] = b"ROENTGEM"
    with pytest.raises(FormatError, match="magic"):
        read_bytes(refresh(buf))


def test_reject_newer_major(data):
    buf = bytearray(data)
    struct.pack_into("<H", buf, 8, 2)
    with pytest.raises(FormatError, match="newer than this runtime"):
        read_bytes(refresh(buf))


def test_newer_minor_accepted(data):
    buf = bytearray(data)
    struct.pack_into("<H", buf, 10, 7)
    read_bytes(refresh(buf))


def test_reject_header_size_and_flags(data):
    buf = bytearray(data)
    struct.pack_into("<I", buf, 12, 64)
    with pytest.raises(FormatError, match="header_size"):
        read_bytes(refresh(buf))
    buf = bytearray(data)
    struct.pack_into("<I", buf, 28, 1)
    with pytest.raises(FormatError, match="flags"):
        read_bytes(refresh(buf))


def test_reject_bad_section_offset(data):
    i, off, size, count = section(data, F.SEC_OPS)
    buf = bytearray(data)
    struct.pack_into("<Q", buf, 128 + 32 * i + 8, off + 8)  # unaligned
    with pytest.raises(FormatError, match="not 64-aligned"):
        read_bytes(refresh(buf))
    buf = bytearray(data)
    struct.pack_into("<Q", buf, 128 + 32 * i + 8, len(data) // 64 * 64)  # runs past the end
    with pytest.raises(FormatError, match="outside the file"):
        read_bytes(refresh(buf))
    _, off2, _, _ = section(data, F.SEC_TENSORS)
    buf = bytearray(data)
    struct.pack_into("<Q", buf, 128 + 32 * i + 8, off2)  # on top of TENSORS
    with pytest.raises(FormatError, match="overlaps"):
        read_bytes(refresh(buf))
    buf = bytearray(data)
    struct.pack_into("<Q", buf, 128 + 32 * i + 8, 128)  # on top of the section table
    with pytest.raises(FormatError, match="header or section table"):
        read_bytes(refresh(buf))


def test_reject_section_size_count_missing_repeated(data):
    i, off, size, count = section(data, F.SEC_OPS)
    buf = bytearray(data)
    struct.pack_into("<Q", buf, 128 + 32 * i + 24, count + 1)
    with pytest.raises(FormatError, match="does not match count"):
        read_bytes(refresh(buf))
    buf = bytearray(data)
    struct.pack_into("<I", buf, 128 + 32 * i, F.SEC_LABELS)  # OPS relabelled: LABELS twice, OPS missing
    with pytest.raises(FormatError, match="repeated|does not match"):
        read_bytes(refresh(buf))
    buf = bytearray(data)
    struct.pack_into("<I", buf, 128 + 32 * i, 99)  # unknown kind is skipped -> OPS missing
    with pytest.raises(FormatError, match="OPS: missing"):
        read_bytes(refresh(buf))


def _tensor_field(data, ti, fmt, rel, value):
    _, off, _, _ = section(data, F.SEC_TENSORS)
    buf = bytearray(data)
    struct.pack_into(fmt, buf, off + 64 * ti + rel, value)
    return refresh(buf)


def test_reject_tensor_fields(small_int8, data):
    w = next(i for i, t in enumerate(small_int8.tensors) if t.name.endswith(".weight"))
    act = small_int8.input.input_tensor
    q = small_int8.tensor_index("input.q")
    cases = [
        (w, "<B", 8, 7, "dtype"), (w, "<B", 9, 5, "role"), (w, "<B", 10, 0, "rank"),
        (w, "<I", 16, 0, "dimension is 0"), (w, "<Q", 40, 12345, "data_size"),
        (w, "<Q", 32, 64 * 3, "outside DATA"), (w, "<Q", 32, small_int8 and 1, "not 64-aligned"),
        (w, "<I", 0, 1 << 30, "outside STRINGS"), (act, "<Q", 32, 64, "data_offset"),
        (q, "<I", 48, 3, "quant_count"),
    ]
    for ti, fmt, rel, value, msg in cases:
        with pytest.raises(FormatError, match=msg):
            read_bytes(_tensor_field(data, ti, fmt, rel, value))


def test_reject_scale_and_zero_point(small_int8, data):
    q = small_int8.tensors[small_int8.tensor_index("input.q")]
    _, toff, _, _ = section(data, F.SEC_TENSORS)
    qi = small_int8.tensor_index("input.q")
    qoff = struct.unpack_from("<Q", data, toff + 64 * qi + 56)[0]
    for fmt, rel, value, msg in (("<f", 0, 0.0, "scale"), ("<f", 0, float("nan"), "scale"),
                                 ("<i", 4, 200, "zero_point")):
        buf = bytearray(data)
        struct.pack_into(fmt, buf, qoff + rel, value)
        with pytest.raises(FormatError, match=msg):
            read_bytes(refresh(buf))
    assert q.quant_count == 1


def test_reject_bad_strings(data):
    _, s_off, s_size, _ = section(data, F.SEC_STRINGS)
    buf = bytearray(data)
    buf[s_off] = 0xFF  # invalid UTF-8 start byte in the first string
    with pytest.raises(FormatError, match="UTF-8"):
        read_bytes(refresh(buf))


def test_reject_ops(small_int8, data):
    _, ooff, _, n = section(data, F.SEC_OPS)
    conv = next(i for i, op in enumerate(small_int8.ops) if op.kind in (F.OP_CONV2D, F.OP_DENSE))
    base = ooff + 64 * conv
    for fmt, rel, value, msg in (("<I", 0, 9, "kind"), ("<I", 16, 10**6, "out of range"),
                                 ("<I", 12 + 4 * 1, small_int8.input.input_tensor, "wrong dtype or role")):
        buf = bytearray(data)
        struct.pack_into(fmt, buf, base + rel, value)
        with pytest.raises(FormatError, match=msg):
            read_bytes(refresh(buf))


def test_reject_requant_and_overflow(small_int8):
    import copy
    for field, value, msg in ((1, 0, "shift"), (1, 63, "shift"), (0, -(2**31), "m outside")):
        m = copy.deepcopy(small_int8)
        r = next(t for t in m.tensors if t.name.endswith(".requant"))
        r.data = r.data.copy()
        r.data[0, field] = value
        with pytest.raises(FormatError, match=msg):
            read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    b = next(t for t in m.tensors if t.name.endswith(".bias"))
    b.data = b.data.copy()
    b.data[0] = 2**31 - 1
    with pytest.raises(FormatError, match="overflow"):
        read_bytes(serialize(m))


def test_reject_shapes_and_pads(small_int8):
    import copy
    m = copy.deepcopy(small_int8)
    op = next(o for o in m.ops if o.kind == F.OP_CONV2D)
    op.pads = (op.kernel[0], 0, 0, 0)
    with pytest.raises(FormatError, match="pad"):
        read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    op = next(o for o in m.ops if o.kind == F.OP_CONV2D)
    op.stride = (0, 1)
    with pytest.raises(FormatError, match="stride"):
        read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    op = next(o for o in m.ops if o.kind == F.OP_CONV2D)
    op.stride = (op.stride[0] + 1, op.stride[1])
    with pytest.raises(FormatError, match="dims"):
        read_bytes(serialize(m))


def test_reject_plan(small_int8):
    import copy
    m = copy.deepcopy(small_int8)
    t = next(iter(m.plan))
    m.plan[t] += 1
    with pytest.raises(FormatError, match="64-aligned"):
        read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    del m.plan[next(iter(m.plan))]
    with pytest.raises(FormatError, match="no entry"):
        read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    for k in m.plan:
        m.plan[k] = 0  # everything on top of everything
    with pytest.raises(FormatError, match="overlap"):
        read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    m.arena_size -= 64
    with pytest.raises(FormatError, match="beyond arena_size"):
        read_bytes(serialize(m))


def test_reject_labels_and_input(small_int8):
    import copy
    m = copy.deepcopy(small_int8)
    m.labels = m.labels[:-1]
    with pytest.raises(FormatError, match="labels.count"):
        read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    m.labels[1] = m.labels[0]
    with pytest.raises(FormatError, match="unique"):
        read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    m.input.channels = 2
    with pytest.raises(FormatError, match="channels"):
        read_bytes(serialize(m))
    m = copy.deepcopy(small_int8)
    m.input.std = (0.0,) * m.input.channels
    with pytest.raises(FormatError, match="std"):
        read_bytes(serialize(m))
