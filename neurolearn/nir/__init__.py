"""NIR bridge: snntorch <-> NIR (``.nir`` HDF5 files) with the versioned neurolearn extension.

    graph = export_to_nir(model, dt=1e-4)      # snntorch nn.Sequential -> nir.NIRGraph
    write("net.nir", graph)                    # atomic; plain nir.read loads it too
    net = import_from_nir("net.nir")           # runnable snntorch model, same outputs

``export_to_nir`` and ``import_from_nir`` need torch and snntorch; they are imported on first use, so
reading, writing and compiling NIR files loads neither.
"""
from neurolearn.nir.graph import SUPPORTED_NODES, flatten
from neurolearn.nir.io import read, write

__all__ = ["export_to_nir", "import_from_nir", "read", "write", "flatten", "SUPPORTED_NODES"]


def __getattr__(name):
    if name == "export_to_nir":
        from neurolearn.nir.export import export_to_nir

        return export_to_nir
    if name == "import_from_nir":
        from neurolearn.nir.to_torch import import_from_nir

        return import_from_nir
    raise AttributeError(f"module 'neurolearn.nir' has no attribute {name!r}")
