"""Reading and writing .nir files: clear one-line errors, validation, atomic writes."""
import os

import h5py
import nir
import numpy as np
import pytest
import snntorch as snn
from torch import nn

from neurolearn.errors import InputError, NIRFormatError, UnsupportedNodeError
from neurolearn.nir import export_to_nir, import_from_nir, read, write
from neurolearn.nir.extension import SCHEMA_VERSION, graph_dt, node_reset, node_reset_mode, validate


def _graph(dt=1e-4, tau=None, meta=None):
    """A small graph Input(3) -> Affine -> LIF -> Output with neurolearn metadata."""
    lif = nir.LIF(tau=np.full(2, 1e-3) if tau is None else tau, r=np.full(2, 10.0), v_leak=np.zeros(2),
                  v_threshold=np.ones(2), metadata={"neurolearn": {"reset": "subtract", "reset_delay": True,
                                                                   "module": "Leaky"}})
    block = {"version": SCHEMA_VERSION, "integration": "euler", "producer": "test"}
    if dt is not None:
        block["dt"] = dt
    block.update(meta or {})
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])),
               "fc": nir.Affine(weight=np.ones((2, 3), np.float32), bias=np.zeros(2, np.float32)),
               "lif": lif, "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
        metadata={"neurolearn": block},
    )


def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_read_normalizes_metadata_to_python_values(tmp_path):
    write(tmp_path / "g.nir", _graph())
    g = read(tmp_path / "g.nir")
    block = g.metadata["neurolearn"]
    assert type(block["version"]) is int and type(block["dt"]) is float and block["dt"] == 1e-4
    assert g.nodes["lif"].metadata["neurolearn"] == {"reset": "subtract", "reset_delay": True, "module": "Leaky"}
    assert type(g.nodes["lif"].metadata["neurolearn"]["reset_delay"]) is bool
    # plain nir.read gives numpy scalars: what normalisation is for
    raw = nir.read(str(tmp_path / "g.nir"))
    assert isinstance(raw.metadata["neurolearn"]["version"], np.integer)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(NIRFormatError, match="no such file"):
        read(tmp_path / "nope.nir")
    with pytest.raises(NIRFormatError, match="is a directory"):
        read(tmp_path)


def test_not_hdf5(tmp_path):
    path = tmp_path / "notes.nir"
    path.write_text("this is not HDF5")
    with pytest.raises(NIRFormatError) as err:
        read(path)
    assert str(path) in _one_line(err) and "cannot open as HDF5" in str(err.value)


def test_truncated_file(tmp_path):
    path = tmp_path / "g.nir"
    write(path, _graph())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NIRFormatError, match="truncated"):
        read(path)


def test_hdf5_without_nir_content(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.ones(3)
    with pytest.raises(NIRFormatError, match="HDF5 file without a NIR graph"):
        read(path)


def test_node_type_nir_cannot_load(tmp_path):
    path = tmp_path / "g.nir"
    write(path, _graph())
    with h5py.File(path, "a") as f:
        del f["node/nodes/fc/type"]
        f["node/nodes/fc/type"] = "FancySynapse"
    with pytest.raises(NIRFormatError) as err:
        read(path)
    assert "node 'fc': unknown NIR node type 'FancySynapse'" in _one_line(err)


def test_node_missing_a_parameter(tmp_path):
    path = tmp_path / "g.nir"
    write(path, _graph())
    with h5py.File(path, "a") as f:
        del f["node/nodes/fc/weight"]
    with pytest.raises(NIRFormatError, match=r"g.nir: node 'fc': Affine node without 'weight'"):
        read(path)


def test_nan_parameter_is_named(tmp_path):
    path = tmp_path / "g.nir"
    nir.write(str(path), _graph(tau=np.array([1e-3, np.nan])))  # plain nir writes it
    with pytest.raises(NIRFormatError) as err:
        read(path)
    assert "node 'lif': parameter 'tau': value nan is not finite" in _one_line(err)
    with pytest.raises(NIRFormatError, match="parameter 'tau': value inf"):
        write(tmp_path / "h.nir", _graph(tau=np.array([np.inf, 1e-3])))
    assert not (tmp_path / "h.nir").exists()


def test_nan_inside_nested_graph_is_named(tmp_path):
    inner = _graph(tau=np.array([np.nan, 1.0]))
    outer = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([3])), "sub": inner,
                                "output": nir.Output(output_type=np.array([2]))},
                         edges=[("input", "sub"), ("sub", "output")])
    with pytest.raises(NIRFormatError, match="node 'sub.lif': parameter 'tau'"):
        validate(outer)


def test_unknown_schema_version(tmp_path):
    path = tmp_path / "g.nir"
    nir.write(str(path), _graph(meta={"version": SCHEMA_VERSION + 1}))
    with pytest.raises(NIRFormatError, match=f"schema version {SCHEMA_VERSION + 1} is newer .* upgrade neurolearn"):
        read(path)


