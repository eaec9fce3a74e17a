"""The random streams seen from Python equal the definitions of random.hpp bit for bit: checked
against Random123's known answers, the values the C++ tests pin, and spec.py (a numpy model)."""

import numpy as np
import pytest

import spec
from zo import _core


def test_philox_matches_random123_known_answers():
    cases = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ]
    for ctr, key, expected in cases:
        assert tuple(_core.philox4x32_10(list(ctr), list(key))) == expected
        assert tuple(int(w) for w in spec.philox4x32_10(ctr, key)) == expected


def test_tensor_key_is_fnv1a_as_the_cpp_tests_pin():
    for name, key in [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)]:
        assert _core.tensor_key(name) == key
        assert spec.tensor_key(name) == key
    assert _core.tensor_key("layers.3.attn.q_proj.weight") == spec.tensor_key("layers.3.attn.q_proj.weight")


def test_seeds_match_the_spec():
    for run_seed, step, purpose in [(0, 0, 0), (1, 2, 3), (1 << 40, 7, 1), (2**64 - 1, 2**40 + 3, 0x7065726D)]:
        assert _core.derive_seed(run_seed, step, purpose) == spec.derive_seed(run_seed, step, purpose)
    assert _core.probe_seed(42, 7, 0) == _core.derive_seed(42, 7, 1)
    assert _core.probe_seed(42, 7, 3) == spec.probe_seed(42, 7, 3)


CASES = [
    (0, "x", "value", 0, 1000),
    (0x0123456789ABCDEF, 0xDEADBEEF, "low_rank_v", 7, 333),
    (12345, "layers.0.w", "mask", 4093, 5000),
    (2**63 + 5, "head.b", "selector", 2**33 + 1, 64),
]


def _key(tensor):
    return spec.tensor_key(tensor) if isinstance(tensor, str) else tensor


@pytest.mark.parametrize("seed,tensor,stream,begin,n", CASES)
def test_every_stream_family_equals_the_spec_bit_for_bit(seed, tensor, stream, begin, n):
    key, s = _key(tensor), spec.STREAMS[stream]
    words = spec.bits(seed, key, s, begin, n)
    np.testing.assert_array_equal(_core.fill_bits(seed, tensor, begin, n, stream), words)
    np.testing.assert_array_equal(_core.fill_uniform(seed, tensor, begin, n, stream).view(np.uint32),
                                  spec.uniform(words).view(np.uint32))
    np.testing.assert_array_equal(_core.fill_rademacher(seed, tensor, begin, n, stream).view(np.uint32),
                                  spec.rademacher(seed, key, s, begin, n).view(np.uint32))
    np.testing.assert_array_equal(_core.fill_normal(seed, tensor, begin, n, stream).view(np.uint32),
                                  spec.normal(seed, key, s, begin, n).view(np.uint32))


def test_draws_do_not_depend_on_the_range_asked_for():
    whole = _core.fill_normal(9, "w", 0, 3000)
    for begin, n in [(1, 5), (2047, 3), (2048, 900), (2999, 1)]:
        np.testing.assert_array_equal(_core.fill_normal(9, "w", begin, n).view(np.uint32),
                                      whole[begin : begin + n].view(np.uint32))
    for i in [0, 3, 4, 2049]:
        assert np.float32(_core.normal_at(9, "w", i)).view(np.uint32) == whole[i].view(np.uint32)
        assert _core.bits_at(9, "w", i) == _core.fill_bits(9, "w", i, 1)[0]


def test_the_spec_model_can_tell_streams_apart():
    # Guards the comparisons above against a model that agrees with anything.
    a = spec.normal(1, spec.tensor_key("x"), 0, 0, 16)
    assert not np.array_equal(a, spec.normal(1, spec.tensor_key("x"), 1, 0, 16))
    assert not np.array_equal(a, spec.normal(2, spec.tensor_key("x"), 0, 0, 16))
    assert not np.array_equal(_core.fill_normal(1, "x", 0, 16), _core.fill_normal(1, "y", 0, 16))
    assert abs(float(np.mean(_core.fill_normal(3, "big", 0, 100000)))) < 0.02
    assert abs(float(np.std(_core.fill_normal(3, "big", 0, 100000))) - 1.0) < 0.02


def test_bad_stream_names_are_errors():
    with pytest.raises(_core.Error, match="unknown stream 'values'"):
        _core.fill_normal(0, "x", 0, 4, "values")