@pytest.mark.parametrize("meta, match", [
    ({"dt": "fast"}, r"'neurolearn.dt' = 'fast' has type str, expected float"),
    ({"dt": -1.0}, r"'dt' = -1.0; allowed 1e-09 to 1000 seconds"),
    ({"dt": 5e-324}, r"'dt' = 5e-324; allowed 1e-09 to 1000 seconds"),   # would round every weight to 0
    ({"integration": "rk4"}, r"'integration' = 'rk4'; allowed: euler"),
])
def test_bad_graph_metadata(tmp_path, meta, match):
    path = tmp_path / "g.nir"
    nir.write(str(path), _graph(meta=meta))
    with pytest.raises(NIRFormatError, match=match):
        read(path)


def test_bad_node_metadata():
    g = _graph()
    g.nodes["lif"].metadata["neurolearn"]["reset"] = "halve"
    with pytest.raises(NIRFormatError, match=r"node 'lif': metadata 'reset' = 'halve'; allowed: zero, subtract"):
        validate(g)
    g.nodes["lif"].metadata["neurolearn"]["reset"] = "zero"
    g.nodes["lif"].metadata["neurolearn"]["reset_delay"] = "yes"
    with pytest.raises(NIRFormatError, match="reset_delay' = 'yes' has type str, expected bool"):
        validate(g)


def test_top_level_node_must_be_a_graph(tmp_path):
    path = tmp_path / "lif.nir"
    nir.write(str(path), nir.Linear(weight=np.ones((2, 2))))
    with pytest.raises(NIRFormatError, match="top-level node is a Linear, expected a NIRGraph"):
        read(path)


def test_dt_rules(tmp_path):
    with_dt, without = _graph(dt=1e-3), _graph(dt=None)
    assert graph_dt(with_dt) == 1e-3
    assert graph_dt(with_dt, dt=0.001) == 1e-3
    assert graph_dt(without, dt=2e-4) == 2e-4
    with pytest.raises(InputError, match="conflicts with the dt 0.001 s recorded"):
        graph_dt(with_dt, dt=1e-4, file="x.nir")
    with pytest.raises(InputError) as err:
        graph_dt(without, file="x.nir")
    assert "x.nir: no dt recorded" in _one_line(err) and "--dt" in str(err.value)


def test_import_without_dt_asks_for_it(tmp_path):
    path = tmp_path / "g.nir"
    write(path, _graph(dt=None))
    with pytest.raises(InputError, match=r"no dt recorded in the NIR graph; pass the time step in seconds with --dt"):
        import_from_nir(path)
    assert import_from_nir(path, dt=1e-4).dt == 1e-4


def test_node_reset():
    g = _graph()
    assert node_reset(g.nodes["lif"]) == "subtract"
    plain = nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    assert node_reset(plain) == "zero"
    plain.v_reset = np.array([0.0, -0.5])
    assert node_reset(plain, "n") == "zero"   # NIR's reset to v_reset
    sub = g.nodes["lif"]
    sub.v_reset = np.array([0.0, -0.5])
    with pytest.raises(UnsupportedNodeError, match=r"node 'n': parameter 'v_reset': value -0.5 with the 'subtract' "
                                                   "reset of its neurolearn metadata; a subtractive reset takes "):
        node_reset(sub, "n")


@pytest.mark.parametrize("meta,mode", [({}, "zero"), ({"reset": "subtract"}, "subtract"),
                                       ({"reset": "subtract", "reset_delay": True}, "subtract_late"),
                                       ({"reset": "zero", "reset_delay": True, "module": "Leaky"}, "zero"),
                                       ({"reset": "zero", "reset_delay": True, "module": "Synaptic"}, "zero_late"),
                                       ({"reset": "zero", "reset_delay": True, "module": "RLeaky"}, "zero_late")])
def test_node_reset_mode(meta, mode):
    node = nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                   metadata={"neurolearn": meta})
    assert node_reset_mode(node) == mode


def test_write_is_atomic(tmp_path):
    path = tmp_path / "g.nir"
    bad = _graph(meta={"extra": object()})  # h5py cannot store an arbitrary object
    with pytest.raises(NIRFormatError, match=r"g.nir: cannot write the graph"):
        write(path, bad)
    assert os.listdir(tmp_path) == []  # no file and no temporary left behind
    write(path, _graph(dt=5e-4))
    with pytest.raises(NIRFormatError):
        write(path, bad)
    assert read(path).metadata["neurolearn"]["dt"] == 5e-4  # the old file is intact
    assert os.listdir(tmp_path) == ["g.nir"]


def test_write_into_missing_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write(tmp_path / "no" / "g.nir", _graph())


def test_exported_file_reads_back_identically(tmp_path):
    net = nn.Sequential(nn.Linear(3, 4), snn.Synaptic(alpha=0.6, beta=0.9, init_hidden=True))
    g = export_to_nir(net, dt=1e-4)
    write(tmp_path / "s.nir", g)
    h = read(tmp_path / "s.nir")
    assert h.metadata == g.metadata
    for name in ("0", "1"):
        assert h.nodes[name].metadata == g.nodes[name].metadata
    np.testing.assert_array_equal(h.nodes["1"].tau_mem, g.nodes["1"].tau_mem)
    np.testing.assert_array_equal(h.nodes["0"].weight, g.nodes["0"].weight)
